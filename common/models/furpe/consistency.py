"""Two-view consistency for the EMA teacher: map one view's prediction into the other view's frame, then compare.

Views follow data/augment.py: the image is mirrored first (when ``flip``), then a window turned by ``rot_deg`` is
resampled to the crop (``img_to_crop``, the full (2, 3) affine including the mirror). The person seen in a view
is therefore ``R3 . flip(person)`` with R3 = R_z(-rot_deg) acting on the global orientation (camera frame, x right,
y down) and ``flip`` = :func:`~common.wholebody.params.flip_params` (mirror every rotation, swap left/right joints
and hands); its 2D keypoints are the image keypoints through ``img_to_crop`` with left/right points swapped.
:func:`map_prediction` undoes the source view (R3^T, then unflip; inverse affine, then unswap) and applies the
target view. The release compared the views without any of this (left hand against right hand after a flip).

Loss (:func:`consistency_loss`): mean geodesic angle over the 55 joint rotations (rad), mean squared difference
of betas and expression, mean L1 of the 2D keypoints (px of the target crop) over points valid in both.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from common.wholebody.layout import OPENPOSE137_FLIP
from common.wholebody.params import SMPLXParams, flip_params


@dataclass
class ViewTransform:
    """How one augmented view was made from the image (a batch): flip (B,) bool, rot_deg (B,) degrees,
    img_to_crop (B, 2, 3) original-image px -> crop px (mirror and rotation included, data/augment.crop_affine)."""

    flip: Tensor
    rot_deg: Tensor
    img_to_crop: Tensor


@dataclass
class ViewPrediction:
    """A network's output on one view: params (SMPLXParams, camera frame of the view), keypoints2d (B, K, 2) crop
    px in the OpenPose-137 layout, keypoints_valid (B, K) or None (all valid)."""

    params: SMPLXParams
    keypoints2d: Tensor
    keypoints_valid: Tensor | None = None


def inplane_rotation(rot_deg: Tensor) -> Tensor:
    """(B,) degrees -> (B, 3, 3) R3 = R_z(-rot_deg): x' = c x + s y, y' = -s x + c y (data/augment.py)."""
    t = torch.deg2rad(rot_deg.double())
    c, s, z, o = torch.cos(t), torch.sin(t), torch.zeros_like(t), torch.ones_like(t)
    return torch.stack([c, s, z, -s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def _select(mask: Tensor, a: SMPLXParams, b: SMPLXParams) -> SMPLXParams:
    """Per sample: ``a`` where mask else ``b``."""
    def pick(x: Tensor, y: Tensor) -> Tensor:
        return torch.where(mask.reshape(-1, *([1] * (x.dim() - 1))), x, y)

    return SMPLXParams(**{f: pick(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__})


def _rotate_global(params: SMPLXParams, r: Tensor) -> SMPLXParams:
    return params.replace(global_orient=r.to(params.global_orient.dtype) @ params.global_orient)


def params_to_image(params: SMPLXParams, view: ViewTransform) -> SMPLXParams:
    """A view's parameters -> the un-augmented image's camera frame (R3^T, then unflip)."""
    p = _rotate_global(params, inplane_rotation(view.rot_deg).transpose(1, 2))
    return _select(view.flip.bool(), flip_params(p), p)


def params_to_view(params: SMPLXParams, view: ViewTransform) -> SMPLXParams:
    """Image-frame parameters -> the view (flip, then R3)."""
    p = _select(view.flip.bool(), flip_params(params), params)
    return _rotate_global(p, inplane_rotation(view.rot_deg))


def _affine(points: Tensor, m: Tensor) -> Tensor:
    """(B, K, 2) points through (B, 2, 3) affines."""
    return points @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]


def _invert(m: Tensor) -> Tensor:
    full = torch.cat([m, m.new_tensor([0.0, 0.0, 1.0]).expand(m.shape[0], 1, 3)], 1)
    return torch.linalg.inv(full)[:, :2]


def _swap(x: Tensor, flip: Tensor) -> Tensor:
    """Swap left/right keypoints (axis 1) of the flipped samples."""
    perm = torch.as_tensor(OPENPOSE137_FLIP.copy(), device=x.device)
    return torch.where(flip.bool().reshape(-1, *([1] * (x.dim() - 1))), x[:, perm], x)


def map_prediction(pred: ViewPrediction, src: ViewTransform, dst: ViewTransform) -> ViewPrediction:
    """``pred`` made on view ``src`` -> the same person expressed in view ``dst``'s frame."""
    params = params_to_view(params_to_image(pred.params, src), dst)
    m_src = src.img_to_crop.to(pred.keypoints2d.dtype)
    kp = _swap(_affine(pred.keypoints2d, _invert(m_src)), src.flip)
    kp = _affine(_swap(kp, dst.flip), dst.img_to_crop.to(kp.dtype))
    valid = pred.keypoints_valid
    if valid is not None:
        valid = _swap(_swap(valid, src.flip), dst.flip)
    return ViewPrediction(params, kp, valid)


def rotation_geodesic(r1: Tensor, r2: Tensor) -> Tensor:
    """(..., 3, 3) x2 -> (...) angle of R1^T R2 in rad, via atan2 (finite gradients at 0 and near pi; the norm's
    gradient at 0 is 0 in torch)."""
    m = r1.transpose(-1, -2) @ r2
    cos = (m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    vee = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    sin = torch.linalg.vector_norm(vee, dim=-1) / 2.0
    return torch.atan2(sin, cos)


def consistency_loss(pred: ViewPrediction, target: ViewPrediction,
                     weights: Mapping[str, float] | None = None) -> dict[str, Tensor]:
    """Terms between two predictions in the same view frame (``target`` is usually the teacher's, detached by
    the caller): 'rotation' (rad), 'betas', 'expression' (mean squared), 'keypoints2d' (px), and 'total' =
    the weighted sum (weights default 1)."""
    w = {"rotation": 1.0, "betas": 1.0, "expression": 1.0, "keypoints2d": 1.0, **(weights or {})}
    angle = rotation_geodesic(pred.params.rotmats(), target.params.rotmats().to(pred.params.global_orient.dtype))
    terms = {"rotation": angle.mean(),
             "betas": ((pred.params.betas - target.params.betas) ** 2).mean(),
             "expression": ((pred.params.expression - target.params.expression) ** 2).mean()}
    valid = torch.ones(pred.keypoints2d.shape[:2], device=pred.keypoints2d.device)
    for v in (pred.keypoints_valid, target.keypoints_valid):
        if v is not None:
            valid = valid * v.to(valid.dtype)
    diff = (pred.keypoints2d - target.keypoints2d).abs().sum(-1) / 2.0
    terms["keypoints2d"] = (diff * valid).sum() / valid.sum().clamp(min=1.0)
    terms["total"] = sum(w[k] * terms[k] for k in ("rotation", "betas", "expression", "keypoints2d"))
    return terms


def two_view_consistency(student: tuple[ViewPrediction, ViewPrediction], teacher: tuple[ViewPrediction, ViewPrediction],
                         views: tuple[ViewTransform, ViewTransform],
                         weights: Mapping[str, float] | None = None) -> dict[str, Tensor]:
    """Symmetric BYOL-style term: student(view 1) vs teacher(view 2) mapped to view 1, plus the converse; the
    teacher's predictions are detached here. Returns the summed terms (same keys as :func:`consistency_loss`)."""
    out: dict[str, Tensor] = {}
    for a, b in ((0, 1), (1, 0)):
        t = teacher[b]
        t = ViewPrediction(t.params.map(lambda x: x.detach()), t.keypoints2d.detach(), t.keypoints_valid)
        terms = consistency_loss(student[a], map_prediction(t, views[b], views[a]), weights)
        out = {k: out.get(k, 0.0) + v for k, v in terms.items()}
    return out
