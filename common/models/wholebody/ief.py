"""Iterative error feedback (HMR / ExPose ``IterativeRegression``): p_{k+1} = p_k + MLP([feature || p_k])."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class IEFRegressor(nn.Module):
    """MLP [feature || current params] -> hidden -> hidden -> delta, applied ``stages`` times.

    Args:
        feature_dim: backbone feature size F. param_dim: parameter vector size P.
        hidden: width of both hidden layers (ExPose 1024). stages: iterations (ExPose 3).
        dropout: dropout after each hidden layer (ExPose 0.5).
    The last layer starts near zero (Xavier, gain 0.01, as HMR), so every stage starts as the identity and the
    first prediction is the initial parameters.
    """

    def __init__(self, feature_dim: int, param_dim: int, hidden: int = 1024, stages: int = 3,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if stages < 1:
            raise ValueError(f"common/models/wholebody/ief.py: stages must be >= 1, got {stages}")
        self.stages, self.param_dim = stages, param_dim
        self.mlp = nn.Sequential(nn.Linear(feature_dim + param_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, param_dim))
        nn.init.xavier_uniform_(self.mlp[-1].weight, gain=0.01)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, feature: Tensor, init: Tensor) -> list[Tensor]:
        """feature (B, F), init (B, P) or (P,) -> the parameters after every stage, a list of ``stages`` (B, P)."""
        # the running parameters stay float32 under autocast (only the MLP runs in half precision)
        params = init.expand(feature.shape[0], self.param_dim).float()
        feature = feature.float()
        out = []
        for _ in range(self.stages):
            params = params + self.mlp(torch.cat([feature, params], dim=1)).float()
            out.append(params)
        return out

