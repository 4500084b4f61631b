"""2D crop geometry: bounding-box processing and the affine transform of a (rotated) crop.

Coordinates are continuous pixel coordinates with pixel (i, j) covering [i, i+1) x [j, j+1) (its centre at
(i + 0.5, j + 0.5)), like ``common.geometry.camera`` and the rasterizer. OpenCV resampling puts pixel centres
at integers, so ``warp_crop`` shifts by half a pixel before calling ``cv2.warpAffine``.
Boxes are (x, y, w, h) with (x, y) the top-left corner; sizes are (W, H) as in OpenCV.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

_WHERE = "common/geometry/transforms2d.py"
ArrayLike = np.ndarray | torch.Tensor


def bbox_to_affine(
    center: Sequence[float] | np.ndarray,
    scale: Sequence[float] | np.ndarray,
    rot_deg: float,
    out_size: Sequence[int],
    inverse: bool = False,
) -> np.ndarray:
    """Affine (2, 3) float64 mapping the source box onto the output crop (or back with ``inverse``).

    Args:
        center: (2,) box centre (x, y) in source pixels.
        scale: (2,) box size (w, h) in source pixels; it maps onto the full output crop.
        rot_deg: rotation of the crop window in degrees: its x axis is the source x axis turned towards +y
            (clockwise as displayed), so image content appears turned counter-clockwise in the crop
            (the 3DCrowdNet / Simple Baselines augmentation convention).
        out_size: (W, H) of the output crop in pixels.
        inverse: return the crop -> source transform instead.
    Returns:
        M (2, 3) with dst = M[:, :2] @ src + M[:, 2]; the box centre maps to (W / 2, H / 2).
    """
    c = np.asarray(center, dtype=np.float64).reshape(-1)
    s = np.asarray(scale, dtype=np.float64).reshape(-1)
    if c.shape != (2,) or s.shape != (2,) or len(out_size) != 2:
        raise ValueError(f"{_WHERE}: center and scale must be (2,), out_size (W, H); "
                         f"got {c.shape}, {s.shape}, {out_size}")
    if np.any(s <= 0):
        raise ValueError(f"{_WHERE}: scale (box size) must be positive, got {s.tolist()}")
    out_w, out_h = float(out_size[0]), float(out_size[1])
    theta = math.radians(rot_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    rot_inv = np.array([[cos, sin], [-sin, cos]])  # rotation by -theta: window axes -> crop axes
    linear = np.diag([out_w / s[0], out_h / s[1]]) @ rot_inv
    out_center = np.array([out_w / 2.0, out_h / 2.0])
    m = np.zeros((2, 3))
    m[:, :2] = linear
    m[:, 2] = out_center - linear @ c
    return invert_affine(m) if inverse else m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine transform -> (2, 3)."""
    m = np.asarray(m, dtype=np.float64)
    linear_inv = np.linalg.inv(m[:, :2])
    return np.concatenate([linear_inv, -linear_inv @ m[:, 2:]], axis=1)


def apply_affine(points: ArrayLike, m: ArrayLike) -> ArrayLike:
    """Apply a (2, 3) affine to points (..., 2); numpy in -> numpy out, torch in -> torch out (points' dtype)."""
    if points.shape[-1] != 2:
        raise ValueError(f"{_WHERE}: points must have trailing dim 2, got {tuple(points.shape)}")
    if torch.is_tensor(points):
        mt = torch.as_tensor(m, dtype=points.dtype, device=points.device)
        return points @ mt[:, :2].T + mt[:, 2]
    m = np.asarray(m)
    return (points @ m[:, :2].T + m[:, 2]).astype(np.result_type(points.dtype, np.float32), copy=False)


def process_bbox(
    bbox_xywh: Sequence[float] | np.ndarray,
    out_size: Sequence[int] = (256, 256),
    img_size: Sequence[int] | None = None,
    enlarge: float = 1.25,
) -> np.ndarray | None:
    """3DCrowdNet-style box: clip to the image, grow to the crop's aspect ratio, enlarge around the centre.

    Args:
        bbox_xywh: (4,) box (x, y, w, h) in pixels.
        out_size: (W, H) of the network input; the result has aspect ratio W / H.
        img_size: optional (W, H) of the image; the box is clipped to it first.
        enlarge: factor applied to both sides after the aspect fix.
    Returns:
        (4,) float32 (x, y, w, h) with the same centre, or None if the (clipped) box is empty.
    """
    box = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise ValueError(f"{_WHERE}: bbox_xywh must be 4 finite numbers (x, y, w, h), got {bbox_xywh}")
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    if img_size is not None:
        x1, y1 = max(x1, 0.0), max(y1, 0.0)
        x2, y2 = min(x2, float(img_size[0])), min(y2, float(img_size[1]))
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return None
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    aspect = float(out_size[0]) / float(out_size[1])
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * enlarge, h * enlarge
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float32)


def bbox_center_scale(bbox_xywh: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y, w, h) -> centre (2,) and size (2,) float64, the arguments of ``bbox_to_affine``."""
    x, y, w, h = np.asarray(bbox_xywh, dtype=np.float64).reshape(4)
    return np.array([x + w / 2.0, y + h / 2.0]), np.array([w, h])


def warp_crop(image: np.ndarray, m: np.ndarray, out_size: Sequence[int], flags: int | None = None,
              border_value: float | Sequence[float] = 0) -> np.ndarray:
    """Resample ``image`` (H, W[, C]) into the crop given by the continuous-coordinate affine ``m`` (2, 3).

    Adds the half-pixel shift between this module's convention and OpenCV's (centres at integers).
    Returns the (out_H, out_W[, C]) crop, same dtype; bilinear by default.
    """
    import cv2  # local: keep cv2 optional for torch-only users

    m = np.asarray(m, dtype=np.float64)
    shifted = m.copy()
    shifted[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5  # x_cv = M (x_cv + 0.5) - 0.5
    return cv2.warpAffine(
        image, shifted, (int(out_size[0]), int(out_size[1])),
        flags=cv2.INTER_LINEAR if flags is None else flags,
        borderMode=cv2.BORDER_CONSTANT, borderValue=border_value,
    )
