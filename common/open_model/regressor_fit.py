"""Sparse, non-negative vertex->joint regressors that hold across body shapes.

For each joint, a convex combination of nearby vertices (non-negative weights summing to one, hence
translation-equivariant) is fitted by non-negative least squares over many sampled bodies, so the regressor
reproduces the joint centre for every shape, as SMPL's J_regressor does.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls

_SUM_TO_ONE_WEIGHT = 10.0  # weight of the sum-to-one row, relative to coordinates in metres


def fit_joint_regressor(vertices: torch.Tensor, joints: torch.Tensor, num_candidates: int = 200,
                        allowed: torch.Tensor | None = None) -> np.ndarray:
    """Fit a (J, V) regressor.

    Args:
        vertices: (N, V, 3) meshes of N bodies; joints: (N, J, 3) their joint centres (metres).
        num_candidates: vertices considered per joint: the nearest ones to the joint on the mean body.
        allowed: optional (J, V) bool mask of vertices a joint may use (default: all).
    Returns:
        (J, V) float64 regressor, rows non-negative and summing to one.
    """
    n, v, _ = vertices.shape
    mean_v = vertices.mean(0)
    mean_j = joints.mean(0)
    reg = np.zeros((joints.shape[1], v))
    for j in range(joints.shape[1]):
        dist = (mean_v - mean_j[j]).norm(dim=-1)
        if allowed is not None:
            dist = torch.where(allowed[j], dist, torch.full_like(dist, float("inf")))
        cand = torch.argsort(dist)[:num_candidates]
        cand = cand[torch.isfinite(dist[cand])]
        a = vertices[:, cand].permute(0, 2, 1).reshape(3 * n, len(cand)).numpy()
        b = joints[:, j].reshape(3 * n).numpy()
        a = np.vstack([a, np.full((1, len(cand)), _SUM_TO_ONE_WEIGHT)])
        b = np.append(b, _SUM_TO_ONE_WEIGHT)
        w, _ = nnls(a, b, maxiter=50 * len(cand))
        reg[j, cand.numpy()] = w / w.sum()
    return reg


def regressor_error_mm(regressor: np.ndarray, vertices: torch.Tensor, joints: torch.Tensor) -> np.ndarray:
    """(J,) mean and max error in mm of ``regressor @ vertices`` against ``joints`` over N bodies.

    Returns an array (2, J): row 0 mean, row 1 max Euclidean error per joint.
    """
    pred = torch.einsum("jv,nvc->njc", torch.as_tensor(regressor, dtype=vertices.dtype), vertices)
    err = (pred - joints).norm(dim=-1) * 1000.0
    return np.stack([err.mean(0).numpy(), err.max(0).values.numpy()])
