"""Whole-body training losses (ExPose / FuRPE terms and default weights, ``wholebody.loss.*``).

Every returned term is already weighted; a weight of 0 skips the term (it is not in the dict). Masked terms are
averaged over their valid entries (samples x joints / coordinates), over all processes under DDP (as
``common.models.losses.masked_l1``), and are 0 (with gradients) when nothing is valid; invalid targets may hold
anything, NaN included.

Rotations: geodesic angle (radians) between predicted and GT rotation matrices. 2D keypoints: L1 in [-1, 1] crop
units (body crop for the body / hand / face terms, each part crop for the part-crop terms), masked by
``keypoints2d_valid`` AND the layer's ``keypoints_valid`` (the open model has no face contour or pupils).
3D keypoints: L1 (m) after subtracting the OpenPose MidHip (keypoint 8) from both sides, so the term does not
depend on which pelvis the data made them relative to.

Which prediction each parameter term sees: the final merged parameters (what is evaluated: fingers and wrists
from the hand network, jaw and expression from the head network) and, where a part network replaces it, the body
network's own estimate too (``body_hand_pose``, ``body_jaw_pose``, ``body_expression``; same weights): those
start the part networks and place the crops. Only the LAST IEF stage is supervised (ExPose's
``pose_last_stage``-style choice, not HMR's every-stage loss): the stages are residual refinements of one
estimate, the ExPose / FuRPE weights are sized for one application, and per-stage 2D terms would need a SMPL-X
evaluation per stage.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from common.geometry.rotations import axis_angle_to_matrix
from common.models.losses import masked_l1, summed_over_processes
from common.models.wholebody.crops import apply_affines, invert_affines
from common.wholebody.layout import BODY, FACE, HEAD_IDS, LEFT_HAND, RIGHT_HAND

MID_HIP = 8  # OpenPose body-25 MidHip


@dataclass(frozen=True)
class WholeBodyLossWeights:
    """Weights of the terms (``wholebody.loss.*``, common/config/defaults.py: WholeBodyLossCfg)."""

    global_orient: float = 10.0
    body_pose: float = 10.0
    jaw_pose: float = 5.0
    hand_pose: float = 1.0
    wrist_pose: float = 1.0
    expression: float = 1.0
    betas: float = 1.0
    shape_prior: float = 0.0
    body_keypoints2d: float = 10.0
    hand_keypoints2d: float = 1.0
    face_keypoints2d: float = 1.0
    keypoints3d: float = 0.0
    part_crop_keypoints2d: float = 1.0

    @classmethod
    def from_config(cls, loss_cfg) -> "WholeBodyLossWeights":
        return cls(**{f.name: float(getattr(loss_cfg, f.name)) for f in fields(cls)})


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where mask > 0 (mask broadcasts to values); 0 when none; global count under DDP."""
    mask = (mask > 0).expand_as(values)
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    count, processes = summed_over_processes(mask.sum())
    return total * processes / count.clamp(min=1)


def geodesic(pred: Tensor, target: Tensor) -> Tensor:
    """(..., 3, 3) x 2 -> (...) angle (radians) of pred^T target; finite gradients at 0 and pi."""
    rel = pred.transpose(-1, -2) @ target
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    vee = torch.stack([rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0],
                       rel[..., 1, 0] - rel[..., 0, 1]], dim=-1)
    sin = ((vee * vee).sum(-1) + 1e-12).sqrt() / 2
    return torch.atan2(sin, cos)


def _gt_rotmats(batch: dict) -> Tensor:
    """(B, 55, 3, 3) GT rotations (invalid entries made finite; they are masked anyway)."""
    return axis_angle_to_matrix(torch.nan_to_num(batch["smplx_pose"].float()).reshape(-1, 55, 3))


def _valid(batch: dict, key: str, like: Tensor) -> Tensor:
    return batch[key].to(like.device).float().reshape(-1)


def _rot_term(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """pred/target (B, J, 3, 3) or (B, 3, 3), valid (B,) -> masked mean angle."""
    angle = geodesic(pred, target)
    return masked_mean(angle, valid.view(-1, *([1] * (angle.dim() - 1))))


def _l2_term(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    diff = pred - torch.nan_to_num(target.to(pred))
    return masked_mean(diff * diff, valid[:, None])


def parameter_losses(batch: dict, preds: dict, w: WholeBodyLossWeights, hand_net: bool, head_net: bool) -> dict:
    """Geodesic / L2 parameter terms (module docstring)."""
    final, body = preds["params"], preds["body_params"]
    gt = _gt_rotmats(batch).to(final.betas)
    smplx = _valid(batch, "smplx_valid", final.betas)
    hands = {side: _valid(batch, f"{side}_hand_valid", final.betas) for side in ("left", "right")}
    face = _valid(batch, "face_valid", final.betas)
    out: dict[str, Tensor] = {}

    hand_mask = torch.cat([hands["left"][:, None].expand(-1, 15), hands["right"][:, None].expand(-1, 15)], dim=1)

    def fingers(p) -> Tensor:
        angle = geodesic(torch.cat([p.left_hand_pose, p.right_hand_pose], dim=1), gt[:, 25:55])
        return masked_mean(angle, hand_mask)

    terms = {
        "global_orient": lambda: _rot_term(final.global_orient, gt[:, 0], smplx),
        "body_pose": lambda: _rot_term(body.body_pose, gt[:, 1:22], smplx),
        "wrist_pose": lambda: _rot_term(final.body_pose[:, 19:21], gt[:, 20:22], smplx) if hand_net else None,
        "hand_pose": lambda: fingers(final),
        "body_hand_pose": lambda: fingers(body) if hand_net else None,
        "jaw_pose": lambda: _rot_term(final.jaw_pose, gt[:, 22], face),
        "body_jaw_pose": lambda: _rot_term(body.jaw_pose, gt[:, 22], face) if head_net else None,
        "expression": lambda: _l2_term(final.expression, batch["smplx_expression"], face),
        "body_expression": lambda: _l2_term(body.expression, batch["smplx_expression"], face) if head_net else None,
        "betas": lambda: _l2_term(final.betas, batch["smplx_betas"], smplx),
        "shape_prior": lambda: (body.betas * body.betas).mean(),
    }
    for name, fn in terms.items():
        weight = getattr(w, name.removeprefix("body_") if name != "body_pose" else name)
        if weight:
            value = fn()
            if value is not None:
                out[name] = weight * value
    return out


def keypoint_losses(batch: dict, preds: dict, w: WholeBodyLossWeights, keypoints_valid: Tensor,
                    input_size: int) -> dict:
    """2D L1 per part (body crop units) and the optional 3D term."""
    out: dict[str, Tensor] = {}
    pred = preds["keypoints2d"] * (2.0 / input_size) - 1.0
    gt = batch["keypoints2d"].to(pred) * (2.0 / input_size) - 1.0
    valid = batch["keypoints2d_valid"].to(pred) * keypoints_valid.to(pred)
    for name, part in (("body_keypoints2d", [BODY]), ("hand_keypoints2d", [LEFT_HAND, RIGHT_HAND]),
                       ("face_keypoints2d", [FACE])):
        weight = getattr(w, name)
        if weight:
            idx = [i for s in part for i in range(137)[s]]
            out[name] = weight * masked_l1(pred[:, idx], gt[:, idx], valid[:, idx, None])
    if w.keypoints3d:
        p3 = preds["keypoints3d"]
        g3 = torch.nan_to_num(batch["keypoints3d"].to(p3))
        v3 = batch["keypoints3d_valid"].to(p3) * keypoints_valid.to(p3)
        v3 = v3 * v3[:, MID_HIP:MID_HIP + 1]
        out["keypoints3d"] = w.keypoints3d * masked_l1(p3 - p3[:, MID_HIP:MID_HIP + 1], g3 - g3[:, MID_HIP:MID_HIP + 1],
                                                       v3[..., None])
    return out


def part_crop_losses(batch: dict, preds: dict, w: WholeBodyLossWeights, keypoints_valid: Tensor, input_size: int,
                     hd_size: int, hand_crop_size: int, head_crop_size: int) -> dict:
    """L1 (part-crop units) of the part networks' projected keypoints vs the GT mapped into each crop."""
    out: dict[str, Tensor] = {}
    if not w.part_crop_keypoints2d:
        return out
    gt_hd = batch["keypoints2d"].float().to(preds["camera"]) * (hd_size / input_size)
    valid = batch["keypoints2d_valid"].to(gt_hd) * keypoints_valid.to(gt_hd)
    parts = {"hand_crop_keypoints2d": [("left_hand", LEFT_HAND, hand_crop_size),
                                       ("right_hand", RIGHT_HAND, hand_crop_size)],
             "head_crop_keypoints2d": [("head", list(HEAD_IDS), head_crop_size)]}
    for name, items in parts.items():
        preds_u, gts_u, masks = [], [], []
        for part, idx, size in items:
            key = f"{part}_crop_keypoints2d"
            if key not in preds:
                continue
            gt_crop = apply_affines(torch.nan_to_num(gt_hd[:, idx]), invert_affines(preds[f"{part}_affine"]))
            preds_u.append(preds[key] * (2.0 / size) - 1)
            gts_u.append(gt_crop * (2.0 / size) - 1)
            masks.append(valid[:, idx, None])
        if preds_u:
            out[name] = w.part_crop_keypoints2d * masked_l1(torch.cat(preds_u, 1), torch.cat(gts_u, 1),
                                                            torch.cat(masks, 1))
    return out


def wholebody_losses(batch: dict, preds: dict, w: WholeBodyLossWeights, keypoints_valid: Tensor, input_size: int,
                     hd_size: int, hand_crop_size: int, head_crop_size: int, hand_net: bool = True,
                     head_net: bool = True) -> dict[str, Tensor]:
    """All weighted terms: parameter, keypoint and part-crop keypoint losses (module docstring)."""
    out = parameter_losses(batch, preds, w, hand_net, head_net)
    out.update(keypoint_losses(batch, preds, w, keypoints_valid, input_size))
    out.update(part_crop_losses(batch, preds, w, keypoints_valid, input_size, hd_size, hand_crop_size,
                                head_crop_size))
    return out
