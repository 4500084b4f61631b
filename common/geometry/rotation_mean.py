"""Chordal L2 mean of rotations: the rotation closest (Frobenius) to the arithmetic mean of the matrices."""
from __future__ import annotations

import torch
from torch import Tensor


def chordal_mean(rotmats: Tensor) -> Tensor:
    """(N, ..., 3, 3) rotations -> (..., 3, 3) their chordal mean (SVD projection of the mean onto SO(3)).

    Well defined when the rotations cluster; for a spread such as uniform yaw the mean matrix loses rank and the
    projection keeps only the shared part (e.g. the up axis) with an arbitrary remainder.
    """
    m = rotmats.double().mean(dim=0)
    u, _, vh = torch.linalg.svd(m)
    d = torch.ones(m.shape[:-1], dtype=m.dtype, device=m.device)
    d[..., -1] = torch.sign(torch.linalg.det(u @ vh))
    return (u * d[..., None, :]) @ vh
