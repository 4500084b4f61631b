"""Batched Procrustes alignment (PA-MPJPE style): fit per sample, optionally on a subset of points.

The fit is the weighted Umeyama solution: minimise sum_n w_n |s R p_n + t - g_n|^2 with R a proper rotation
(det +1; a reflection is never returned), computed in float64 for accuracy, returned in the input dtype.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _check_inputs(pred: Tensor, gt: Tensor, mask: Tensor | None) -> Tensor:
    where = "common/geometry/procrustes.py"
    if pred.ndim != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape:
        raise ValueError(f"{where}: pred and gt must both be (B, N, 3); got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if mask is None:
        return torch.ones(pred.shape[:2], dtype=torch.float64, device=pred.device)
    if tuple(mask.shape) != tuple(pred.shape[:2]):
        raise ValueError(f"{where}: mask must be (B, N) = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}")
    return mask.to(device=pred.device, dtype=torch.float64)


def procrustes_transform(
    pred: Tensor, gt: Tensor, mask: Tensor | None = None, with_scale: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Best similarity (or rigid) transform taking pred onto gt, per sample.

    Args:
        pred, gt: (B, N, 3) point sets (any unit, e.g. metres).
        mask: optional (B, N) bool/float weights; points with 0 do not influence the fit.
        with_scale: fit a scale (similarity) or keep s = 1 (rigid).
    Returns:
        scale (B,), rotation (B, 3, 3), translation (B, 3), float64, such that
        aligned = scale * pred @ rotation^T + translation.
    Samples with fewer than 3 weighted points get a degenerate but finite fit. A sample with a NaN/inf point
    gets NaN scale, rotation and translation (its errors are NaN; the other samples are unaffected) instead
    of failing the whole batch's SVD.
    """
    w = _check_inputs(pred, gt, mask)
    p, g = pred.double(), gt.double()
    w_sum = w.sum(1, keepdim=True).clamp_min(1e-12)  # (B, 1)
    mu_p = (w[..., None] * p).sum(1) / w_sum  # (B, 3)
    mu_g = (w[..., None] * g).sum(1) / w_sum
    pc, gc = p - mu_p[:, None], g - mu_g[:, None]
    cov = (w[..., None] * gc).transpose(1, 2) @ pc  # (B, 3, 3) = sum_n w g_n p_n^T
    finite = torch.isfinite(cov).flatten(1).all(1)  # (B,)
    if not bool(finite.all()):  # LAPACK fails on NaN: fit a placeholder, report NaN for those samples below
        cov = torch.where(finite[:, None, None], cov, torch.eye(3, dtype=cov.dtype, device=cov.device))
    u, sig, vh = torch.linalg.svd(cov)
    # Reflection fix: flip the axis of the smallest singular value when det(U V^T) < 0.
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones_like(sig)
    diag[:, 2] = d
    rotation = u @ (diag[..., None] * vh)
    if with_scale:
        var_p = (w * (pc * pc).sum(-1)).sum(1).clamp_min(1e-12)
        scale = (sig * diag).sum(-1) / var_p
    else:
        scale = torch.ones_like(sig[:, 0])
    translation = mu_g - scale[:, None] * (mu_p[:, None] @ rotation.transpose(1, 2))[:, 0]
    if not bool(finite.all()):
        nan = torch.tensor(float("nan"), dtype=scale.dtype, device=scale.device)
        scale = torch.where(finite, scale, nan)
        rotation = torch.where(finite[:, None, None], rotation, nan)
        translation = torch.where(finite[:, None], translation, nan)
    return scale, rotation, translation


def _apply(pred: Tensor, scale: Tensor, rotation: Tensor, translation: Tensor) -> Tensor:
    aligned = scale[:, None, None] * (pred.double() @ rotation.transpose(1, 2)) + translation[:, None]
    return aligned.to(pred.dtype)


def similarity_procrustes(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """pred (B, N, 3) aligned to gt (B, N, 3) by scale + rotation + translation -> (B, N, 3).

    All N points are transformed; ``mask`` (B, N) only selects the points used for the fit.
    """
    return _apply(pred, *procrustes_transform(pred, gt, mask, with_scale=True))


def rigid_procrustes(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """Like ``similarity_procrustes`` without scale (rotation + translation only) -> (B, N, 3)."""
    return _apply(pred, *procrustes_transform(pred, gt, mask, with_scale=False))
