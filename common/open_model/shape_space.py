"""Linear shape space (SMPL-style betas) by PCA over re-posed anny bodies."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ShapeSpace:
    """PCA shape space: ``vertices = mean + dirs @ betas`` with betas ~ N(0, 1) over the sampled bodies."""

    mean: torch.Tensor  # (V, 3) metres
    dirs: torch.Tensor  # (V, 3, K): sqrt(eigenvalue_k) * unit component_k
    variances: torch.Tensor  # (K,) eigenvalues (m^2)
    explained: torch.Tensor  # (K,) fraction of the total variance each component explains

    def project(self, vertices: torch.Tensor) -> torch.Tensor:
        """(N, V, 3) -> (N, K) betas (least squares; the components are orthogonal)."""
        flat = (vertices - self.mean).reshape(len(vertices), -1)
        basis = self.dirs.reshape(-1, self.dirs.shape[-1])
        return flat @ basis / self.variances


def fit_shape_space(vertices: torch.Tensor, num_components: int = 10) -> ShapeSpace:
    """PCA of (N, V, 3) meshes via the (N, N) Gram matrix (N << 3V), float64.

    Component signs are fixed so that each component's largest-magnitude coordinate is positive, except
    the first, which is made to increase body height (the y extent), so betas[0] > 0 means taller.
    """
    n = vertices.shape[0]
    x = vertices.reshape(n, -1).to(torch.float64)
    mean = x.mean(0)
    xc = x - mean
    gram = xc @ xc.T
    evals, evecs = torch.linalg.eigh(gram)
    order = torch.argsort(evals, descending=True)[:num_components]
    evals, evecs = evals[order].clamp_min(0), evecs[:, order]
    comps = (xc.T @ evecs) / evals.sqrt().clamp_min(1e-12)  # (3V, K) unit vectors
    variances = evals / (n - 1)
    for k in range(num_components):
        c = comps[:, k].reshape(-1, 3)
        if k == 0:
            m = mean.reshape(-1, 3)
            sign = torch.sign(((m[:, 1] - m[:, 1].mean()) * c[:, 1]).sum())
        else:
            sign = torch.sign(c.flatten()[c.abs().argmax()])
        comps[:, k] *= sign if sign != 0 else 1.0
    total = (xc ** 2).sum() / (n - 1)
    dirs = (comps * variances.sqrt()).reshape(-1, 3, num_components)
    return ShapeSpace(mean.reshape(-1, 3), dirs, variances, variances / total)
