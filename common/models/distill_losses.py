"""Feature-distillation losses between student and teacher backbone features (SEFD).

Features are (B,C,h,w) maps of the named ResNet stages ``layer1 .. layer4``. Teacher features are always
detached here, so gradients reach the student only. Every term is computed in float32 (AMP-safe).
Under DDP each term is a per-process mean over a fixed number of elements per sample (or a sum divided by the
batch size): with equal per-process batch sizes (the train loader drops partial batches) DDP's gradient average
is the global mean, so these need no cross-process normalisation (unlike ``losses.masked_l1``).

Kinds (``sefd.distill_loss``), as in the SEFD release:
- ``l1``: mean absolute difference per layer.
- ``kd``: KL(softmax_c T || softmax_c S), summed over channels and positions, divided by the batch size.
- ``log_softmax_l1``: mean |log_softmax_c S - log_softmax_c T| (release default: layer3 x1 + layer4 x2).
- ``at``: attention transfer, 100 * mean squared difference of the per-sample L2-normalised maps
  mean_c(F^2) (the release's "code" mode of Zagoruyko & Komodakis).
- ``fsp``: FSP (Gram) matrices between consecutive listed layers, both adaptively max-pooled to the smaller
  map: G = A B^T / (h w) of shape (B, C_a, C_b); term = sum_b,j ||G_s - G_t||_2 over C_a, divided by B.
- ``pkt``: probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018), as the paper defines it (named in
  the release's config but never implemented there). Each sample's feature map is flattened to a vector; the
  cosine kernel K(a, b) = (cos(a, b) + 1) / 2 over the batch, without the diagonal, is turned into conditional
  probabilities p_{j|i} = K(x_i, x_j) / sum_{k != i} K(x_i, x_k); the term is
  sum_i sum_{j != i} p^T_{j|i} log(p^T_{j|i} / p^S_{j|i}), KL(teacher || student) summed over the pairs.
  It needs batches of at least 3 samples to carry information (with 2, each distribution has one outcome).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_LAYERS = ("layer1", "layer2", "layer3", "layer4")
DISTILL_LOSSES = ("l1", "kd", "log_softmax_l1", "at", "fsp", "pkt")
AT_FACTOR = 100.0  # the release multiplies the summed attention-transfer terms by 100
PKT_EPS = 1e-7  # keeps log() finite for a kernel value of 0 (exactly opposite vectors) and zero vectors


def l1_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean |S - T| over all elements."""
    return F.l1_loss(student, teacher)


def kd_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(softmax_c T || softmax_c S) summed over (C,h,w), mean over the batch (KLDivLoss 'batchmean')."""
    return F.kl_div(F.log_softmax(student, dim=1), F.log_softmax(teacher, dim=1), reduction="batchmean",
                    log_target=True)


def log_softmax_l1_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean |log_softmax_c S - log_softmax_c T|."""
    return F.l1_loss(F.log_softmax(student, dim=1), F.log_softmax(teacher, dim=1))


def attention_map(feature: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) -> (B,h*w): channel mean of squared activations, L2-normalised per sample."""
    return F.normalize(feature.pow(2).mean(1).flatten(1), dim=1)


def at_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """100 * mean squared difference of the attention maps."""
    return AT_FACTOR * (attention_map(student) - attention_map(teacher)).pow(2).mean()


def fsp_matrix(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """FSP matrix (B,C1,C2) of two maps (B,C1,h1,w1), (B,C2,h2,w2), pooled to the smaller spatial size."""
    height = min(first.shape[2], second.shape[2])
    width = min(first.shape[3], second.shape[3])
    first = F.adaptive_max_pool2d(first, (height, width)).flatten(2)
    second = F.adaptive_max_pool2d(second, (height, width)).flatten(2)
    return torch.matmul(first, second.transpose(1, 2)) / (height * width)


def fsp_term(student_pair: Sequence[torch.Tensor], teacher_pair: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over (sample, C2) of the L2 norm over C1 of the FSP difference, divided by the batch size."""
    diff = fsp_matrix(*student_pair) - fsp_matrix(*teacher_pair)
    return diff.norm(dim=1).sum() / diff.shape[0]


def pkt_probabilities(feature: torch.Tensor) -> torch.Tensor:
    """(B, ...) features -> (B, B) conditional probabilities p_{j|i} (row i) of the cosine kernel, zero diagonal."""
    x = F.normalize(feature.flatten(1), dim=1, eps=PKT_EPS)
    kernel = (x @ x.t() + 1.0) / 2.0  # in [0, 1]
    off_diagonal = 1.0 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device)
    kernel = kernel * off_diagonal
    return kernel / kernel.sum(1, keepdim=True).clamp_min(PKT_EPS)


def pkt_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """sum_{i != j} p^T_{j|i} log(p^T_{j|i} / p^S_{j|i}) over the batch (0 for fewer than 2 samples)."""
    if student.shape[0] < 2:
        return student.sum() * 0.0
    p_s, p_t = pkt_probabilities(student), pkt_probabilities(teacher)
    mask = 1.0 - torch.eye(p_t.shape[0], dtype=p_t.dtype, device=p_t.device)
    return (mask * p_t * torch.log((p_t + PKT_EPS) / (p_s + PKT_EPS))).sum()


PER_LAYER_TERMS = {"l1": l1_term, "kd": kd_term, "log_softmax_l1": log_softmax_l1_term, "at": at_term,
                   "pkt": pkt_term}


class FeatureDistillationLoss(nn.Module):
    """Weighted distillation terms between named student and teacher features; no parameters.

    ``forward`` returns one entry per layer (``distill_<kind>_<layer>``) or, for ``fsp``, per consecutive
    layer pair (``distill_fsp_<a>_<b>``), each already multiplied by its weight and by ``scale``. For ``fsp``
    ``weights`` has one entry per pair, or one per layer (as the config requires), in which case the pair
    (a, b) takes the weight of its deeper layer b and the first layer's weight is unused.
    """

    def __init__(self, kind: str, layers: Sequence[str], weights: Sequence[float], scale: float = 1.0) -> None:
        super().__init__()
        if kind not in DISTILL_LOSSES:
            raise ValueError(f"sefd.distill_loss: unknown loss {kind!r}; expected one of {DISTILL_LOSSES}")
        layers, weights = tuple(layers), tuple(float(w) for w in weights)
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if not layers or unknown or len(set(layers)) != len(layers):
            raise ValueError(f"sefd.distill_layers: expected distinct names from {FEATURE_LAYERS}, got {layers}")
        if kind == "fsp" and len(layers) < 2:
            raise ValueError(f"sefd.distill_layers: fsp needs at least two layers, got {layers}")
        if kind == "fsp" and len(weights) == len(layers):
            weights = weights[1:]  # one weight per layer (the config's rule): a pair takes its deeper layer's
        expected = len(layers) - 1 if kind == "fsp" else len(layers)
        if len(weights) != expected:
            what = "one per layer or per consecutive layer pair" if kind == "fsp" else "one per layer"
            raise ValueError(
                f"sefd.distill_weights: {kind} with layers {layers} needs {what}, got {weights}"
            )
        if scale < 0 or any(w < 0 for w in weights):
            raise ValueError(f"sefd.distill_scale / distill_weights must be >= 0, got {scale}, {weights}")
        self.kind, self.layers, self.weights, self.scale = kind, layers, weights, float(scale)

    @classmethod
    def from_config(cls, cfg) -> FeatureDistillationLoss:
        """Build from ``cfg.sefd`` (distill_loss, distill_layers, distill_weights, distill_scale)."""
        s = cfg.sefd
        return cls(s.distill_loss, s.distill_layers, s.distill_weights, s.distill_scale)

    def forward(
        self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """student, teacher: {layer name: (B,C,h,w)}; returns {term name: scalar}."""
        missing = [n for n in self.layers if n not in student or n not in teacher]
        if missing:
            raise KeyError(f"distillation features missing for layers {missing}")
        s = {n: student[n].float() for n in self.layers}
        t = {n: teacher[n].detach().float() for n in self.layers}
        for name in self.layers:
            if s[name].shape != t[name].shape:
                raise ValueError(f"{name}: student {tuple(s[name].shape)} vs teacher {tuple(t[name].shape)}")
        if self.kind == "fsp":
            pairs = list(zip(self.layers[:-1], self.layers[1:]))
            return {
                f"distill_fsp_{a}_{b}": self.scale * w * fsp_term((s[a], s[b]), (t[a], t[b]))
                for (a, b), w in zip(pairs, self.weights)
            }
        term = PER_LAYER_TERMS[self.kind]
        return {
            f"distill_{self.kind}_{name}": self.scale * w * term(s[name], t[name])
            for name, w in zip(self.layers, self.weights)
        }
