"""Pose2Feat: fuse the backbone's early feature with rendered input-joint heatmaps (3DCrowdNet)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Pose2Feat(nn.Module):
    """concat(early feature, joint heatmaps) -> Conv3x3 + BN + ReLU -> pose-guided early feature.

    Keys match the official release: ``conv.0`` (Conv2d, bias) and ``conv.1`` (BatchNorm2d).

    Args:
        num_joints: heatmap channels (3DCrowdNet: 30).
        feat_channels: channels of the early feature and of the output (ResNet stem: 64).
    """

    def __init__(self, num_joints: int = 30, feat_channels: int = 64) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.conv = nn.Sequential(
            nn.Conv2d(feat_channels + num_joints, feat_channels, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(feat_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, early_feat: Tensor, heatmaps: Tensor) -> Tensor:
        """(B, C, h, w) feature + (B, J, h, w) heatmaps -> (B, C, h, w); the image feature comes first."""
        return self.conv(torch.cat([early_feat, heatmaps.to(early_feat.dtype)], dim=1))
