"""Shading of rasterized meshes: vertex normals, Lambert + ambient lighting, alpha compositing.

All images are float in [0, 1], (B, H, W, 3), channels in whatever order the colours are given.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from common.render.rasterizer import Fragments

_WHERE = "common/render/shading.py"


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals (B, V, 3) of meshes (B, V, 3) with faces (F, 3).

    Orientation follows the winding: the face normal is (v1 - v0) x (v2 - v0).
    """
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"{_WHERE}: vertices must be (B, V, 3), got {tuple(vertices.shape)}")
    faces = faces.to(device=vertices.device, dtype=torch.long)
    batch, n_vertices = vertices.shape[:2]
    # Vertex-major (V, B*3) layout: gathers and index_add_ then move whole rows along dim 0, which is an
    # order of magnitude faster on CPU than indexing dim 1 of (B, V, 3). Summation order is unchanged.
    rows = vertices.transpose(0, 1).reshape(n_vertices, batch * 3)
    v0, v1, v2 = (rows.index_select(0, faces[:, corner]).view(-1, batch, 3) for corner in range(3))
    face_normal = torch.cross(v1 - v0, v2 - v0, dim=-1).reshape(-1, batch * 3)  # |n| = 2 area
    normals = torch.zeros_like(rows)
    for corner in range(3):
        normals.index_add_(0, faces[:, corner], face_normal)
    normals = normals.view(n_vertices, batch, 3).transpose(0, 1)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def interpolate_vertex_attributes(fragments: Fragments, faces: Tensor, attributes: Tensor) -> Tensor:
    """Barycentric interpolation of per-vertex attributes (B, V, C) -> (B, H, W, C), 0 where empty."""
    batch, height, width = fragments.face_ids.shape
    if attributes.ndim != 3 or attributes.shape[0] != batch:
        raise ValueError(f"{_WHERE}: attributes must be (B={batch}, V, C), got {tuple(attributes.shape)}")
    faces = faces.to(device=attributes.device, dtype=torch.long)
    face_ids = fragments.face_ids.clamp_min(0).reshape(batch, -1)  # (B, HW)
    vertex_ids = faces[face_ids]  # (B, HW, 3)
    gathered = torch.gather(attributes, 1, vertex_ids.reshape(batch, -1, 1).expand(-1, -1, attributes.shape[-1]))
    gathered = gathered.reshape(batch, height * width, 3, -1)
    bary = fragments.bary.reshape(batch, -1, 3, 1).to(attributes.dtype)
    out = (gathered * bary).sum(2) * fragments.mask.reshape(batch, -1, 1)
    return out.reshape(batch, height, width, -1)


def _expand_colors(colors: Tensor | Sequence[float], batch: int, n_vertices: int, like: Tensor) -> Tensor:
    c = torch.as_tensor(colors, dtype=like.dtype, device=like.device)
    if c.shape == (3,):
        c = c.expand(batch, 1, 3)
    elif c.shape == (batch, 3):
        c = c[:, None]
    if c.ndim != 3 or c.shape[0] != batch or c.shape[1] not in (1, n_vertices) or c.shape[2] != 3:
        raise ValueError(f"{_WHERE}: colors must be (3,), (B, 3) or (B, V, 3) with B={batch}, V={n_vertices}; "
                         f"got {tuple(c.shape)}")
    return c.expand(batch, n_vertices, 3)


def per_mesh_vertex_colors(colors: Tensor | Sequence[Sequence[float]], num_vertices: Sequence[int]) -> Tensor:
    """One colour per mesh (M, 3) -> per-vertex colours (sum V_i, 3) matching ``concat_meshes`` order."""
    c = torch.as_tensor(np.array(colors, dtype=np.float32) if not torch.is_tensor(colors) else colors).float()
    if c.ndim != 2 or c.shape != (len(num_vertices), 3):
        raise ValueError(f"{_WHERE}: colors must be (M, 3) with M = {len(num_vertices)}, got {tuple(c.shape)}")
    return torch.repeat_interleave(c, torch.as_tensor(list(num_vertices)), dim=0)


def shade_lambert(
    fragments: Fragments,
    vertices: Tensor,
    faces: Tensor,
    colors: Tensor | Sequence[float] = (0.7, 0.7, 0.7),
    light_dir: Sequence[float] = (0.0, 0.0, -1.0),
    ambient: float = 0.35,
    diffuse: float = 0.65,
    two_sided: bool = True,
) -> Tensor:
    """Lambert + ambient shading -> RGB (B, H, W, 3) in [0, 1], 0 where empty.

    Args:
        fragments: result of ``rasterize`` for these vertices/faces.
        vertices: (B, V, 3) camera coordinates.  faces: (F, 3).
        colors: (3,), (B, 3) or (B, V, 3) albedo in [0, 1].
        light_dir: direction *towards* the light in camera coordinates; the default is a headlight.
        ambient, diffuse: weights of the two terms.
        two_sided: light back faces too (|n.l|), robust to inconsistent winding.
    """
    vertices = vertices.float()
    batch, n_vertices = vertices.shape[:2]
    albedo = _expand_colors(colors, batch, n_vertices, vertices)
    normals = vertex_normals(vertices, faces)
    pixel_attr = interpolate_vertex_attributes(fragments, faces, torch.cat([normals, albedo], dim=-1))
    normal = torch.nn.functional.normalize(pixel_attr[..., :3], dim=-1, eps=1e-12)
    light = torch.nn.functional.normalize(torch.as_tensor(light_dir, dtype=normal.dtype, device=normal.device), dim=0)
    cosine = (normal * light).sum(-1, keepdim=True)
    cosine = cosine.abs() if two_sided else cosine.clamp_min(0)
    rgb = pixel_attr[..., 3:] * (ambient + diffuse * cosine)
    return (rgb * fragments.mask[..., None]).clamp(0, 1)


def composite(rgb: Tensor, mask: Tensor, background: Tensor, alpha: float = 1.0) -> Tensor:
    """Alpha-blend a rendering (B, H, W, 3) with silhouette (B, H, W) over background (B or 1, H, W, 3).

    Returns (B, H, W, 3) = background * (1 - a) + rgb * a with a = alpha where mask, else 0.
    """
    a = mask[..., None].to(rgb.dtype) * alpha
    return background.to(rgb) * (1 - a) + rgb * a
