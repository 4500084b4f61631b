"""Helpers both 3DPW formats share: the error class, genders, input poses and crop boxes."""
from __future__ import annotations

from typing import Callable

import numpy as np

from common.errors import UserError
from data.adapters.ehf import keypoint_bbox

RestPelvisFn = Callable[[np.ndarray, str], np.ndarray]  # (betas (P,10), gender) -> J0 (P,3) m
GENDERS = {"m": "male", "f": "female", "male": "male", "female": "female", "neutral": "neutral"}


class Pw3dError(UserError, ValueError):
    """A 3DPW file is missing or malformed (the message names the file and field)."""


def sanitize_bbox(bbox: np.ndarray, width: int, height: int) -> np.ndarray:
    """3DCrowdNet ``process_bbox(..., is_3dpw_test=True)`` clipping: x1 = max(0, x), x2 = min(W-1, x1 + w - 1).

    Note x2 uses the clipped x1, so a box sticking out on the left is shifted, not cut (release behaviour).
    """
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1)), min(height - 1.0, y1 + max(0.0, h - 1))
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def add_midpoint(joints: np.ndarray, a: int, b: int) -> np.ndarray:
    """Append the midpoint of joints a, b (K,3 x/y/conf) with confidence conf_a * conf_b (3DCrowdNet)."""
    mid = (joints[a] + joints[b]) / 2
    mid[2] = joints[a, 2] * joints[b, 2]
    return np.concatenate([joints, mid[None]], 0)


def input_pose(kp18: np.ndarray, conf_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """OpenPose-18 (18,3) -> openpose19 (19,2) and validity (conf > threshold)."""
    op19 = add_midpoint(kp18, 8, 11)  # R_Hip, L_Hip -> Pelvis
    return op19[:, :2].astype(np.float32), (op19[:, 2] > conf_threshold).astype(np.float32)


def crop_box(crop: str, gt_box: np.ndarray, pose: np.ndarray, valid: np.ndarray, hw, extend: float):
    """(box xywh px, source): 'gt' -> the annotated box; 'pose2d' -> the input joints' box (sides x``extend``,
    sanitised to the image), the annotated box when fewer than 2 joints are valid."""
    if crop == "gt":
        return gt_box, "gt"
    box = keypoint_bbox(pose, valid, extend)
    return (gt_box, "gt_fallback") if box is None else (sanitize_bbox(box, hw[1], hw[0]), "pose2d")
