"""Crop augmentation: sampling (scale, rotation, flip, colour) and applying it to images, joints and SMPL.

Order of operations (the 3DCrowdNet convention): the image is mirrored first (x -> W - x, continuous pixel
coordinates), then a window of ``bbox size * scale`` rotated by ``rot_deg`` around the (mirrored) box centre is
resampled to the crop. Image content appears turned by ``-rot_deg`` in the crop, so 3D quantities are turned by
the same in-plane rotation ``R3 = R_z(-rot_deg)`` (camera frame, x right, y down): x' = c x + s y,
y' = -s x + c y, z' = z. Mirroring is ``M = diag(-1, 1, 1)`` plus a left/right swap of joints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.geometry.transforms2d import bbox_center_scale, bbox_to_affine, invert_affine
from common.joint_sets import flip_permutation


@dataclass(frozen=True)
class AugmentParams:
    """Training augmentation ranges, 3DCrowdNet's sampling (common/utils/preprocessing.py of its release).

    scale = 1 + scale_jitter * clip(N(0,1), -1, 1); rot = rot_jitter_deg * clip(N(0,1), -2, 2) with
    probability rot_prob else 0; flip with probability flip_prob; per-channel gain U[1-c, 1+c].
    """

    scale_jitter: float = 0.25
    rot_jitter_deg: float = 30.0
    rot_prob: float = 0.6
    flip_prob: float = 0.5
    color_jitter: float = 0.2


@dataclass(frozen=True)
class CropAug:
    """One sampled augmentation; the default is the identity."""

    scale: float = 1.0
    rot_deg: float = 0.0
    flip: bool = False
    color: np.ndarray = field(default_factory=lambda: np.ones(3, dtype=np.float32))


def sample_augmentation(rng: np.random.Generator, params: AugmentParams) -> CropAug:
    """Draw one CropAug from ``rng`` (always the same number of draws, so streams stay aligned)."""
    u = rng.standard_normal(2)
    rot_on, flip_u = rng.random(2)
    gains = rng.uniform(1.0 - params.color_jitter, 1.0 + params.color_jitter, 3)
    return CropAug(
        scale=float(1.0 + params.scale_jitter * np.clip(u[0], -1.0, 1.0)),
        rot_deg=float(params.rot_jitter_deg * np.clip(u[1], -2.0, 2.0)) if rot_on < params.rot_prob else 0.0,
        flip=bool(flip_u < params.flip_prob),
        color=gains.astype(np.float32),
    )


def crop_affine(bbox_xywh: np.ndarray, aug: CropAug, out_size: int, image_width: float) -> np.ndarray:
    """(2,3) float64 affine from original-image px to crop px, including the mirror when ``aug.flip``."""
    center, size = bbox_center_scale(bbox_xywh)
    if aug.flip:
        center = np.array([image_width - center[0], center[1]])
    crop = bbox_to_affine(center, size * aug.scale, aug.rot_deg, (out_size, out_size))
    if not aug.flip:
        return crop
    mirror = np.array([[-1.0, 0.0, image_width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return (np.vstack([crop, [0.0, 0.0, 1.0]]) @ mirror)[:2]


def crop_to_image_affine(img_to_crop: np.ndarray) -> np.ndarray:
    return invert_affine(img_to_crop)


def inplane_rotation(aug: CropAug) -> np.ndarray:
    """(3,3) R3 = R_z(-rot_deg): the 3D rotation matching the crop's in-plane rotation (see module doc)."""
    t = math.radians(aug.rot_deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def flip_rows(x: np.ndarray, convention: str, flip: bool) -> np.ndarray:
    """Swap left/right joints along axis -2 (for (...,J,D)) or -1 (for validity (...,J)) when ``flip``."""
    if not flip:
        return x
    perm = flip_permutation(convention)
    return x[..., perm, :] if x.ndim >= 2 and x.shape[-2] == len(perm) else x[..., perm]


def augment_joints3d(joints: np.ndarray, aug: CropAug, convention: str) -> np.ndarray:
    """(J,3) root-relative camera-frame joints -> mirrored (x -> -x, L/R swapped) then turned by R3."""
    out = np.asarray(joints, dtype=np.float64).copy()
    if aug.flip:
        out[:, 0] *= -1.0
        out = flip_rows(out, convention, True)
    return (out @ inplane_rotation(aug).T).astype(np.float32)


def augment_smpl_pose(pose: np.ndarray, aug: CropAug) -> np.ndarray:
    """(72,) axis-angle -> mirrored (swap L/R joints, negate y and z) and global orient pre-multiplied by R3."""
    out = np.asarray(pose, dtype=np.float64).reshape(24, 3).copy()
    if aug.flip:
        out = out[flip_permutation("smpl24")]
        out[:, 1:] *= -1.0
    if aug.rot_deg != 0.0:
        root = axis_angle_to_matrix(torch.from_numpy(out[0]))
        rotated = torch.from_numpy(inplane_rotation(aug)) @ root
        out[0] = matrix_to_axis_angle(rotated).numpy()
    return out.reshape(72).astype(np.float32)


def apply_color(image: np.ndarray, aug: CropAug) -> np.ndarray:
    """(H,W,3) float in [0,1] -> per-channel gain, clipped to [0,1]."""
    return np.clip(image * aug.color.reshape(1, 1, 3), 0.0, 1.0)


def crop_box(bbox_xywh: np.ndarray, aug: CropAug) -> np.ndarray:
    """(4,) xywh of the (unrotated) crop window in the original image: the box scaled about its centre."""
    center, size = bbox_center_scale(bbox_xywh)
    size = size * aug.scale
    return np.array([*(center - size / 2.0), *size], dtype=np.float32)
