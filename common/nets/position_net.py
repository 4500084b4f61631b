"""PositionNet: 3D joint coordinates by soft-argmax over a per-joint volume predicted from the last feature."""
from __future__ import annotations

from torch import Tensor, nn

from common.nets.heatmaps import sample_volume, soft_argmax_3d


class PositionNet(nn.Module):
    """1x1 conv (no BN/ReLU) to joints x depth_bins channels, read as (J, D, h, w) volumes.

    Keys match the official release: ``conv.0`` = Conv2d(in_channels -> num_joints * depth_bins, 1x1, bias).

    Args:
        in_channels: channels of the backbone's last feature (2048 for ResNet-50).
        num_joints: graph joints (15).
        depth_bins: depth resolution D of the volume (8); its x/y size is the feature map's.
    """

    def __init__(self, in_channels: int = 2048, num_joints: int = 15, depth_bins: int = 8) -> None:
        super().__init__()
        self.num_joints, self.depth_bins = num_joints, depth_bins
        self.conv = nn.Sequential(nn.Conv2d(in_channels, num_joints * depth_bins, kernel_size=1))

    def forward(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, h, w) feature -> coords (B, J, 3) (x, y, z) in voxel units and scores (B, J).

        The score of a joint is its softmax volume sampled trilinearly at the soft-argmax location.
        """
        b, _, h, w = feat.shape
        logits = self.conv(feat).reshape(b, self.num_joints, self.depth_bins, h, w).float()
        coords, probs = soft_argmax_3d(logits)
        return coords, sample_volume(probs, coords)
