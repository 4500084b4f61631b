"""Per-sample 3D pose/mesh errors, in the units of the inputs (the evaluators pass millimetres).

All functions take batched point sets (B, N, 3) and return per-sample errors (B,); averaging over samples
is the evaluator's job so that per-sample rows can be written and strata reported.
"""
from __future__ import annotations

import torch
from torch import Tensor

from common.geometry.procrustes import similarity_procrustes


def _check(pred: Tensor, gt: Tensor, mask: Tensor | None, name: str) -> Tensor:
    if pred.ndim != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape:
        raise ValueError(f"{name}: pred and gt must both be (B, N, 3); got {tuple(pred.shape)}, {tuple(gt.shape)}")
    if mask is None:
        return torch.ones(pred.shape[:2], dtype=torch.float64, device=pred.device)
    if tuple(mask.shape) != tuple(pred.shape[:2]):
        raise ValueError(f"{name}: mask must be (B, N) = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}")
    return mask.to(device=pred.device, dtype=torch.float64)


def _masked_mean_distance(pred: Tensor, gt: Tensor, weights: Tensor) -> Tensor:
    """Mean Euclidean distance over points with weight > 0 -> (B,) float64; NaN where no point is valid."""
    dist = (pred.double() - gt.double()).norm(dim=-1)  # (B, N)
    valid = (weights > 0).double()
    count = valid.sum(1)
    mean = (dist * valid).sum(1) / count.clamp_min(1)
    return torch.where(count > 0, mean, torch.full_like(mean, float("nan")))


def mpjpe(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean per-joint position error (B,) of pred vs. gt (B, J, 3) over joints with ``mask`` (B, J) > 0.

    No alignment is done here: pass root-relative joints for the usual root-aligned MPJPE.
    """
    return _masked_mean_distance(pred, gt, _check(pred, gt, mask, "mpjpe"))


def pa_mpjpe(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """MPJPE (B,) after a per-sample similarity Procrustes fit (scale, rotation, translation) on the valid joints."""
    weights = _check(pred, gt, mask, "pa_mpjpe")
    aligned = similarity_procrustes(pred.double(), gt.double(), weights)
    return _masked_mean_distance(aligned, gt, weights)


def mpvpe(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean per-vertex position error (B,) of meshes (B, V, 3) (align them, e.g. pelvis-centre, beforehand)."""
    return _masked_mean_distance(pred, gt, _check(pred, gt, mask, "mpvpe"))
