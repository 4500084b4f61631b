"""F-score between two point sets (FreiHAND protocol: F@5 mm, F@15 mm).

For a threshold d: precision = fraction of predicted points whose nearest ground-truth point is closer than d,
recall = fraction of ground-truth points whose nearest predicted point is closer than d (strict "<", as the
FreiHAND evaluation script), F = 2 P R / (P + R) (0 when P + R = 0). The sets need no correspondence and may
have different sizes. The FreiHAND script swaps the names "precision"/"recall"; F is symmetric, so the
headline number is the same.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from common.geometry.procrustes import procrustes_transform

_WHERE = "common/evaluation/fscore.py"


def _as_batch(points: Tensor, name: str) -> Tensor:
    points = torch.as_tensor(points)
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"{_WHERE}: {name} must be (N, 3) or (B, N, 3), got {tuple(points.shape)}")
    if not torch.isfinite(points).all():
        raise ValueError(f"{_WHERE}: {name} contains NaN or inf")
    return points.double()


def nearest_distances(src: Tensor, dst: Tensor, chunk: int = 4096) -> Tensor:
    """Distance from every point of ``src`` (B, N, 3) to its nearest point of ``dst`` (B, M, 3) -> (B, N).

    Units are those of the input. Chunked over N so memory stays O(chunk * M) per sample.
    """
    src, dst = _as_batch(src, "src"), _as_batch(dst, "dst").to(src.device)
    if src.shape[0] != dst.shape[0]:
        raise ValueError(f"{_WHERE}: batch sizes differ: {src.shape[0]} vs {dst.shape[0]}")
    parts = [torch.cdist(src[:, i:i + chunk], dst).amin(-1) for i in range(0, src.shape[1], chunk)]
    return torch.cat(parts, dim=1)


def fscore(pred: Tensor, gt: Tensor, thresholds: Sequence[float]) -> dict[str, Tensor]:
    """F-score, precision and recall of ``pred`` against ``gt`` at each threshold.

    Args:
        pred: (N, 3) or (B, N, 3) predicted points (e.g. vertices), metres.
        gt: (M, 3) or (B, M, 3) ground-truth points, same unit.
        thresholds: distances in the same unit (FreiHAND: 0.005 and 0.015 m).
    Returns:
        {"fscore", "precision", "recall"}: each (B, T) float64, T = len(thresholds).
    """
    pred_b, gt_b = _as_batch(pred, "pred"), _as_batch(gt, "gt")
    d_pred = nearest_distances(pred_b, gt_b)  # (B, N): each predicted point to the GT set
    d_gt = nearest_distances(gt_b, pred_b)  # (B, M): each GT point to the predicted set
    th = torch.as_tensor(list(thresholds), dtype=torch.float64, device=pred_b.device)
    precision = (d_pred[..., None] < th).double().mean(1)  # (B, T)
    recall = (d_gt[..., None] < th).double().mean(1)
    denom = precision + recall
    f = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-300), torch.zeros_like(denom))
    return {"fscore": f, "precision": precision, "recall": recall}


def procrustes_aligned_fscore(
    pred: Tensor,
    gt: Tensor,
    thresholds: Sequence[float],
    pred_fit: Tensor | None = None,
    gt_fit: Tensor | None = None,
) -> dict[str, Tensor]:
    """F-score after similarity Procrustes of ``pred`` onto ``gt`` (FreiHAND "aligned" F-score).

    The transform is fitted on (pred_fit, gt_fit) when given (corresponding point sets, e.g. the 21 joints,
    which the FreiHAND script uses when the predicted mesh is not MANO-sized) and otherwise on (pred, gt),
    which then need the same number of points. Shapes as in :func:`fscore`.
    """
    pred_b, gt_b = _as_batch(pred, "pred"), _as_batch(gt, "gt")
    fit_p = pred_b if pred_fit is None else _as_batch(pred_fit, "pred_fit")
    fit_g = gt_b if gt_fit is None else _as_batch(gt_fit, "gt_fit")
    if fit_p.shape != fit_g.shape:
        raise ValueError(
            f"{_WHERE}: Procrustes fit needs corresponding sets of equal shape, got {tuple(fit_p.shape)} and "
            f"{tuple(fit_g.shape)} (pass pred_fit/gt_fit, e.g. joints, when vertex counts differ)"
        )
    scale, rot, trans = procrustes_transform(fit_p, fit_g)
    aligned = scale[:, None, None] * (pred_b @ rot.transpose(1, 2)) + trans[:, None]
    return fscore(aligned, gt_b, thresholds)
