"""Pinhole projection and the 3DCrowdNet virtual crop camera.

Camera frame: x right, y down, z forward (metres, z > 0 in front). Pixel frame: u right, v down, in pixels,
with the centre of pixel (i, j) at (i + 0.5, j + 0.5), so a point projected to (u, v) lies in pixel
(floor(u), floor(v)) -- the convention of ``common.render.rasterizer``.

3DCrowdNet camera (official code): focal (5000, 5000) px on the 256x256 crop, principal point at the crop
centre (128, 128); the network predicts cam = (tx, ty, s) and t = (tx, ty, k * sigmoid(s)) with
k = sqrt(fx * fy * extent^2 / (W * H)), extent = 2.5 m (the assumed size of the person's 3D box).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

_WHERE = "common/geometry/camera.py"


def as_batched_pair(x: Tensor | Sequence[float], batch: int, like: Tensor, name: str,
                    dtype: torch.dtype | None = None, where: str = _WHERE) -> Tensor:
    """Intrinsics given as (2,) or (B, 2) -> (B, 2) on like's device (dtype: ``dtype`` or like's).

    Raises ValueError naming ``where`` and ``name`` for any other shape.
    """
    t = torch.as_tensor(x, dtype=dtype or like.dtype, device=like.device)
    if t.shape == (2,):
        t = t.expand(batch, 2)
    if t.shape != (batch, 2):
        raise ValueError(f"{where}: {name} must be (2,) or (B, 2) with B = {batch}, got {tuple(t.shape)}")
    return t


def perspective_project(points: Tensor, focal: Tensor, princpt: Tensor, min_depth: float = 1e-8) -> Tensor:
    """Project camera-frame points to pixels.

    Args:
        points: (B, N, 3) camera coordinates in metres.
        focal: (B, 2) or (2,) focal lengths (fx, fy) in pixels.
        princpt: (B, 2) or (2,) principal point (cx, cy) in pixels.
        min_depth: |z| is clamped to at least this (keeping its sign) to avoid division by zero.
    Returns:
        (B, N, 2) pixel coordinates (u, v) = (fx x / z + cx, fy y / z + cy).
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"{_WHERE}: points must be (B, N, 3), got {tuple(points.shape)}")
    batch = points.shape[0]
    f = as_batched_pair(focal, batch, points, "focal")
    c = as_batched_pair(princpt, batch, points, "princpt")
    z = points[..., 2:]
    z = torch.where(z.abs() < min_depth, torch.full_like(z, min_depth), z)
    return points[..., :2] / z * f[:, None] + c[:, None]


def crowdnet_depth_scale(
    focal: Sequence[float] = (5000.0, 5000.0),
    input_size: Sequence[int] = (256, 256),
    body_extent_m: float = 2.5,
) -> float:
    """k = sqrt(fx * fy * extent^2 / (H * W)) in metres: the depth at which an ``extent`` box fills the crop."""
    (fx, fy), (h, w) = focal, input_size
    return math.sqrt(fx * fy * body_extent_m * body_extent_m / (h * w))


def crowdnet_cam_translation(
    cam: Tensor,
    focal: Sequence[float] = (5000.0, 5000.0),
    input_size: Sequence[int] = (256, 256),
    body_extent_m: float = 2.5,
) -> Tensor:
    """3DCrowdNet camera parameters -> camera-frame root translation.

    Args:
        cam: (B, 3) network output (tx, ty, s).
        focal: (fx, fy) of the virtual camera in pixels.
        input_size: crop size (H, W) in pixels (only the product H * W matters).
        body_extent_m: assumed metric size of the person (3DCrowdNet ``camera_3d_size``).
    Returns:
        (B, 3) translation (tx, ty, k * sigmoid(s)) in metres.
    """
    if cam.ndim != 2 or cam.shape[-1] != 3:
        raise ValueError(f"{_WHERE}: cam must be (B, 3), got {tuple(cam.shape)}")
    k = crowdnet_depth_scale(focal, input_size, body_extent_m)
    return torch.cat([cam[:, :2], k * torch.sigmoid(cam[:, 2:])], dim=1)


def crowdnet_virtual_camera(
    input_size: Sequence[int] = (256, 256), focal: Sequence[float] = (5000.0, 5000.0)
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Virtual camera of the crop: ((fx, fy), (cx, cy)) with the principal point at the crop centre.

    ``input_size`` is (H, W); the principal point is (W / 2, H / 2), e.g. (128, 128) for 256x256.
    """
    h, w = input_size
    return (float(focal[0]), float(focal[1])), (w / 2.0, h / 2.0)


def weak_perspective_project(points: Tensor, camera: Tensor, crop_size: float) -> Tensor:
    """ExPose/HMR weak perspective: (B, N, 3) points + camera (B, 3) = (scale s, tx, ty) -> (B, N, 2) crop px.

    Normalised crop coordinates are ``s * (X_xy + t)`` in [-1, 1]; pixels are ``(c + 1) / 2 * crop_size``.
    """
    norm = camera[:, None, :1] * (points[..., :2] + camera[:, None, 1:])
    return (norm + 1.0) * (crop_size / 2.0)


def weak_perspective_translation(camera: Tensor, focal: float, crop_size: float) -> Tensor:
    """(B, 3) translation that makes a pinhole camera (``focal`` px, principal point at the crop centre) project
    points near the root like :func:`weak_perspective_project`: (tx, ty, 2 f / (crop_size s)).

    Exact for points at the root's depth; the demo renders whole-body meshes with it (f = 5000 px makes the
    depth range of a body negligible next to the camera distance, as HMR/SPIN do).
    """
    depth = 2.0 * focal / (crop_size * camera[:, :1].clamp(min=1e-6))
    return torch.cat([camera[:, 1:], depth], 1)
