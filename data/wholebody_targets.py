"""Whole-body (SMPL-X) targets of the shared mapper (``model.family=wholebody``): OpenPose-137 keypoints in the
crop, pelvis-relative 3D keypoints, SMPL-X parameters and per-part validity, all under the crop's augmentation.

Conventions (data/augment.py): the image is mirrored first, then the crop window is rotated; 3D quantities turn by
``R3 = R_z(-rot_deg)``. A flip mirrors every SMPL-X rotation and swaps left/right joints and hands
(:func:`common.wholebody.params.flip_params`) and swaps the hand validity flags; the expression is kept as is (the
open model's expression space is not mirror-symmetric: a flipped face is approximated by the same coefficients,
see docs/synthetic_world.md). The HD image is the SAME crop window resampled at ``hd_size`` (the affine scaled by
hd_size / input_size), standing in for ExPose's full-resolution image when hand/head crops are resampled.
"""
from __future__ import annotations

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.geometry.transforms2d import apply_affine, warp_crop
from common.joint_sets import joint_index
from data import augment as aug_ops
from data.augment import CropAug
from data.records import PersonRecord

CONVENTION = "openpose137"
NUM_KEYPOINTS = 137
PELVIS = joint_index(CONVENTION, "Pelvis")  # OpenPose MidHip = SMPL-X root joint


def hd_crop(image: np.ndarray, img_to_crop: np.ndarray, input_size: int, hd_size: int, aug: CropAug) -> np.ndarray:
    """(3, H, H) float32 in [0, 1]: the crop window of ``img_to_crop`` resampled at ``hd_size`` px, colour-augmented
    like the network crop."""
    scale = np.diag([hd_size / input_size, hd_size / input_size])
    crop = warp_crop(image, scale @ img_to_crop, (hd_size, hd_size)).astype(np.float32) / 255.0
    return aug_ops.apply_color(crop, aug).transpose(2, 0, 1).copy()


def augment_smplx_pose(pose: np.ndarray, aug: CropAug) -> np.ndarray:
    """(55, 3) axis-angle (absolute fingers) -> flipped (:func:`flip_params`) and root turned by R3."""
    from common.wholebody.params import SMPLXParams, flip_params

    out = torch.as_tensor(np.asarray(pose, np.float64)).reshape(1, 55, 3)
    if aug.flip:
        zero = torch.zeros(1, 10, dtype=out.dtype)
        out = matrix_to_axis_angle(flip_params(SMPLXParams.from_axis_angle(out, zero, zero)).rotmats())  # eyes 0
    if aug.rot_deg != 0.0:
        root = torch.from_numpy(aug_ops.inplane_rotation(aug)) @ axis_angle_to_matrix(out[0, 0])
        out = out.clone()
        out[0, 0] = matrix_to_axis_angle(root)
    return out[0].numpy().astype(np.float32)


def _inside(points: np.ndarray, size: int) -> np.ndarray:
    return ((points[:, 0] >= 0) & (points[:, 0] < size) & (points[:, 1] >= 0) & (points[:, 1] < size)).astype(
        np.float32)


def wholebody_targets(record: PersonRecord, img_to_crop: np.ndarray, aug: CropAug, input_size: int) -> dict:
    """Everything of the whole-body sample except the images and the crop geometry (numpy, see
    :data:`data.sample.WHOLEBODY_SAMPLE_SPEC`).

    keypoints2d: the record's 2D keypoints (else the projection of its 3D ones) in crop px; valid = record
    validity AND inside the crop. keypoints3d: pelvis-relative, mirrored/rotated like the crop (zero and invalid
    without a valid pelvis).
    """
    if record.joints_convention != CONVENTION and (record.joints2d is not None or record.joints3d is not None):
        raise ValueError(f"{record.image_path}: whole-body samples need joints in '{CONVENTION}', got "
                         f"'{record.joints_convention}' (dataset {record.dataset!r})")
    kp3d = np.zeros((NUM_KEYPOINTS, 3)) if record.joints3d is None else np.asarray(record.joints3d, np.float64)
    kp3d_valid = np.zeros(NUM_KEYPOINTS, np.float32) if record.joints3d is None else \
        np.asarray(record.joints3d_valid, np.float32)
    if record.joints2d is not None:
        kp2d, kp2d_valid = np.asarray(record.joints2d, np.float64), np.asarray(record.joints2d_valid, np.float32)
    else:
        z = np.where(kp3d[:, 2:] > 1e-3, kp3d[:, 2:], 1.0)
        kp2d = kp3d[:, :2] / z * record.focal + record.princpt
        kp2d_valid = kp3d_valid * (kp3d[:, 2] > 1e-3)
    kp2d = aug_ops.flip_rows(apply_affine(kp2d, img_to_crop), CONVENTION, aug.flip)
    kp2d_valid = aug_ops.flip_rows(kp2d_valid, CONVENTION, aug.flip) * _inside(kp2d, input_size)
    if kp3d_valid[PELVIS] > 0:
        kp3d = aug_ops.augment_joints3d(kp3d - kp3d[PELVIS], aug, CONVENTION)
        kp3d_valid = aug_ops.flip_rows(kp3d_valid, CONVENTION, aug.flip)
    else:
        kp3d, kp3d_valid = np.zeros_like(kp3d), np.zeros_like(kp3d_valid)

    has = float(record.has_smplx)
    pose = augment_smplx_pose(record.smplx_pose, aug) if has else np.zeros((55, 3), np.float32)
    flag = lambda v: float(v) if v is not None else has  # noqa: E731  (unknown: as good as the parameters)
    hands = (flag(record.left_hand_valid), flag(record.right_hand_valid))
    if aug.flip:
        hands = hands[::-1]
    zeros = np.zeros(10, np.float32)
    return {
        "keypoints2d": kp2d, "keypoints2d_valid": kp2d_valid, "keypoints3d": kp3d, "keypoints3d_valid": kp3d_valid,
        "smplx_pose": pose, "smplx_betas": np.asarray(record.smplx_betas, np.float32) if has else zeros,
        "smplx_expression": np.asarray(record.smplx_expression, np.float32)
        if has and record.smplx_expression is not None else zeros,
        "smplx_valid": has, "left_hand_valid": hands[0] * has, "right_hand_valid": hands[1] * has,
        "face_valid": flag(record.face_valid) * has,
    }
