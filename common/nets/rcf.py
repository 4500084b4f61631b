"""RCF edge detector (Liu et al., CVPR 2017) in the layout of the RCF-PyTorch weights SEFD used.

Architecture (parameter names = state_dict keys of the published ``RCFcheckpoint_epoch12.pth``):
- VGG16 body ``conv1_1 .. conv5_3`` (3x3, ReLU); 2x2 max-pools with ceil mode after stages 1-3, a stride-1
  2x2 max-pool after stage 4, and conv5_* dilated by 2 (so stage 5 stays at 1/8 resolution).
- every conv ``convX_Y`` has a 1x1 side conv ``convX_Y_down`` to 21 channels; the side maps of one stage are
  summed and scored by ``score_dsnX`` (21 -> 1).
- stage scores 2..5 are upsampled by fixed bilinear transposed convolutions (kernel 4/8/16/32, stride
  2/4/8/8, as in the SEFD copy) and centre-cropped to the input size; ``score_final`` (5 -> 1) fuses them.
- outputs: sigmoid of the five side scores and of the fused score; the fused map is the edge channel.
Input: BGR, 0-255, minus the Caffe VGG means (see :func:`rcf_input_from_rgb`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from common.weights_file import read_weights_file

CAFFE_BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)  # B, G, R means of the VGG/RCF training images
VGG_STAGES = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convs)
SIDE_CHANNELS = 21
UPSAMPLE = {2: (4, 2), 3: (8, 4), 4: (16, 8), 5: (32, 8)}  # stage -> (bilinear kernel, stride)


def bilinear_upsample_kernel(size: int) -> torch.Tensor:
    """(1,1,size,size) transposed-conv weight that performs bilinear interpolation (FCN/HED construction)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1.0 - (torch.arange(size, dtype=torch.float64) - center).abs() / factor
    return torch.outer(ramp, ramp).float()[None, None]


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop (B,C,H',W') to (B,C,height,width) around the centre (offset rounded like the RCF code)."""
    top = int(round((x.shape[2] - height) / 2.0))
    left = int(round((x.shape[3] - width) / 2.0))
    return x[:, :, top : top + height, left : left + width]


def rcf_input_from_rgb(img: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB in [0, 1] -> RCF input: BGR, 0-255, minus the Caffe means."""
    mean = torch.tensor(CAFFE_BGR_MEAN, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return img.flip(1) * 255.0 - mean


class RCF(nn.Module):
    """RCF edge network; ``forward`` returns [side1, ..., side5, fused], each (B,1,H,W) in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        for stage, (c_in, c_out, n_convs) in enumerate(VGG_STAGES, start=1):
            dilation = 2 if stage == 5 else 1
            for j in range(1, n_convs + 1):
                conv = nn.Conv2d(c_in if j == 1 else c_out, c_out, 3, padding=dilation, dilation=dilation)
                self.add_module(f"conv{stage}_{j}", conv)
                self.add_module(f"conv{stage}_{j}_down", nn.Conv2d(c_out, SIDE_CHANNELS, 1))
            self.add_module(f"score_dsn{stage}", nn.Conv2d(SIDE_CHANNELS, 1, 1))
        self.score_final = nn.Conv2d(5, 1, 1)
        for stage, (size, _) in UPSAMPLE.items():  # fixed, not learnt, not saved
            self.register_buffer(f"upsample{stage}", bilinear_upsample_kernel(size), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """RCF's initialisation: conv weights N(0, 0.01), biases 0, fusion weights 0.2 (an equal average)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.score_final.weight, 0.2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (B,3,H,W) preprocessed with :func:`rcf_input_from_rgb`."""
        height, width = x.shape[2:]
        scores = []
        for stage, (_, _, n_convs) in enumerate(VGG_STAGES, start=1):
            if stage in (2, 3, 4):
                x = F.max_pool2d(x, 2, stride=2, ceil_mode=True)
            elif stage == 5:
                x = F.max_pool2d(x, 2, stride=1, ceil_mode=True)
            side = 0.0
            for j in range(1, n_convs + 1):
                x = F.relu(getattr(self, f"conv{stage}_{j}")(x))
                side = side + getattr(self, f"conv{stage}_{j}_down")(x)
            score = getattr(self, f"score_dsn{stage}")(side)
            if stage in UPSAMPLE:
                kernel = getattr(self, f"upsample{stage}").to(score.dtype)
                score = F.conv_transpose2d(score, kernel, stride=UPSAMPLE[stage][1])
            scores.append(center_crop(score, height, width))
        fused = self.score_final(torch.cat(scores, dim=1))
        return [torch.sigmoid(s) for s in scores + [fused]]

    @torch.no_grad()
    def edge_map(self, img: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in [0, 1] -> (B,1,H,W) fused edge probability (the SEFD 'RCF' channel)."""
        return self(rcf_input_from_rgb(img))[-1]


class RCFEdgeChannel(nn.Module):
    """RGB crops (B,3,H,W) in [0, 1] -> (B,1,H,W) RCF fused edge map: the 'rcf' edge channel of SEFD."""

    def __init__(self, rcf: RCF) -> None:
        super().__init__()
        self.rcf = rcf

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.rcf.edge_map(img)


def load_rcf_weights(model: RCF, path: str | Path) -> RCF:
    """Load RCF-PyTorch weights strictly: a state_dict or {'state_dict': ...}; a 'module.' prefix is dropped.

    Raises one error naming the file and every missing / unexpected / wrongly shaped key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: RCF weights not found (set sefd.rcf_weights to the RCF-PyTorch file)")
    checkpoint = read_weights_file(path, "RCF weights file")  # ValueError naming the file
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict or a dict with 'state_dict', got {type(checkpoint)}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"{path}: not RCF-PyTorch weights for this architecture: missing keys {missing}, "
            f"unexpected keys {unexpected}, wrong shapes {wrong_shape}"
        )
    model.load_state_dict(state, strict=True)
    return model


def build_rcf(weights_path: str | Path | None) -> RCF:
    """An RCF in eval mode with frozen parameters; loads ``weights_path`` unless it is None or ''."""
    model = RCF()
    if weights_path:
        load_rcf_weights(model, weights_path)
    model.requires_grad_(False)
    return model.eval()
