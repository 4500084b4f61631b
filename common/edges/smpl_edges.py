"""SMPL edge maps from rendered people: the SEFD teacher's edge channel.

Rendering (what Canny sees). The SEFD release drew each person with pyrender: flat-shaded faces
(``smooth=False``), base colour (1, 1, 0.9), ambient 0.3 and three directional lights (intensity 0.8) pointing
along the camera axis, over a white image. So R_i is a SHADED render, not a silhouette: besides the outline,
creases whose faces turn away from the camera give internal contours. We reproduce pyrender's shader for this
scene: per channel c, ``I_c = clamp((base_c * (ambient + diffuse * |n_z|)) ** (1 / 2.2), 0, 1)`` with flat
face normals n (``diffuse`` = 3 x 0.8 x 0.96^2 / pi, the Lambert part of its metallic-roughness BRDF; its tiny
specular term is omitted), then the release's grey (0.114 R + 0.587 G + 0.299 B), on a white background.
Faces turned to the camera come out (nearly) white like the background; outlines, where the surface turns
away, are darker. (The release lit single-person renders with light colour 1.0 and the all-people render with
0.8; we use one lighting for both so visible contours cancel in the overlap edge.) Occlusion comes from the
z-buffer rasterizer (common/render/rasterizer.py).

Edges. C(.) = kornia Canny magnitude (first output, as the student channel), D = grey dilation with the
adaptive kernel of :mod:`common.edges.dilation` chosen from the TARGET person's tight-bbox area:
- SMPL overlap edge (teacher default): E = clip(sum_i D(C(R_i)) - D(C(R_all)), 0, 1), i over all people of the
  image: the contours hidden by occlusion.
- SMPL edge: clip(D(C(R_all)), 0, 1) (every person's visible contours, the release's ``SMPL_all_edge``) or, with
  ``target=k``, D(C(R_k)) of person k rendered alone.

Spaces. The release rendered the full image and dilated in IMAGE px; the crop was then resampled from it.
Here ``img_to_out`` (2,3) maps image px to the output grid: identity + image size reproduces the release
exactly (``tool/precompute_edges.py``); the crop affine renders straight into the (S,S) crop (on the fly), in
which case the kernel is scaled by the crop zoom so edges keep the release's thickness after resampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from common.edges.canny import canny_magnitude_windowed, mask_window
from common.edges.dilation import adaptive_kernel_size, grey_dilation
from common.render.mesh_raster import rasterize_face_ids


@dataclass(frozen=True)
class RenderStyle:
    """Shading of the person renders (defaults: pyrender's output for the release's scene, see module doc)."""

    ambient: float = 0.3
    diffuse: float = 3 * 0.8 * 0.96 * 0.96 / math.pi  # 3 lights x intensity 0.8, c_diff = 0.96 base, (1 - F)
    base_rgb: tuple[float, float, float] = (1.0, 1.0, 0.9)
    gamma: float = 2.2  # pyrender writes pow(colour, 1 / 2.2)
    gray_weights: tuple[float, float, float] = (0.114, 0.587, 0.299)  # R, G, B: the release's swapped grey
    background: float = 1.0  # white image under the renders

    def face_gray(self, cos_view: Tensor) -> Tensor:
        """Grey value (F,) of faces whose normals make |cos| = ``cos_view`` (F,) with the camera axis."""
        light = self.ambient + self.diffuse * cos_view
        gray = torch.zeros_like(cos_view)
        for base, weight in zip(self.base_rgb, self.gray_weights):
            gray = gray + weight * (base * light).clamp_min(0.0).pow(1.0 / self.gamma).clamp(0.0, 1.0)
        return gray


def _as_people(vertices: Tensor | Sequence[Tensor]) -> list[Tensor]:
    people = list(vertices) if not torch.is_tensor(vertices) else list(vertices.unbind(0))
    if not people or any(v.ndim != 2 or v.shape[-1] != 3 for v in people):
        raise ValueError("vertices must be (P,V,3) or a non-empty list of (V_i,3) tensors (camera frame, m)")
    return people


def _as_faces(faces: Tensor | Sequence[Tensor], count: int, device: torch.device) -> list[Tensor]:
    faces_list = [faces] * count if torch.is_tensor(faces) else list(faces)
    if len(faces_list) != count or any(f.ndim != 2 or f.shape[-1] != 3 for f in faces_list):
        raise ValueError(f"faces must be one (F,3) tensor shared by all people or {count} (F_i,3) tensors")
    return [f.to(device=device, dtype=torch.long) for f in faces_list]


def _affine_tensor(img_to_out: Tensor | np.ndarray | None, like: Tensor) -> Tensor:
    if img_to_out is None:
        return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float32, device=like.device)
    m = torch.as_tensor(np.asarray(img_to_out, dtype=np.float64) if not torch.is_tensor(img_to_out) else img_to_out)
    m = m.to(device=like.device, dtype=torch.float32)
    if m.shape != (2, 3):
        raise ValueError(f"img_to_out must be a (2,3) affine, got shape {tuple(m.shape)}")
    return m


def affine_zoom(img_to_out: Tensor | np.ndarray | None) -> float:
    """Linear scale factor (output px per image px) of an affine: sqrt(|det A|)."""
    if img_to_out is None:
        return 1.0
    linear = np.asarray(img_to_out.detach().cpu() if torch.is_tensor(img_to_out) else img_to_out, np.float64)
    return float(math.sqrt(abs(np.linalg.det(linear[:, :2]))))


def edge_kernel_size(bbox_area_px2: float, img_to_out: Tensor | np.ndarray | None = None) -> int:
    """Release kernel for the target's IMAGE-px bbox area, scaled by the zoom of ``img_to_out``, odd >= 1."""
    scaled = adaptive_kernel_size(bbox_area_px2) * affine_zoom(img_to_out)
    return max(1, 2 * int(math.floor((scaled - 1.0) / 2.0 + 0.5)) + 1)  # nearest odd size, halves up


def shade_people(
    vertices: Tensor | Sequence[Tensor],
    faces: Tensor | Sequence[Tensor],
    focal: Sequence[float] | Tensor,
    princpt: Sequence[float] | Tensor,
    out_hw: tuple[int, int],
    img_to_out: Tensor | np.ndarray | None = None,
    style: RenderStyle = RenderStyle(),
) -> tuple[Tensor, Tensor]:
    """Grey renders of all people together (z-buffered) and of each person alone.

    Args:
        vertices: (P,V,3) or P tensors (V_i,3), camera frame (x right, y down, z forward), m.
        faces: (F,3) long shared by all people, or one (F_i,3) tensor per person.
        focal, princpt: (2,) intrinsics of that camera, px.
        out_hw: (H, W) of the output grid.
        img_to_out: (2,3) affine from the camera's image px to output px (None = identity).
    Returns:
        scene (H,W) and people (P,H,W) float32 in [0, 1] on the vertices' device.
    """
    people = _as_people(vertices)
    device = people[0].device
    height, width = int(out_hw[0]), int(out_hw[1])
    m = _affine_tensor(img_to_out, people[0])
    focal_t = torch.as_tensor(focal, dtype=torch.float32, device=device).reshape(2)
    princpt_t = torch.as_tensor(princpt, dtype=torch.float32, device=device).reshape(2)
    # Projection then affine == a pinhole with unit focal on linearly mixed (x, y): z (and the z-buffer) kept.
    mix = m[:, :2] * focal_t[None, :]  # (2,2)
    out_princpt = m[:, :2] @ princpt_t + m[:, 2]
    warped = [torch.cat([v[:, :2].float() @ mix.T, v[:, 2:].float()], dim=1) for v in people]
    faces_list = _as_faces(faces, len(people), device)
    background = torch.full((height, width), float(style.background), device=device)
    people_gray = background.expand(len(people), height, width).clone()
    shown = [i for i, v in enumerate(warped) if _may_cover(v, out_princpt, height, width)]
    if not shown:  # nobody reaches the grid
        return background, people_gray
    # People whose projection misses the grid render nothing: skipped (exact). Face ids below index the
    # concatenated faces of the shown people.
    scene_ids, each_ids = rasterize_face_ids([warped[i] for i in shown], [faces_list[i] for i in shown],
                                             (1.0, 1.0), out_princpt, (height, width))
    verts = torch.cat([people[i].float() for i in shown])
    offsets = np.cumsum([0] + [people[i].shape[0] for i in shown[:-1]])
    shown_faces = torch.cat([faces_list[i] + int(o) for i, o in zip(shown, offsets)])

    # Flat shading from true camera-frame normals (|n_z|: two-sided, robust to mirrored winding), for the
    # visible faces only; gray table entry 0 is the background (face id -1).
    visible = torch.zeros(shown_faces.shape[0] + 1, dtype=torch.bool, device=device)
    visible[scene_ids.flatten() + 1] = True
    visible[each_ids.flatten() + 1] = True
    visible[0] = False
    seen = visible.nonzero().squeeze(1)
    tri = verts[shown_faces[seen - 1]]
    normal = torch.nn.functional.normalize(torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1), dim=-1)
    table = torch.full((shown_faces.shape[0] + 1,), float(style.background), device=device)
    table[seen] = style.face_gray(normal[:, 2].abs())
    people_gray[shown] = table[each_ids + 1]
    return table[scene_ids + 1], people_gray


def _may_cover(warped: Tensor, princpt: Tensor, height: int, width: int) -> bool:
    """False when no face of this person can cover a pixel centre of the (H, W) grid (its projected vertex
    bbox, with the rasterizer's near clamp and half a pixel of slack, misses the grid); True otherwise."""
    z = warped[:, 2].clamp_min(1e-3)
    u = warped[:, 0] / z + princpt[0]
    v = warped[:, 1] / z + princpt[1]
    return bool((u.max() > 0.0) & (u.min() < width) & (v.max() > 0.0) & (v.min() < height)
                & (warped[:, 2].max() > 1e-3))


def edge_magnitudes(scene: Tensor, people: Tensor) -> Tensor:
    """Canny magnitudes (P+1,1,H,W) of the renders: index 0 = scene (H,W), 1.. = people (P,H,W).

    One batched Canny, only over the renders that show someone and only around them (exact, see
    :func:`common.edges.canny.canny_magnitude_windowed`).
    """
    return canny_magnitude_windowed(torch.cat([scene[None], people])[:, None])


def _dilate_support(magnitudes: Tensor, kernel_size: int) -> Tensor:
    """grey_dilation of non-negative maps (N,1,H,W), computed only around their non-zero pixels (exact: the
    dilation of zeros is zero, and inside the window each maximum includes the pixel itself, >= 0)."""
    window = mask_window((magnitudes != 0).flatten(0, 1).any(0), int(kernel_size) // 2)
    out = torch.zeros_like(magnitudes)
    if window is not None:
        y0, y1, x0, x1 = window
        out[..., y0:y1, x0:x1] = grey_dilation(magnitudes[..., y0:y1, x0:x1], kernel_size)
    return out


def overlap_from_magnitudes(magnitudes: Tensor, kernel_size: int) -> Tensor:
    """E = clip(sum_i D(C(R_i)) - D(C(R_all)), 0, 1) from :func:`edge_magnitudes` output -> (H,W)."""
    edges = _dilate_support(magnitudes, kernel_size)[:, 0]
    return (edges[1:].sum(0) - edges[0]).clamp(0.0, 1.0)


def visible_from_magnitudes(magnitudes: Tensor, kernel_size: int, target: int | None = None) -> Tensor:
    """clip(D(C(R)), 0, 1) -> (H,W) with R the scene (``target=None``) or person ``target`` alone."""
    index = 0 if target is None else int(target) + 1
    return _dilate_support(magnitudes[index : index + 1], kernel_size)[0, 0].clamp(0.0, 1.0)


@torch.no_grad()
def people_vertices(body_model, pose: Tensor, betas: Tensor, transl: Tensor | None = None) -> Tensor:
    """(N,V,3) camera-frame vertices of N people from SMPL params pose (N,72), betas (N,10), transl (N,3)."""
    out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
    return out.vertices


def smpl_overlap_edge(
    vertices: Tensor | Sequence[Tensor],
    faces: Tensor | Sequence[Tensor],
    focal: Sequence[float] | Tensor,
    princpt: Sequence[float] | Tensor,
    out_hw: tuple[int, int],
    bbox_area_px2: float,
    img_to_out: Tensor | np.ndarray | None = None,
    kernel_size: int | None = None,
    style: RenderStyle = RenderStyle(),
) -> Tensor:
    """SEFD overlap edge (H,W) in [0, 1] of the people of one image, on the output grid.

    ``bbox_area_px2``: the target person's tight-bbox area in IMAGE px^2 (picks the dilation; see
    :func:`edge_kernel_size`); ``kernel_size`` overrides it. Other arguments as :func:`shade_people`.
    """
    k = edge_kernel_size(bbox_area_px2, img_to_out) if kernel_size is None else int(kernel_size)
    scene, people = shade_people(vertices, faces, focal, princpt, out_hw, img_to_out, style)
    return overlap_from_magnitudes(edge_magnitudes(scene, people), k)


def smpl_edge(
    vertices: Tensor | Sequence[Tensor],
    faces: Tensor | Sequence[Tensor],
    focal: Sequence[float] | Tensor,
    princpt: Sequence[float] | Tensor,
    out_hw: tuple[int, int],
    bbox_area_px2: float,
    img_to_out: Tensor | np.ndarray | None = None,
    target: int | None = None,
    kernel_size: int | None = None,
    style: RenderStyle = RenderStyle(),
) -> Tensor:
    """SMPL edge (H,W) in [0, 1]: D(C(R_all)) (``target=None``) or D(C(R_target)) of that person alone.

    Clipped to [0, 1] like the release's 8-bit edge files. Arguments as :func:`smpl_overlap_edge`.
    """
    k = edge_kernel_size(bbox_area_px2, img_to_out) if kernel_size is None else int(kernel_size)
    scene, people = shade_people(vertices, faces, focal, princpt, out_hw, img_to_out, style)
    render = scene if target is None else people[int(target)]
    return _dilate_support(canny_magnitude_windowed(render[None, None]), k)[0, 0].clamp(0.0, 1.0)


def edge_from_smpl_params(
    kind: str,
    body_model,
    pose: Tensor,
    betas: Tensor,
    transl: Tensor,
    focal: Sequence[float] | Tensor,
    princpt: Sequence[float] | Tensor,
    out_hw: tuple[int, int],
    bbox_area_px2: float,
    img_to_out: Tensor | np.ndarray | None = None,
) -> Tensor:
    """Teacher edge (H,W) of one sample from the SMPL params of all people of its image (target first).

    kind: 'smpl_overlap' or 'smpl_edge' (all people's visible contours). pose (P,72), betas (P,10),
    transl (P,3): camera frame of ``focal``/``princpt``; ``img_to_out``: e.g. the mapper's img_to_crop affine
    (then out_hw = (S, S)); ``bbox_area_px2``: the target's tight-bbox area in image px^2.
    """
    if kind not in ("smpl_overlap", "smpl_edge"):
        raise ValueError(f"edge kind must be 'smpl_overlap' or 'smpl_edge', got {kind!r}")
    vertices = people_vertices(body_model, pose, betas, transl)
    scene, people = shade_people(vertices, body_model.faces, focal, princpt, out_hw, img_to_out)
    magnitudes = edge_magnitudes(scene, people)
    kernel = edge_kernel_size(bbox_area_px2, img_to_out)
    return overlap_from_magnitudes(magnitudes, kernel) if kind == "smpl_overlap" else \
        visible_from_magnitudes(magnitudes, kernel)
