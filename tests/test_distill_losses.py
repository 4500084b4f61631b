"""Distillation losses: zero for identical features, positive otherwise, gradients to the student only."""
from __future__ import annotations

import math

import pytest
import torch

from common.models.distill_losses import (
    FeatureDistillationLoss,
    at_term,
    fsp_matrix,
    kd_term,
    log_softmax_l1_term,
    pkt_probabilities,
    pkt_term,
)

LAYERS = ("layer1", "layer2", "layer3", "layer4")
SHAPES = {"layer1": (2, 8, 16, 16), "layer2": (2, 16, 8, 8), "layer3": (2, 32, 4, 4), "layer4": (2, 64, 2, 2)}


def features(seed: int, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(*s, generator=g).requires_grad_(requires_grad) for n, s in SHAPES.items()}


def build(kind: str) -> FeatureDistillationLoss:
    weights = (1.0, 1.0, 1.0) if kind == "fsp" else (1.0, 1.0, 1.0, 1.0)
    return FeatureDistillationLoss(kind, LAYERS, weights, scale=1.0)


@pytest.mark.parametrize("kind", ["l1", "kd", "log_softmax_l1", "at", "fsp"])
def test_zero_for_identical_positive_otherwise_student_gets_grads(kind):
    loss = build(kind)
    same = features(0)
    terms = loss(same, {k: v.clone() for k, v in same.items()})
    assert len(terms) == (3 if kind == "fsp" else 4)
    assert all(abs(float(t)) < 1e-6 for t in terms.values())

    student, teacher = features(1, requires_grad=True), features(2, requires_grad=True)
    terms = loss(student, teacher)
    assert all(float(t.detach()) > 0 for t in terms.values())
    sum(terms.values()).backward()
    assert all(student[n].grad is not None and student[n].grad.abs().sum() > 0 for n in LAYERS)
    assert all(teacher[n].grad is None for n in LAYERS)  # teacher features are detached


def test_known_values():
    s = torch.zeros(1, 2, 1, 1)
    t = torch.tensor([[[[math.log(3.0)]], [[0.0]]]])  # softmax_c t = (0.75, 0.25); softmax_c s = (0.5, 0.5)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert math.isclose(float(kd_term(s, t)), kl, rel_tol=1e-5)
    assert math.isclose(float(log_softmax_l1_term(s, t)), abs(math.log(0.5) - math.log(0.75)) / 2
                        + abs(math.log(0.5) - math.log(0.25)) / 2, rel_tol=1e-5)
    a = torch.zeros(1, 1, 1, 2)
    a[..., 0] = 1.0  # attention (1, 0)
    b = torch.zeros(1, 1, 1, 2)
    b[..., 1] = 1.0  # attention (0, 1)
    assert math.isclose(float(at_term(a, b)), 100.0 * (1 + 1) / 2, rel_tol=1e-6)
    first, second = torch.ones(1, 2, 4, 4), torch.full((1, 3, 2, 2), 2.0)
    assert torch.allclose(fsp_matrix(first, second), torch.full((1, 2, 3), 2.0))  # max-pooled to 2x2


def test_weights_scale_and_names():
    loss = FeatureDistillationLoss("l1", ("layer3", "layer4"), (1.0, 2.0), scale=0.5)
    s = features(0)
    t = {k: v + 1.0 for k, v in s.items()}
    terms = loss(s, t)
    assert set(terms) == {"distill_l1_layer3", "distill_l1_layer4"}
    assert math.isclose(float(terms["distill_l1_layer3"]), 0.5, rel_tol=1e-6)
    assert math.isclose(float(terms["distill_l1_layer4"]), 1.0, rel_tol=1e-6)


def test_release_default_log_softmax_l1():
    s, t = features(3), features(4)
    terms = FeatureDistillationLoss("log_softmax_l1", ("layer3", "layer4"), (1.0, 2.0))(s, t)
    ls = torch.nn.functional.log_softmax
    layer3 = (ls(s["layer3"], 1) - ls(t["layer3"], 1)).abs().mean()
    layer4 = (ls(s["layer4"], 1) - ls(t["layer4"], 1)).abs().mean()
    expected = layer3 + 2 * layer4
    assert torch.allclose(sum(terms.values()), expected)


def test_pkt_known_answer():
    """Passalis & Tefas 2018: cosine kernel (cos + 1) / 2 without the diagonal, rows -> p_{j|i},
    loss = sum_i sum_{j != i} pT_{j|i} log(pT_{j|i} / pS_{j|i}). Hand-computed on three 2-D vectors."""
    r = 1 / math.sqrt(2)
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [r, r]])  # kernels: K12 = 0.5, K13 = K23 = (1 + r) / 2
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # K12 = K13 = 0.5, K23 = 1
    k = (1 + r) / 2
    p_s = [[0, 0.5 / (0.5 + k), k / (0.5 + k)], [0.5 / (0.5 + k), 0, k / (0.5 + k)], [0.5, 0.5, 0]]
    p_t = [[0, 0.5, 0.5], [1 / 3, 0, 2 / 3], [1 / 3, 2 / 3, 0]]
    assert torch.allclose(pkt_probabilities(student), torch.tensor(p_s), atol=1e-6)
    assert torch.allclose(pkt_probabilities(teacher), torch.tensor(p_t), atol=1e-6)
    expected = sum(p_t[i][j] * math.log(p_t[i][j] / p_s[i][j]) for i in range(3) for j in range(3) if i != j)
    assert expected > 0.05
    assert math.isclose(float(pkt_term(student, teacher)), expected, rel_tol=1e-5)
    # feature maps are flattened per sample; identical features (or a positive rescaling) give 0
    maps = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    assert abs(float(pkt_term(maps, maps.clone()))) < 1e-6 and abs(float(pkt_term(3.0 * maps, maps))) < 1e-6
    # two samples: each conditional distribution has a single outcome, so the term is 0 by definition
    assert float(pkt_term(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.1]]))) == 0.0


def test_pkt_through_the_loss_module_gets_student_grads_only():
    loss = FeatureDistillationLoss("pkt", ("layer3", "layer4"), (1.0, 2.0))
    g = torch.Generator().manual_seed(3)
    student = {n: torch.randn(4, 8, 2, 2, generator=g, requires_grad=True) for n in ("layer3", "layer4")}
    teacher = {n: torch.randn(4, 8, 2, 2, generator=g, requires_grad=True) for n in ("layer3", "layer4")}
    terms = loss(student, teacher)
    assert set(terms) == {"distill_pkt_layer3", "distill_pkt_layer4"}
    direct = pkt_term(student["layer4"].detach(), teacher["layer4"].detach())
    assert math.isclose(float(terms["distill_pkt_layer4"].detach()), 2 * float(direct), rel_tol=1e-6)
    sum(terms.values()).backward()
    assert all(student[n].grad.abs().sum() > 0 and teacher[n].grad is None for n in student)


def test_bad_settings():
    with pytest.raises(ValueError, match="unknown loss"):
        FeatureDistillationLoss("nope", ("layer4",), (1.0,))
    with pytest.raises(ValueError, match="distill_loss"):
        FeatureDistillationLoss("mse", ("layer4",), (1.0,))
    with pytest.raises(ValueError, match="distill_weights"):
        FeatureDistillationLoss("l1", ("layer3", "layer4"), (1.0,))
    with pytest.raises(ValueError, match="distill_weights"):
        FeatureDistillationLoss("fsp", ("layer2", "layer3", "layer4"), (1.0,))
    per_layer = FeatureDistillationLoss("fsp", ("layer2", "layer3", "layer4"), (5.0, 1.0, 2.0))
    assert per_layer.weights == (1.0, 2.0)  # pair (a, b) takes b's weight
    with pytest.raises(ValueError, match="distill_layers"):
        FeatureDistillationLoss("l1", ("layer5",), (1.0,))
    with pytest.raises(KeyError, match="layer3"):
        FeatureDistillationLoss("l1", ("layer3",), (1.0,))({"layer4": torch.zeros(1)}, {"layer4": torch.zeros(1)})
