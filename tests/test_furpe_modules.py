"""FuRPE modules: expert-feature distillation (trainable projections), learned loss weights, the EMA teacher."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.models.furpe.distill import ExpertFeatureDistiller, masked_kl_batchmean, release_equivalent_weight
from common.models.furpe.ema import EMATeacher, ema_momentum
from common.models.furpe.uncertainty import UncertaintyWeighting


def test_projection_mlps_train_and_the_kl_is_batchmean():
    torch.manual_seed(0)
    dims = {"body": 32, "face": 16}
    distiller = ExpertFeatureDistiller(dims, expert_dim=24, weights={"body": 2.0})
    student_head = nn.Linear(8, 48)
    opt = torch.optim.SGD(list(student_head.parameters()) + list(distiller.parameters()), lr=0.5)
    before = {k: v.clone() for k, v in distiller.state_dict().items()}
    assert set(before) == {f"projections.{p}.{i}.{w}" for p in dims for i in (0, 2) for w in ("weight", "bias")}
    feats = student_head(torch.randn(5, 8))
    student = {"body": feats[:, :32], "face": feats[:, 32:]}
    expert = {"body": torch.randn(5, 24), "face": torch.full((5, 24), float("nan"))}  # no face feature: NaN
    valid = {"body": torch.tensor([1, 1, 0, 1, 0]).bool(), "face": torch.zeros(5, dtype=torch.bool)}
    out = distiller(student, expert, valid)
    # body: 2 x batchmean KL over the three valid samples; face: no valid sample -> 0
    keep = valid["body"]
    target = distiller.projections["body"](expert["body"][keep])
    ref = F.kl_div(F.log_softmax(student["body"][keep], -1), F.softmax(target, -1), reduction="batchmean")
    assert torch.allclose(out["body"], 2.0 * ref, atol=1e-6) and float(out["face"].detach()) == 0.0
    out["total"].backward()
    opt.step()
    after = distiller.state_dict()
    assert not torch.equal(after["projections.body.0.weight"], before["projections.body.0.weight"])
    assert not torch.equal(after["projections.body.2.weight"], before["projections.body.2.weight"])
    assert torch.equal(after["projections.face.0.weight"], before["projections.face.0.weight"])  # no valid face


def test_release_weight_reproduces_the_release_scale():
    student, target = torch.randn(4, 512), torch.randn(4, 512)
    # the release: 1e5 * KLDivLoss(reduction='mean'), a mean over all B x D elements
    release = 1e5 * F.kl_div(F.log_softmax(student, -1), F.softmax(target, -1), reduction="sum") / student.numel()
    ours = release_equivalent_weight(512) * masked_kl_batchmean(student, target, torch.ones(4, dtype=torch.bool))
    assert torch.allclose(ours, release, rtol=1e-5)
    default = ExpertFeatureDistiller()
    assert default.projections["body"][2].out_features == 2048
    assert default.projections["left_hand"][2].out_features == 512
    assert default.projections["face"][0].in_features == 1024


def test_uncertainty_weights_learn_and_are_exposed():
    weighting = UncertaintyWeighting()
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([0.5, -0.2, 0.1]))
    losses = {"body": torch.tensor(2.0), "face": torch.tensor(3.0)}  # no hand term in this batch
    total = weighting(losses)
    assert math.isclose(float(total.detach()), math.exp(-0.5) * 2 + 0.5 + math.exp(-0.1) * 3 + 0.1, rel_tol=1e-6)
    opt = torch.optim.SGD(weighting.parameters(), lr=0.1)
    total.backward()
    opt.step()
    s = weighting.log_vars.detach()
    assert s[0] != 0.5 and s[2] != 0.1 and float(s[1]) == pytest.approx(-0.2)  # absent group untouched
    values = weighting.values()
    assert set(values) == {"s_body", "s_hands", "s_face", "w_body", "w_hands", "w_face"}
    assert values["w_body"] == pytest.approx(math.exp(-values["s_body"]))
    with pytest.raises(KeyError, match="hand"):
        weighting({"hand": torch.tensor(1.0)})


def test_ema_teacher_follows_the_cosine_schedule_exactly():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    total_steps = 5
    teacher = EMATeacher(student, total_steps)
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    assert not any(p.requires_grad for p in teacher.module.parameters())
    assert all(not k.startswith("module") for k in student.state_dict())
    opt_ids = {id(p) for group in opt.param_groups for p in group["params"]}
    assert not opt_ids & {id(p) for p in teacher.module.parameters()}
    expected = {k: v.detach().clone().double() for k, v in student.named_parameters()}
    taus = []
    for step in range(total_steps + 1):
        student.train()
        loss = student(torch.randn(6, 3)).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        tau = teacher.update(student)
        taus.append(tau)
        want = 1 - (1 - 0.996) * (math.cos(math.pi * step / total_steps) + 1) / 2
        assert tau == pytest.approx(want, abs=1e-15)
        for name, p in student.named_parameters():
            expected[name] = tau * expected[name] + (1 - tau) * p.detach().double()
        for name, p in teacher.module.named_parameters():
            assert torch.allclose(p.double(), expected[name], atol=1e-6), (step, name)
        assert torch.equal(teacher.module[1].running_mean, student[1].running_mean)  # buffers copied
    assert taus[0] == pytest.approx(0.996) and taus[-1] == 1.0 and ema_momentum(99, 5) == 1.0
    teacher.module.train()
    out = teacher(torch.randn(2, 3))
    assert not teacher.module.training and not out.requires_grad
    state = teacher.state_dict()
    clone = EMATeacher(student, total_steps)
    clone.load_state_dict(state)
    assert clone.step == total_steps + 1
