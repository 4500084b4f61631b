"""Constant part references for the whole-body model, scored by the same (EHF-style) evaluator.

The body is the GT's; only one part is constant, so each reference isolates what the part networks must beat:

- ``mean_hands``: both hands in the training set's mean hand pose (per-joint chordal mean of the stored
  rotations, each side on its own);
- ``neutral_face``: zero expression and a closed (identity) jaw;
- ``mean_face``: zero expression and the training set's mean jaw (chordal mean): the best constant face where
  many training jaws are open (the embedded world opens half of them), so a model can beat ``neutral_face``
  by learning that mean alone, without reading a face; zero is the world's mean expression (training
  expressions are not collected);
- ``mean_hands_neutral_face``: mean hands and neutral face at once.

Parameters are :class:`common.wholebody.SMPLXParams` (rotation matrices, absolute fingers: what
``WholeBodyLayer`` takes) or a dict in whatever form another SMPL-X layer takes; pose entries may be rotation
matrices (..., 3, 3) or axis-angle (B, 3k): the reference keeps each entry's form. The hand mean is the chordal
mean of the parameters as stored (absolute finger rotations for SMPLXParams).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import Tensor

from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

WHOLEBODY_REFERENCE_NAMES = ("mean_hands", "neutral_face", "mean_face", "mean_hands_neutral_face")
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


def _has(params: Any, key: str) -> bool:
    return key in params if isinstance(params, Mapping) else hasattr(params, key)


def _get(params: Any, key: str) -> Tensor:
    return params[key] if isinstance(params, Mapping) else getattr(params, key)


def _with(params: Any, fields: Mapping[str, Tensor]) -> Any:
    return {**params, **fields} if isinstance(params, Mapping) else params.replace(**fields)


def reference_params(gt_params: Any, train_params: Any) -> dict[str, Any]:
    """{reference name: parameters}: the GT parameters (same type) with the constant part(s) substituted.

    gt_params: SMPLXParams or dict, B samples (hand poses, ``jaw_pose``, ``expression``).
    train_params: SMPLXParams or dict holding at least the two hand poses (N samples each); ``mean_face`` is
    made only where it also holds ``jaw_pose``.
    """
    missing = [k for k in HAND_KEYS + (JAW_KEY, EXPRESSION_KEY) if not _has(gt_params, k)]
    missing += [f"train:{k}" for k in HAND_KEYS if not _has(train_params, k)]
    if missing:
        raise KeyError(f"wholebody references: parameters missing {missing}")
    means = {key: mean_rotation_pose(torch.as_tensor(_get(train_params, key))) for key in HAND_KEYS}
    out = {"mean_hands": substitute_parts(gt_params, means, False),
           "neutral_face": substitute_parts(gt_params, None, True)}
    if _has(train_params, JAW_KEY):
        jaw = {JAW_KEY: mean_rotation_pose(torch.as_tensor(_get(train_params, JAW_KEY)))}
        out["mean_face"] = substitute_parts(gt_params, jaw, True)
    out["mean_hands_neutral_face"] = substitute_parts(gt_params, means, True)
    return out


def substitute_parts(params: Any, part_means: Mapping[str, Tensor] | None, neutral_face: bool) -> Any:
    """``params`` (B samples, same type) with parts set to constant poses (``part_means``: pose key, e.g. a hand
    or ``jaw_pose`` -> one sample's pose in the params' form, expanded to the batch; None keeps every part) and/or
    a neutral face (zero expression, and an identity jaw unless ``part_means`` gives one): the substitution every
    whole-body reference makes."""
    fields = {}
    for key, mean in (part_means or {}).items():
        like = _get(params, key)
        mean = mean.to(like.device, like.dtype)
        fields[key] = mean.expand((like.shape[0],) + tuple(mean.shape)).clone()
    if neutral_face:
        fields.setdefault(JAW_KEY, _identity_like(_get(params, JAW_KEY)))
        fields[EXPRESSION_KEY] = torch.zeros_like(_get(params, EXPRESSION_KEY))
    return _with(params, fields)


def wholebody_references(layer_fn: Callable[[Any], Tensor], gt_params: Any, train_params: Any) -> dict[str, Tensor]:
    """{reference name: (B, V, 3) SMPL-X vertices} for :data:`WHOLEBODY_REFERENCE_NAMES`.

    layer_fn: parameters -> (B, V, 3) vertices (m, the GT's frame), the same function that turns the GT
    parameters into the GT mesh, e.g. ``lambda p: layer(p, transl).vertices`` with a ``WholeBodyLayer``.
    gt_params / train_params: see :func:`reference_params`. Feed each result to the EHF evaluator as
    ``preds['vertices']``.
    """
    with torch.no_grad():
        return {name: layer_fn(params) for name, params in reference_params(gt_params, train_params).items()}


class PartReferenceModel(torch.nn.Module):
    """A constant part predictor for the evaluation loop: each sample's GT SMPL-X body (``batch['smplx_pose']``,
    ``smplx_betas``, ``smplx_expression``) with the hands at constant mean poses and/or the face neutral ->
    ``preds['vertices']`` (B, V, 3), the GT's frame without translation (the EHF-style evaluator aligns per part).

    Args:
        layer: the :class:`~common.wholebody.layer.WholeBodyLayer` the GT meshes come from (used, not owned).
        part_means: {'left_hand_pose', 'right_hand_pose'} -> (15, 3, 3) constant finger rotations and/or
            {'jaw_pose'} -> (3, 3) constant jaw rotation, or None to keep the GT parts. neutral_face: zero
            expression and an identity jaw (unless ``part_means`` gives the jaw).
    """

    def __init__(self, layer: torch.nn.Module, part_means: Mapping[str, Tensor] | None, neutral_face: bool) -> None:
        super().__init__()
        object.__setattr__(self, "layer", layer)
        self.part_keys = tuple(part_means or ())
        for key in self.part_keys:
            self.register_buffer(key, torch.as_tensor(part_means[key]).float())
        self.neutral_face = neutral_face

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        from common.wholebody.params import SMPLXParams

        params = SMPLXParams.from_axis_angle(batch["smplx_pose"].float(), batch["smplx_betas"].float(),
                                             batch["smplx_expression"].float())
        means = {key: getattr(self, key) for key in self.part_keys}
        return {"vertices": self.layer(substitute_parts(params, means, self.neutral_face)).vertices}


def part_reference_models(layer: torch.nn.Module, train_poses: Tensor) -> dict[str, PartReferenceModel]:
    """{name: constant part predictor} for :data:`WHOLEBODY_REFERENCE_NAMES` from (N, 55, 3) axis-angle training
    SMPL-X poses (absolute fingers): the hand and jaw means are per-joint chordal means of the rotations."""
    poses = torch.as_tensor(train_poses, dtype=torch.float64).reshape(-1, 55, 3)
    if len(poses) == 0:
        raise ValueError("part_reference_models: no training poses")
    mats = axis_angle_to_matrix(poses)
    means = {"left_hand_pose": mean_rotation_pose(mats[:, 25:40]).float(),
             "right_hand_pose": mean_rotation_pose(mats[:, 40:55]).float()}
    return {"mean_hands": PartReferenceModel(layer, means, False),
            "neutral_face": PartReferenceModel(layer, None, True),
            "mean_face": PartReferenceModel(layer, {JAW_KEY: mean_rotation_pose(mats[:, 22]).float()}, True),
            "mean_hands_neutral_face": PartReferenceModel(layer, means, True)}
