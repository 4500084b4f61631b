"""Learned loss weights (Kendall, Gal & Cipolla, CVPR 2018), as FuRPE meant them.

L = sum_k [exp(-s_k) * L_k + s_k] over the part groups k (body, hands, face), with s_k = log sigma_k^2 learned
(``nn.Parameter``; the release read them through ``.data``, so they never learned and stayed 1). A group absent
from a batch contributes nothing (not even s_k, which would otherwise be pushed to -inf).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

GROUPS = ("body", "hands", "face")


class UncertaintyWeighting(nn.Module):
    """Learned log-variances ``log_vars`` (K,) for the groups; forward combines the group losses."""

    def __init__(self, groups: Sequence[str] = GROUPS, init: float = 0.0):
        super().__init__()
        if len(set(groups)) != len(groups) or not groups:
            raise ValueError(f"groups must be distinct and non-empty, got {list(groups)}")
        self.groups = tuple(groups)
        self.log_vars = nn.Parameter(torch.full((len(self.groups),), float(init)))

    def forward(self, group_losses: Mapping[str, Tensor]) -> Tensor:
        """``group_losses`` group -> scalar L_k (the already-weighted sum of that group's terms) -> scalar L."""
        unknown = set(group_losses) - set(self.groups)
        if unknown:
            raise KeyError(f"unknown loss group {sorted(unknown)[0]!r}; groups are {list(self.groups)}")
        total = self.log_vars.new_zeros(())
        for k, group in enumerate(self.groups):
            if group in group_losses:
                s = self.log_vars[k]
                total = total + torch.exp(-s) * group_losses[group] + s
        return total

    def values(self) -> dict[str, float]:
        """For logging: ``s_<group>`` and the implied weight ``w_<group> = exp(-s)``."""
        s = self.log_vars.detach().float().cpu().tolist()
        out = {f"s_{g}": v for g, v in zip(self.groups, s)}
        out.update({f"w_{g}": float(torch.exp(torch.tensor(-v))) for g, v in zip(self.groups, s)})
        return out
