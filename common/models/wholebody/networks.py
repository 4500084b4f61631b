"""The body, hand and head networks: a ResNet encoder (ImageNet mean/std inside) + an IEF regressor.

Each network maps images in [0, 1] and initial parameter vectors (``param_vector.py`` layouts) to the vectors
after every IEF stage plus the pooled feature; decoding into rotations is the caller's (``model.py``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from common.models.wholebody.ief import IEFRegressor
from common.models.wholebody.param_vector import BODY_LAYOUT, HAND_LAYOUT, HEAD_LAYOUT
from common.nets.backbone import ResNetBackbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageEncoder(nn.Module):
    """(B, 3, h, w) RGB in [0, 1] -> (B, C) average-pooled last-stage ResNet feature (2048 ResNet-50, 512 ResNet-18).

    ImageNet mean/std normalisation happens here, so batches stay in [0, 1] like the SMPL regressor's.
    """

    def __init__(self, backbone: str, pretrained: str = "", zero_init_residual: bool = False) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(backbone, 3, pretrained, zero_init_residual)
        self.out_channels = self.backbone.out_channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        return self.backbone(x)["layer4"].mean(dim=(2, 3))


class RegressionNetwork(nn.Module):
    """ImageEncoder + IEFRegressor; ``mean`` (P,) is a buffer used when no per-sample init is given (body)."""

    def __init__(self, backbone: str, param_dim: int, mean: Tensor | None = None, pretrained: str = "",
                 zero_init_residual: bool = False, hidden: int = 1024, stages: int = 3,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.encoder = ImageEncoder(backbone, pretrained, zero_init_residual)
        self.regressor = IEFRegressor(self.encoder.out_channels, param_dim, hidden, stages, dropout)
        self.register_buffer("mean", torch.zeros(param_dim) if mean is None else mean.float().reshape(param_dim))

    @property
    def feature_dim(self) -> int:
        return self.encoder.out_channels

    def forward(self, images: Tensor, init: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        """images (B, 3, h, w) [0, 1], init (B, P) (None = the mean) -> ([stage vectors (B, P)], feature (B, C))."""
        feature = self.encoder(images)
        start = self.mean[None] if init is None else init.detach()
        return self.regressor(feature, start), feature


def body_network(backbone: str, mean: Tensor, **kw) -> RegressionNetwork:
    """The body network: ``model.backbone`` + IEF over the 341-d vector, starting at ``mean`` (341,)."""
    return RegressionNetwork(backbone, BODY_LAYOUT.size, mean, **kw)


def hand_network(backbone: str = "resnet18", **kw) -> RegressionNetwork:
    """The hand network (right hands; the left one is mirrored): IEF over the 109-d hand vector."""
    return RegressionNetwork(backbone, HAND_LAYOUT.size, None, **kw)


def head_network(backbone: str = "resnet18", **kw) -> RegressionNetwork:
    """The head network: IEF over the 25-d head vector (no betas: ExPose's head betas are FLAME's)."""
    return RegressionNetwork(backbone, HEAD_LAYOUT.size, None, **kw)
