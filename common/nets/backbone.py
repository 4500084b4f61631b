"""ResNet backbone split into a stem and the four residual stages (3DCrowdNet's two-pass use).

3DCrowdNet runs the stem (conv1, bn1, relu, maxpool) on the image, fuses the result with joint heatmaps
(:class:`common.nets.pose2feat.Pose2Feat`) and then runs layer1..layer4 on the fused map. Module names follow
torchvision (``conv1, bn1, layer1..layer4``; no ``fc``) so that official checkpoints and torchvision weights
load by name. Input: RGB in [0, 1] without mean/std normalisation (as the official release), optionally with a
4th (edge) channel for SEFD.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
import torchvision
from torch import Tensor, nn

from common.config.validation import BACKBONES as RESNET_NAMES  # one list: the config checks the same names
from common.weights_file import read_weights_file

_WHERE = "common/nets/backbone.py"


class ResNetBackbone(nn.Module):
    """torchvision ResNet without avgpool/fc; ``stem`` and ``forward_layers`` are the two halves.

    Args:
        name: one of ``RESNET_NAMES``.
        in_channels: 3 (RGB) or 4 (RGB + edge map).
        pretrained: '' (random init), 'imagenet' (torchvision IMAGENET1K_V1 weights; downloads) or a path to a
            torchvision-layout ResNet state_dict. 3-channel weights are adapted to 4 input channels
            (channels 1-3 copied, channel 4 ~ N(0, 0.001)).
        zero_init_residual: random init only: the last BatchNorm of every residual block starts at gamma = 0,
            so each block starts as the identity (Goyal et al. 2017); the input (and the 2D-pose heatmaps fused
            after the stem) then reach the last stage unchanged at step 0, which speeds up training from scratch.
    """

    def __init__(self, name: str = "resnet50", in_channels: int = 3, pretrained: str = "",
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if name not in RESNET_NAMES:
            raise ValueError(f"{_WHERE}: unknown backbone {name!r}; choose one of {RESNET_NAMES}")
        if in_channels not in (3, 4):
            raise ValueError(f"{_WHERE}: in_channels must be 3 (RGB) or 4 (RGB + edge), got {in_channels}")
        net = getattr(torchvision.models, name)(weights=None, zero_init_residual=zero_init_residual)
        self.name = name
        self.in_channels = in_channels
        self.conv1 = net.conv1 if in_channels == 3 else nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        if in_channels != 3:
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.stem_channels = 64
        self.out_channels = net.fc.in_features  # 512 (BasicBlock) or 2048 (Bottleneck)
        # channels double per stage: (64, 128, 256, 512) or (256, 512, 1024, 2048)
        self.layer_channels = {f"layer{i}": self.out_channels // 2 ** (4 - i) for i in range(1, 5)}
        if pretrained:
            self.load_pretrained(pretrained)

    def stem(self, x: Tensor) -> Tensor:
        """(B, C_in, S, S) image -> (B, 64, S/4, S/4) early feature."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_layers(self, x: Tensor) -> dict[str, Tensor]:
        """(B, 64, S/4, S/4) -> {'layer1': (B, C1, S/4, S/4), ..., 'layer4': (B, C4, S/32, S/32)}."""
        feats = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            feats[name] = x
        return feats

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Plain single pass: stem then the four stages (named features)."""
        return self.forward_layers(self.stem(x))

    def load_pretrained(self, pretrained: str) -> None:
        """Load 'imagenet' (torchvision download) or a torchvision-layout state_dict file; fc is ignored."""
        if pretrained == "imagenet":
            weights = torchvision.models.get_model_weights(self.name).IMAGENET1K_V1
            state = weights.get_state_dict(progress=True)
            source = f"torchvision {self.name} {weights}"
        else:
            if not os.path.isfile(pretrained):
                raise FileNotFoundError(f"{pretrained}: backbone weights file not found (model.pretrained)")
            state = read_weights_file(pretrained, "backbone weights file")  # ValueError naming the file
            source = pretrained
        self.load_state_dict_adapted(state, source)

    def load_state_dict_adapted(self, state: Mapping[str, Tensor], source: str) -> None:
        """Strictly load a torchvision ResNet state_dict (minus fc), adapting conv1 from 3 to 4 channels."""
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise ValueError(f"{source}: expected a ResNet state_dict, got {type(state).__name__}")
        state = {k.removeprefix("module."): v for k, v in state.items()
                 if not k.removeprefix("module.").startswith("fc.")}
        conv1 = state.get("conv1.weight")
        if conv1 is not None and conv1.shape[1] == 3 and self.in_channels == 4:
            extra = torch.randn(conv1.shape[0], 1, *conv1.shape[2:], dtype=conv1.dtype) * 1e-3
            state["conv1.weight"] = torch.cat([conv1, extra], dim=1)
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
                      if k in own and own[k].shape != v.shape]
        if missing or unexpected or mismatched:
            raise ValueError(f"{source}: not a {self.name} state_dict: missing {missing[:10]}, "
                             f"unexpected {unexpected[:10]}, shape mismatch {mismatched[:10]}")
        self.load_state_dict(state, strict=True)
