"""Several meshes (people) in one image with the z-buffer rasterizer of :mod:`common.render.rasterizer`: the
scene's fragments, which mesh is visible, and optionally each mesh alone from the same per-face candidates."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from common.render.rasterizer import (
    _EMPTY_KEY,
    _LOW32,
    Fragments,
    _as_camera,
    _candidates,
    _check_mesh,
    _empty_zbuffer,
    _FaceSetup,
    _fragments,
    _resolve,
    _setup_faces,
)

_WHERE = "common/render/mesh_raster.py"


class MeshFragments(NamedTuple):
    """Result of ``rasterize_meshes`` (several meshes in one image)."""

    fragments: Fragments  # batch of 1; face_ids index the concatenated faces (see ``concat_meshes``)
    mesh_ids: Tensor  # (H, W) long, which mesh is visible, -1 where empty
    per_mesh: Fragments | None  # (M, H, W): each mesh rendered alone (face ids as above), if requested


def concat_meshes(vertices_list: Sequence[Tensor], faces_list: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Merge meshes into one: vertices (sum V_i, 3), faces (sum F_i, 3) with offsets, face_mesh_ids (sum F_i,)."""
    if len(vertices_list) == 0 or len(vertices_list) != len(faces_list):
        raise ValueError(f"{_WHERE}: need as many vertex tensors as face tensors (>= 1), got "
                         f"{len(vertices_list)} and {len(faces_list)}")
    dev = vertices_list[0].device
    faces_out, mesh_ids, start = [], [], 0
    for i, (verts, faces) in enumerate(zip(vertices_list, faces_list)):
        if verts.ndim != 2 or verts.shape[-1] != 3:
            raise ValueError(f"{_WHERE}: vertices_list[{i}] must be (V, 3), got {tuple(verts.shape)}")
        faces_out.append(faces.to(device=dev, dtype=torch.long) + start)
        mesh_ids.append(torch.full((faces.shape[0],), i, dtype=torch.long, device=dev))
        start += verts.shape[0]
    verts = torch.cat([v.to(dev) for v in vertices_list])
    return verts, torch.cat(faces_out), torch.cat(mesh_ids)


def _resolve_meshes(vertices_list: Sequence[Tensor], faces_list: Sequence[Tensor], focal, princpt,
                    image_size: Sequence[int], cull_backfaces: bool, near: float, per_mesh: bool):
    """Shared by :func:`rasterize_meshes` and :func:`rasterize_face_ids`: the resolved scene z-buffer (H*W,),
    the per-mesh z-buffers (M*H*W,) or None, the face setup, the mesh of each face and the face count."""
    verts, faces, face_mesh = concat_meshes(vertices_list, faces_list)
    verts = verts[None]
    _check_mesh(verts, faces, image_size)
    height, width = int(image_size[0]), int(image_size[1])
    setup = _setup_faces(verts, faces, _as_camera(focal, 1, verts, "focal"), _as_camera(princpt, 1, verts, "princpt"),
                         height, width, cull_backfaces, near)
    n_pix, n_mesh = height * width, len(vertices_list)
    zbuf = _empty_zbuffer(n_pix, verts.device)
    mesh_zbuf = None
    if per_mesh:  # one buffer per mesh, fed by the same candidates
        mesh_zbuf = _empty_zbuffer(n_mesh * n_pix, verts.device)
        compact_mesh = face_mesh.index_select(0, setup.face_index)  # mesh of each compact face
    for pixels, keys in _candidates(setup, width, n_pix):
        _resolve(zbuf, pixels, keys)
        if per_mesh:
            # Empty keys carry no valid face index: clamp it (the mesh offset of a no-op key is irrelevant).
            face = (keys & _LOW32).clamp_max_(compact_mesh.shape[0] - 1)
            _resolve(mesh_zbuf, pixels + compact_mesh.index_select(0, face) * n_pix, keys)
    return zbuf, mesh_zbuf, setup, face_mesh, faces.shape[0]


def _face_ids(zbuf: Tensor, setup: _FaceSetup, n_faces: int) -> Tensor:
    """Face index (into the given faces) of each z-buffer entry, -1 where empty; same shape as ``zbuf``."""
    if setup.face_index.numel() == 0:
        return torch.full_like(zbuf, -1)
    compact = (zbuf & _LOW32).clamp_max_(setup.face_index.shape[0] - 1)  # empty keys: any valid index
    return torch.where(zbuf != _EMPTY_KEY, setup.face_index.index_select(0, compact) % n_faces, -1)


@torch.no_grad()
def rasterize_meshes(vertices_list: Sequence[Tensor], faces_list: Sequence[Tensor],
                     focal: Tensor | Sequence[float], princpt: Tensor | Sequence[float], image_size: Sequence[int],
                     cull_backfaces: bool = False, near: float = 1e-3, return_per_mesh: bool = False) -> MeshFragments:
    """Rasterize M meshes (e.g. people) into one image; optionally also each mesh alone, at little extra cost.

    Args:
        vertices_list: M tensors (V_i, 3), camera coordinates.  faces_list: M long tensors (F_i, 3).
        focal, princpt: (2,) or (1, 2) camera intrinsics in pixels.  image_size: (H, W).
        return_per_mesh: also return each mesh rendered without the others (occlusion reasoning); the
            per-face candidates are shared, only the z-buffer is resolved twice.
    Returns:
        MeshFragments; face ids index the faces of ``concat_meshes(vertices_list, faces_list)``.
    """
    zbuf, mesh_zbuf, setup, face_mesh, n_faces = _resolve_meshes(
        vertices_list, faces_list, focal, princpt, image_size, cull_backfaces, near, return_per_mesh)
    height, width = int(image_size[0]), int(image_size[1])
    scene = _fragments(zbuf, setup, 1, height, width, n_faces)
    mesh_ids = torch.where(scene.mask[0], face_mesh[scene.face_ids[0].clamp_min(0)], -1)
    per_mesh = _fragments(mesh_zbuf, setup, len(vertices_list), height, width, n_faces) if return_per_mesh else None
    return MeshFragments(scene, mesh_ids, per_mesh)


@torch.no_grad()
def rasterize_face_ids(vertices_list: Sequence[Tensor], faces_list: Sequence[Tensor],
                       focal: Tensor | Sequence[float], princpt: Tensor | Sequence[float], image_size: Sequence[int],
                       cull_backfaces: bool = False, near: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Only the visible face ids of :func:`rasterize_meshes` with ``return_per_mesh=True`` (no depth or
    barycentrics to decode: what flat shading needs).

    Returns:
        scene (H, W) and per-mesh (M, H, W) long face ids into the faces of ``concat_meshes``, -1 where empty;
        equal to ``fragments.face_ids[0]`` and ``per_mesh.face_ids`` of :func:`rasterize_meshes`.
    """
    zbuf, mesh_zbuf, setup, _, n_faces = _resolve_meshes(
        vertices_list, faces_list, focal, princpt, image_size, cull_backfaces, near, True)
    height, width = int(image_size[0]), int(image_size[1])
    return (_face_ids(zbuf, setup, n_faces).view(height, width),
            _face_ids(mesh_zbuf, setup, n_faces).view(len(vertices_list), height, width))
