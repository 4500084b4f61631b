"""Grey dilation and the SEFD adaptive dilation rule for SMPL edge maps.

The release thickens rendered-mesh edges with a square grey dilation whose size depends on the person's
tight-bbox area A (px^2, in the image where the edges are drawn), so that small people keep separable
contours and large people get edges thick enough to survive the crop resize:

    A <= 256       -> no dilation
    256 < A <= 4096   -> 3x3
    4096 < A <= 65536 -> 5x5
    A > 65536      -> 7x7
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

AREA_THRESHOLDS_PX2 = (256.0, 4096.0, 65536.0)  # upper bounds (inclusive) of the first three area classes
ADAPTIVE_KERNELS = (1, 3, 5, 7)  # square kernel side per area class (1 = no dilation)


def adaptive_kernel_size(area_px2: float) -> int:
    """Dilation kernel side for a person whose tight bbox covers ``area_px2`` square pixels."""
    area = float(area_px2)
    if not area >= 0.0:  # also rejects NaN
        raise ValueError(f"bbox area must be a non-negative number of px^2, got {area_px2!r}")
    for threshold, kernel in zip(AREA_THRESHOLDS_PX2, ADAPTIVE_KERNELS):
        if area <= threshold:
            return kernel
    return ADAPTIVE_KERNELS[-1]


def _running_max(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Max over a centred window of odd length ``k`` along ``dim`` (-inf beyond the ends), same length as x.

    Van Herk-style doubling: maxima of windows of 1, 2, 4, ... elements are combined from two shifted copies,
    so the cost is O(log k) elementwise maxima instead of the O(k^2) comparisons of a 2-D max pool.
    """
    r = k // 2
    pad = [0, 0] * (x.ndim - 1 - (dim % x.ndim)) + [r, r]
    m = F.pad(x, pad, value=float("-inf"))
    width = 1
    while 2 * width <= k:  # m[i] = max of the `width` padded elements starting at i
        n = m.shape[dim] - width
        m = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, width, n))
        width *= 2
    if width < k:  # two overlapping windows of `width` cover exactly k elements
        n = m.shape[dim] - (k - width)
        m = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, k - width, n))
    return m


def grey_dilation(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Flat square grey dilation (max filter) of (B,C,H,W) maps; borders do not contribute (-inf padding).

    Equals ``kornia.morphology.dilation(x, torch.ones(k, k))`` for odd ``k``; ``k = 1`` returns ``x``.
    Computed as two separable running maxima (exact: max is associative), much faster than a k x k max pool.
    """
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"dilation kernel must be a positive odd size, got {kernel_size!r}")
    if x.ndim != 4:
        raise ValueError(f"expected (B,C,H,W) maps, got shape {tuple(x.shape)}")
    if k == 1:
        return x
    return _running_max(_running_max(x, k, -1), k, -2)


def adaptive_dilation(x: torch.Tensor, area_px2: float) -> torch.Tensor:
    """Dilate (B,C,H,W) edge maps with the kernel :func:`adaptive_kernel_size` picks for ``area_px2``."""
    return grey_dilation(x, adaptive_kernel_size(area_px2))
