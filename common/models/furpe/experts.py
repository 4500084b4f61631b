"""Part experts of the embedded world (FuRPE's SPIN / FrankMocap / DECA roles), trained on GT-placed crops.

Each expert is ``ImageEncoder`` (ResNet, ImageNet mean/std inside) -> ``neck`` Linear(C, 1024) + ReLU, the
1024-d **feature** FuRPE saves per part (``save_feature_*``) -> ``IEFRegressor`` (the whole-body part networks'
iterative error feedback) over a small parameter vector started from ``mean`` (the training set's mean, so an
untrained expert is exactly the constant reference it is measured against):

- ``body`` (whole-person crop): global orientation (camera frame) + 21 body joints (6D each) + 10 betas;
- ``hand`` (right-hand crop; a left hand is mirrored into a right one first): the wrist's GLOBAL rotation (camera
  frame, as the whole-body hand network) + 15 ABSOLUTE finger rotations (the layer's flat-hand convention);
- ``face`` (head crop): jaw (6D) + 10 expression coefficients.

Checkpoints: ``common/engine/expert_checkpoint.py`` (``save_expert`` / ``load_expert``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from common.models.furpe.distill import EXPERT_DIM as FEATURE_DIM
from common.models.wholebody.ief import IEFRegressor
from common.models.wholebody.losses import geodesic
from common.models.wholebody.networks import ImageEncoder
from common.models.wholebody.param_vector import ParamLayout

EXPERT_KINDS = ("body", "hand", "face")
LAYOUTS = {"body": ParamLayout((("global_orient", 6), ("body_pose", 21 * 6), ("betas", 10))),
           "hand": ParamLayout((("wrist", 6), ("hand_pose", 15 * 6))),
           "face": ParamLayout((("jaw_pose", 6), ("expression", 10)))}
ROTATIONS = {"global_orient": None, "body_pose": 21, "wrist": None, "hand_pose": 15, "jaw_pose": None}


def decode(kind: str, vec: Tensor) -> dict[str, Tensor]:
    """(B, P) -> {field: (B, 3, 3) | (B, J, 3, 3) rotation matrices, or (B, n) vectors} of ``LAYOUTS[kind]``."""
    out = {}
    for name, value in LAYOUTS[kind].split(vec).items():
        if name in ROTATIONS:
            joints = ROTATIONS[name]
            value = rot6d_to_matrix(value if joints is None else value.reshape(value.shape[0], joints, 6))
        out[name] = value
    return out


def encode(kind: str, fields: dict[str, Tensor]) -> Tensor:
    """Inverse of :func:`decode` -> (B, P)."""
    return LAYOUTS[kind].join({k: matrix_to_rot6d(v) if k in ROTATIONS else v for k, v in fields.items()})


def mean_vector(kind: str, targets: dict[str, Tensor]) -> Tensor:
    """(P,) start of an expert: per-joint chordal mean of the target rotations, arithmetic mean of the vectors
    (``targets``: {field: (N, ...)} as :func:`decode` gives them)."""
    mean = {k: (chordal_mean(v.double()).float() if k in ROTATIONS else v.float().mean(0))[None]
            for k, v in targets.items()}
    return encode(kind, mean)[0]


class PartExpert(nn.Module):
    """``forward(images (B, 3, s, s) in [0, 1]) -> decoded fields + 'feature' (B, 1024) + 'vector' (B, P)``.

    Args: kind ('body' | 'hand' | 'face'), backbone (ResNet name), crop_size (px, the crops it was trained on),
    mean (P,) start (None = zeros = identity rotations), ief_hidden / ief_stages / ief_dropout (IEFRegressor),
    pretrained / zero_init_residual (ImageEncoder).
    """

    def __init__(self, kind: str, backbone: str = "resnet18", crop_size: int = 64, mean: Tensor | None = None,
                 ief_hidden: int = 1024, ief_stages: int = 3, ief_dropout: float = 0.5, pretrained: str = "",
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if kind not in EXPERT_KINDS:
            raise ValueError(f"common/models/furpe/experts.py: unknown expert kind {kind!r} ({EXPERT_KINDS})")
        self.kind, self.crop_size, size = kind, crop_size, LAYOUTS[kind].size
        self.hparams = {"kind": kind, "backbone": backbone, "crop_size": crop_size, "ief_hidden": ief_hidden,
                        "ief_stages": ief_stages, "ief_dropout": ief_dropout,
                        "zero_init_residual": zero_init_residual}
        self.encoder = ImageEncoder(backbone, pretrained, zero_init_residual)
        self.neck = nn.Sequential(nn.Linear(self.encoder.out_channels, FEATURE_DIM), nn.ReLU(inplace=True))
        self.regressor = IEFRegressor(FEATURE_DIM, size, ief_hidden, ief_stages, ief_dropout)
        start = encode(kind, decode(kind, torch.zeros(1, size)))[0] if mean is None else mean.float().reshape(size)
        self.register_buffer("mean", start.clone())

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        feature = self.neck(self.encoder(images.float()))
        vec = self.regressor(feature, self.mean[None])[-1]
        return dict(decode(self.kind, vec), feature=feature, vector=vec)

    def constant(self, batch: int) -> dict[str, Tensor]:
        """The expert's start (its constant reference) decoded for ``batch`` samples."""
        return decode(self.kind, self.mean[None].expand(batch, -1))


def expert_loss(out: dict[str, Tensor], target: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """Sum over the target's fields of the mean geodesic angle (rad; rotations) or the mean squared error
    (vectors); returns (total, {field: value}) for logging."""
    terms = {}
    for name, value in target.items():
        pred = out[name]
        terms[name] = geodesic(pred, value).mean() if name in ROTATIONS else ((pred - value) ** 2).mean()
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}
