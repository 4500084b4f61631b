"""Expert-feature distillation (FuRPE): each part expert's 1024-d feature, projected by a trainable 2-layer MLP
into the student's feature space, is the target distribution of a KL term on the student's feature.

term_p = weight_p * T^2 * KL(softmax(MLP_p(expert_p) / T) || softmax(student_p / T)), summed over the feature
dimension and averaged over the samples whose part label is valid (``batchmean``: the KL of one sample's
distribution, as KL is defined). The release used ``1e5 * KLDivLoss(reduction='mean')``, a mean over B x D
elements, i.e. ``1e5 / D`` x batchmean (D = 2048 body -> ~48.8, D = 512 hands/face -> ~195):
:func:`release_equivalent_weight` gives that factor. The release also never put the MLPs in the optimizer (a
fixed random projection); here they are submodules of :class:`ExpertFeatureDistiller`, so an optimizer over its
``parameters()`` trains them and checkpoints save them. The target is not detached: with a trainable projection
both sides move (a collapse to matching uniform distributions is possible; watch the term and the student's
feature entropy when wiring it).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STUDENT_DIMS = {"body": 2048, "left_hand": 512, "right_hand": 512, "face": 512}  # ExPose/FuRPE feature sizes
EXPERT_DIM = 1024  # FuRPE's save_feature_* size
EXPERT_PARTS = ("body", "left_hand", "right_hand", "face")  # part order of expert features (label files, batches)
RELEASE_SCALE = 1e5


def release_equivalent_weight(student_dim: int) -> float:
    """The weight that makes this batchmean term equal the release's ``1e5 * mean-over-elements`` KL."""
    return RELEASE_SCALE / student_dim


def projection_mlp(expert_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear(expert_dim -> hidden) + ReLU + Linear(hidden -> out_dim) (the release's MLP_feat)."""
    return nn.Sequential(nn.Linear(expert_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def masked_kl_batchmean(student: Tensor, target_logits: Tensor, valid: Tensor, temperature: float = 1.0) -> Tensor:
    """KL(softmax(target/T) || softmax(student/T)) per sample ((B, D) logits), averaged over the ``valid`` (B,)
    samples; 0 (still part of the graph) when none is valid. Invalid rows are indexed out before any arithmetic,
    so a placeholder (zeros, even NaN) there reaches neither the value nor the gradients. Computed in float32."""
    mask = valid.bool().reshape(-1)
    s, t = student[mask].float(), target_logits[mask].float()
    if s.shape[0] == 0:
        return s.sum()  # 0, connected to the graph
    log_q = F.log_softmax(s / temperature, dim=-1)
    log_p = F.log_softmax(t / temperature, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


class ExpertFeatureDistiller(nn.Module):
    """Per part a trainable projection MLP of the expert feature, and the masked batchmean KL against the student.

    Args:
        student_dims: part -> student feature size (default :data:`STUDENT_DIMS`).
        expert_dim: expert feature size (1024 in the release).
        hidden: hidden width per part (default: the student size, as the release: 2048 body, 512 hands/face).
        weights: part -> loss weight (default 1.0 each; :func:`release_equivalent_weight` for the release's scale).
        temperature: softmax temperature T (the release: 1); the term is multiplied by T^2 (Hinton et al.).
    """

    def __init__(self, student_dims: Mapping[str, int] | None = None, expert_dim: int = EXPERT_DIM,
                 hidden: Mapping[str, int] | None = None, weights: Mapping[str, float] | None = None,
                 temperature: float = 1.0):
        super().__init__()
        dims = dict(student_dims or STUDENT_DIMS)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.weights = {part: float((weights or {}).get(part, 1.0)) for part in dims}
        self.projections = nn.ModuleDict({part: projection_mlp(expert_dim, (hidden or {}).get(part, dim), dim)
                                          for part, dim in dims.items()})

    def forward(self, student: Mapping[str, Tensor], expert: Mapping[str, Tensor],
                valid: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``student`` part -> (B, D) features, ``expert`` part -> (B, 1024), ``valid`` part -> (B,) bool (the part
        label passed selection and the expert gave a feature). Returns part -> weighted term (parts present in
        all three mappings) and 'total' (their sum)."""
        out: dict[str, Tensor] = {}
        for part, mlp in self.projections.items():
            if part not in student or part not in expert or part not in valid:
                continue
            mask = valid[part].bool().reshape(-1)
            target = mlp(expert[part][mask].to(mlp[0].weight.dtype))  # invalid rows never enter the MLP
            kl = masked_kl_batchmean(student[part][mask], target, mask[mask], self.temperature)
            out[part] = self.weights[part] * self.temperature ** 2 * kl
        out["total"] = sum(out.values()) if out else torch.zeros((), device=next(self.parameters()).device)
        return out
