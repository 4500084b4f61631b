"""Drawing helpers for the demo and TensorBoard: mesh overlays and 2D skeletons on uint8 images.

Images are (H, W, 3) uint8 numpy arrays; colours are given in the image's own channel order (BGR for OpenCV
images, RGB for TensorBoard) as floats in [0, 1]. Pixel coordinates follow the project convention: pixel
(i, j) has its centre at (i + 0.5, j + 0.5).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from common.render.mesh_raster import concat_meshes, rasterize_meshes
from common.render.shading import per_mesh_vertex_colors, shade_lambert

_WHERE = "common/render/visualize.py"
_SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 px precision


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = (image.shape, image.dtype) if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{_WHERE}: image must be an (H, W, 3) uint8 array, got {got}")


def overlay_mesh(
    image: np.ndarray,
    vertices: Tensor | np.ndarray | Sequence[Tensor | np.ndarray],
    faces: Tensor | np.ndarray | Sequence[Tensor | np.ndarray],
    focal: Sequence[float],
    princpt: Sequence[float],
    color: Sequence[float] | Sequence[Sequence[float]] = (0.65, 0.74, 0.86),
    alpha: float = 0.8,
) -> np.ndarray:
    """Render one mesh (V, 3) or a list of meshes in camera coordinates over ``image`` -> new uint8 image.

    Args:
        image: (H, W, 3) uint8; defines the render size.
        vertices, faces: one mesh ((V, 3), (F, 3)) or lists of meshes (one colour each).
        focal, princpt: (2,) intrinsics of ``image`` in pixels.
        color: (3,) for all meshes or (M, 3) per mesh, floats in [0, 1].
        alpha: opacity of the mesh.
    """
    _check_image(image)
    single = not isinstance(vertices, (list, tuple))
    verts_list = [torch.as_tensor(v).detach().cpu().float() for v in ([vertices] if single else vertices)]
    faces_list = [torch.as_tensor(f).detach().cpu().long() for f in ([faces] if single else faces)]
    colors = np.asarray(color, dtype=np.float32)
    colors = np.broadcast_to(colors, (len(verts_list), 3)) if colors.ndim == 1 else colors
    result = rasterize_meshes(verts_list, faces_list, focal, princpt, image.shape[:2])
    all_verts, all_faces, _ = concat_meshes(verts_list, faces_list)
    vertex_colors = per_mesh_vertex_colors(colors, [v.shape[0] for v in verts_list])[None]
    rgb = shade_lambert(result.fragments, all_verts[None], all_faces, vertex_colors)[0].numpy()
    a = result.fragments.mask[0].numpy()[..., None] * float(alpha)
    out = image.astype(np.float32) * (1 - a) + rgb * 255.0 * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _cv_point(xy: np.ndarray) -> tuple[int, int]:
    """Continuous (centre at +0.5) coordinates -> cv2 fixed-point coordinates (centre at integers)."""
    scale = 1 << _SUBPIXEL_BITS
    return int(round((xy[0] - 0.5) * scale)), int(round((xy[1] - 0.5) * scale))


def draw_pose2d(
    image: np.ndarray,
    joints: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None = None,
    skeleton: Sequence[tuple[int, int]] = (),
    color: Sequence[float] = (0.0, 1.0, 0.0),
    radius: int = 3,
    thickness: int = 2,
) -> np.ndarray:
    """Draw joints (J, 2) in pixels and skeleton bones (pairs of joint indices) -> new uint8 image.

    Joints with ``valid`` <= 0 (or non-finite coordinates) and bones touching them are skipped.
    """
    import cv2  # local: keep cv2 out of import time for torch-only users

    _check_image(image)
    pts = np.asarray(joints.detach().cpu() if torch.is_tensor(joints) else joints, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise ValueError(f"{_WHERE}: joints must be (J, 2), got {pts.shape}")
    ok = np.isfinite(pts[:, :2]).all(1)
    if valid is not None:
        v = np.asarray(valid.detach().cpu() if torch.is_tensor(valid) else valid).reshape(-1)
        if v.shape[0] != pts.shape[0]:
            raise ValueError(f"{_WHERE}: valid must have J = {pts.shape[0]} entries, got {v.shape[0]}")
        ok &= v > 0
    out = np.ascontiguousarray(image.copy())
    bgr = tuple(int(round(255 * c)) for c in color)
    for a, b in skeleton:
        if a < len(pts) and b < len(pts) and ok[a] and ok[b]:
            cv2.line(out, _cv_point(pts[a]), _cv_point(pts[b]), bgr, thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
    for j in np.flatnonzero(ok):
        cv2.circle(out, _cv_point(pts[j]), radius << _SUBPIXEL_BITS, bgr, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return out
