"""Joint heatmaps: Gaussian rendering of 2D joints, 3D soft-argmax and trilinear score sampling.

Coordinates follow the official 3DCrowdNet convention: grid cell i of a map sits at coordinate i (so a crop
pixel coordinate u maps to u * map_size / input_size on a map of map_size cells), and (x, y, z) index the
(W, H, D) axes of a (D, H, W) volume.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def render_gaussian_heatmaps(points: Tensor, valid: Tensor, height: int, width: int, sigma: float) -> Tensor:
    """Render one unnormalised Gaussian blob (peak 1) per joint, zeroed where the joint is invalid.

    Args:
        points: (B, J, 2) joint (x, y) in heatmap cells.
        valid: (B, J) 0/1 validity (invalid joints give an all-zero map; their coordinates are ignored).
        height, width: heatmap size in cells.
        sigma: Gaussian standard deviation in cells.
    Returns:
        (B, J, height, width) heatmaps in [0, 1].
    """
    valid = valid.to(points.dtype)
    points = torch.where(valid[..., None] > 0, points, torch.zeros_like(points))  # NaN-safe for invalid rows
    xs = torch.arange(width, dtype=points.dtype, device=points.device)
    ys = torch.arange(height, dtype=points.dtype, device=points.device)
    # separable: exp(-(dx^2 + dy^2) / 2 s^2) = exp(-dx^2 / 2 s^2) * exp(-dy^2 / 2 s^2)
    gx = torch.exp(-((xs - points[..., 0:1]) / sigma) ** 2 / 2)  # (B, J, W)
    gy = torch.exp(-((ys - points[..., 1:2]) / sigma) ** 2 / 2)  # (B, J, H)
    return gy[..., :, None] * gx[..., None, :] * valid[..., None, None]


def soft_argmax_3d(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax over each joint's whole volume and its expected voxel coordinate.

    Args:
        logits: (B, J, D, H, W) unnormalised scores.
    Returns:
        coords: (B, J, 3) expected (x, y, z) in voxel units (x in [0, W-1], y in [0, H-1], z in [0, D-1]).
        probs: (B, J, D, H, W) the softmax volume.
    """
    b, j, d, h, w = logits.shape
    probs = F.softmax(logits.reshape(b, j, d * h * w), dim=2).reshape(b, j, d, h, w)
    xs = torch.arange(w, dtype=probs.dtype, device=probs.device)
    ys = torch.arange(h, dtype=probs.dtype, device=probs.device)
    zs = torch.arange(d, dtype=probs.dtype, device=probs.device)
    x = (probs.sum(dim=(2, 3)) * xs).sum(-1)
    y = (probs.sum(dim=(2, 4)) * ys).sum(-1)
    z = (probs.sum(dim=(3, 4)) * zs).sum(-1)
    return torch.stack([x, y, z], dim=-1), probs


def sample_volume(volume: Tensor, coords: Tensor) -> Tensor:
    """Trilinearly sample each joint's volume at its own (x, y, z) (align_corners=True: voxel i at i).

    Args:
        volume: (B, J, D, H, W).
        coords: (B, J, 3) (x, y, z) in voxel units.
    Returns:
        (B, J) sampled values (zero outside the volume).
    """
    b, j, d, h, w = volume.shape
    size = torch.tensor([w - 1, h - 1, d - 1], dtype=coords.dtype, device=coords.device).clamp(min=1)
    grid = (coords / size * 2 - 1).reshape(b * j, 1, 1, 1, 3)
    out = F.grid_sample(volume.reshape(b * j, 1, d, h, w), grid, mode="bilinear", align_corners=True)
    return out.reshape(b, j)


def sample_feature_map(feat: Tensor, xy: Tensor) -> Tensor:
    """Bilinearly sample a feature map at per-node points (align_corners=True: cell i at coordinate i).

    Args:
        feat: (B, C, H, W).
        xy: (B, N, 2) (x, y) in feature-map cells.
    Returns:
        (B, N, C) features.
    """
    _, _, h, w = feat.shape
    size = torch.tensor([w - 1, h - 1], dtype=xy.dtype, device=xy.device).clamp(min=1)
    grid = (xy / size * 2 - 1)[:, :, None, :]  # (B, N, 1, 2)
    out = F.grid_sample(feat, grid.to(feat.dtype), mode="bilinear", align_corners=True)  # (B, C, N, 1)
    return out[..., 0].transpose(1, 2)
