"""Constant part references for the whole-body model, scored by the same (EHF-style) evaluator.

The body is the GT's; only one part is constant, so each reference isolates what the part networks must beat:

- ``mean_hands``: both hands in the training set's mean hand pose (per-joint chordal mean of the stored
  rotations, each side on its own);
- ``neutral_face``: zero expression and a closed (identity) jaw;
- ``mean_hands_neutral_face``: both at once.

Parameters are a dict in whatever form the SMPL-X layer takes; pose entries may be rotation matrices
(..., 3, 3) or axis-angle (B, 3k): the reference keeps each entry's form. The hand mean is taken over the
parameters as stored (so for a layer that adds a hand mean itself, ``flat_hand_mean=False``, the constant hand
is that mean plus the mean stored offset: the same constant either way).
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor

from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

WHOLEBODY_REFERENCE_NAMES = ("mean_hands", "neutral_face", "mean_hands_neutral_face")
HAND_KEYS = ("left_hand_pose", "right_hand_pose")
JAW_KEY, EXPRESSION_KEY = "jaw_pose", "expression"


def _is_matrix(pose: Tensor) -> bool:
    return pose.ndim >= 3 and tuple(pose.shape[-2:]) == (3, 3)


def mean_rotation_pose(poses: Tensor) -> Tensor:
    """(N, J, 3, 3) or (N, 3 J) axis-angle -> the per-joint chordal mean in the same form ((J, 3, 3) | (3 J,))."""
    if _is_matrix(poses):
        return chordal_mean(poses.double()).to(poses.dtype)
    if poses.ndim != 2 or poses.shape[1] % 3:
        raise ValueError(f"mean_rotation_pose: expected (N, J, 3, 3) or (N, 3J) poses, got {tuple(poses.shape)}")
    mats = axis_angle_to_matrix(poses.double().reshape(len(poses), -1, 3))
    return matrix_to_axis_angle(chordal_mean(mats)).reshape(-1).to(poses.dtype)


def _identity_like(pose: Tensor) -> Tensor:
    if _is_matrix(pose):
        return torch.eye(3, dtype=pose.dtype, device=pose.device).expand_as(pose).clone()
    return torch.zeros_like(pose)


def reference_params(gt_params: Mapping[str, Tensor], train_params: Mapping[str, Tensor]) -> dict[str, dict]:
    """{reference name: parameter dict}: the GT parameters with the constant part(s) substituted.

    gt_params: batch of B samples (must hold the hand keys, ``jaw_pose`` and ``expression``).
    train_params: training parameters holding at least the two hand keys (N samples each).
    """
    missing = [k for k in HAND_KEYS + (JAW_KEY, EXPRESSION_KEY) if k not in gt_params]
    missing += [f"train:{k}" for k in HAND_KEYS if k not in train_params]
    if missing:
        raise KeyError(f"wholebody references: parameters missing {missing}")
    batch = gt_params[HAND_KEYS[0]].shape[0]
    hands = {}
    for key in HAND_KEYS:
        mean = mean_rotation_pose(torch.as_tensor(train_params[key])).to(gt_params[key].device, gt_params[key].dtype)
        hands[key] = mean.expand((batch,) + tuple(mean.shape)).clone()
    face = {JAW_KEY: _identity_like(gt_params[JAW_KEY]), EXPRESSION_KEY: torch.zeros_like(gt_params[EXPRESSION_KEY])}
    gt = dict(gt_params)
    return {"mean_hands": {**gt, **hands}, "neutral_face": {**gt, **face},
            "mean_hands_neutral_face": {**gt, **hands, **face}}


def wholebody_references(layer_fn: Callable[[Mapping[str, Tensor]], Tensor], gt_params: Mapping[str, Tensor],
                         train_params: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """{reference name: (B, V, 3) SMPL-X vertices} for :data:`WHOLEBODY_REFERENCE_NAMES`.

    layer_fn: parameter dict -> (B, V, 3) vertices (m, the GT's frame: e.g. the SMPL-X layer plus the GT
    translation), the same function that turns the GT parameters into the GT mesh. Feed the result to the
    EHF evaluator as ``preds['vertices']`` next to the GT mesh.
    """
    with torch.no_grad():
        return {name: layer_fn(params) for name, params in reference_params(gt_params, train_params).items()}
