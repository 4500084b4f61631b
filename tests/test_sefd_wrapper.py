"""SEFD distillation wrapper: a properly frozen teacher, student-only state, distillation terms, teacher loading."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from common.config import load_config
from common.edges.canny import CannyEdgeChannel
from common.engine.checkpoint import save_checkpoint
from common.engine.optim import build_optimizer
from common.models.crowdnet import CrowdNetRegressor
from common.models.sefd import (
    DistillationWrapper,
    EdgeInputModel,
    build_edge_fn,
    teacher_features,
)
from common.models.sefd_teacher import build_teacher, load_teacher_weights
from common.nets.rcf import RCF, RCFEdgeChannel
from model_fixtures import TinySMPL, random_batch

SIZE = 64


def regressor(seed: int, body_model=None, input_size: int = SIZE) -> CrowdNetRegressor:
    torch.manual_seed(seed)
    return CrowdNetRegressor(body_model, backbone="resnet18", input_size=input_size, in_channels=4)


@pytest.fixture()
def setup():
    body = TinySMPL()
    student, teacher = regressor(0, body), regressor(1)
    batch = random_batch(body, batch_size=2, input_size=SIZE, in_channels=4)
    batch["teacher_edge"] = (torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(5)) > 0.8).float()
    return student, teacher, batch


def bn_stats(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items() if "running_" in k or "num_batches" in k}


def test_teacher_is_frozen_and_outside_the_module_tree(setup):
    student, teacher, batch = setup
    wrapper = DistillationWrapper(student, teacher).train()
    assert not teacher.training and wrapper.student.training  # train() keeps the teacher in eval mode
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not teacher_ids & {id(p) for p in wrapper.parameters()}
    assert not teacher_ids & {id(p) for p in build_optimizer(wrapper, load_config().train).param_groups[0]["params"]}
    assert set(wrapper.state_dict()) == set(student.state_dict())  # no teacher keys, no 'student.' prefix
    wrapper.to(torch.float64)
    assert next(teacher.parameters()).dtype == torch.float64  # follows .to() although unregistered


def test_student_step_leaves_teacher_untouched(setup):
    student, teacher, batch = setup
    wrapper = DistillationWrapper(student, teacher, "log_softmax_l1", ("layer3", "layer4"), (1.0, 2.0)).train()
    before_stats, before_weights = bn_stats(teacher), {k: v.clone() for k, v in teacher.state_dict().items()}
    student_before = student.backbone.conv1.weight.detach().clone()
    optimizer = torch.optim.Adam(wrapper.parameters(), lr=1e-3)
    preds = wrapper(batch)
    assert set(preds["teacher_features"]) == {"layer1", "layer2", "layer3", "layer4"}
    assert not preds["teacher_features"]["layer4"].requires_grad
    terms = wrapper.losses(batch, preds)
    assert {"distill_log_softmax_l1_layer3", "distill_log_softmax_l1_layer4"} <= set(terms)
    assert set(student.losses(batch, preds)) < set(terms)  # the 3DCrowdNet terms are all there too
    optimizer.zero_grad()
    sum(terms.values()).backward()
    optimizer.step()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(before_stats[k], v) for k, v in bn_stats(teacher).items())
    assert all(torch.equal(before_weights[k], v) for k, v in teacher.state_dict().items())
    assert not torch.equal(student.backbone.conv1.weight, student_before)  # the student did learn


def test_release_bn_drift_option(setup):
    student, teacher, batch = setup
    wrapper = DistillationWrapper(student, teacher, teacher_bn_drift=True).train()
    assert teacher.training
    before = bn_stats(teacher)
    wrapper(batch)
    changed = [k for k, v in bn_stats(teacher).items() if "running_mean" in k and not torch.equal(before[k], v)]
    assert changed  # statistics drift like the release; still no gradients
    assert all(not p.requires_grad for p in teacher.parameters())
    wrapper.eval()
    assert not teacher.training


def test_eval_runs_the_student_only(setup):
    student, teacher, batch = setup
    wrapper = DistillationWrapper(student, teacher).eval()
    batch = {k: v for k, v in batch.items() if k != "teacher_edge"}
    with torch.no_grad():
        preds = wrapper(batch)
    assert "teacher_features" not in preds and preds["vertices"].shape[0] == 2
    assert not any(k.startswith("distill") for k in wrapper.losses(batch, preds))


def test_teacher_features_match_the_regressor_forward(setup):
    _, teacher, batch = setup
    teacher.body_model = TinySMPL()
    teacher.return_features = True
    teacher.eval()
    with torch.no_grad():
        expected = teacher({**batch, "edge": batch["teacher_edge"]})["features"]
    got = teacher_features(teacher, batch)
    assert all(torch.allclose(got[k], expected[k]) for k in expected)


def test_edge_fn_fills_missing_edge(setup):
    student, teacher, batch = setup
    calls = []

    def edge_fn(img):
        calls.append(img.shape)
        return torch.zeros(img.shape[0], 1, *img.shape[2:])

    wrapper = DistillationWrapper(student, teacher, edge_fn=edge_fn).eval()
    with torch.no_grad():
        wrapper({k: v for k, v in batch.items() if k != "edge"})
    assert calls == [(2, 3, SIZE, SIZE)]


def test_rejects_three_channel_networks():
    body = TinySMPL()
    rgb = CrowdNetRegressor(body, backbone="resnet18", input_size=SIZE, in_channels=3)
    with pytest.raises(ValueError, match="in_channels=4"):
        DistillationWrapper(rgb, regressor(1))


def test_rgb_only_teacher_control_distils_from_rgb_alone(setup):
    student, _, batch = setup
    torch.manual_seed(1)
    rgb_teacher = CrowdNetRegressor(TinySMPL(), backbone="resnet18", input_size=SIZE, in_channels=3)
    rgb_teacher.return_features = True
    wrapper = DistillationWrapper(student, rgb_teacher).train()
    assert not rgb_teacher.training
    batch = {k: v for k, v in batch.items() if k != "teacher_edge"}  # the control renders no teacher edge
    preds = wrapper(batch)
    with torch.no_grad():
        expected = rgb_teacher(batch)["features"]  # a 3-channel regressor reads batch['img'] only
    assert all(torch.allclose(preds["teacher_features"][k], expected[k]) for k in expected)
    terms = wrapper.losses(batch, preds)
    distill = [k for k in terms if k.startswith("distill")]
    assert len(distill) == 2 and all(torch.isfinite(v) for v in terms.values()), sorted(terms)


def test_rgb_only_teacher_loads_from_a_baseline_checkpoint_and_not_from_an_edge_teacher(tmp_path, setup):
    _, edge_teacher, _ = setup
    student_cfg = ["model.backbone=resnet18", f"data.input_size={SIZE}", "sefd.mode=student"]
    torch.manual_seed(2)
    rgb = CrowdNetRegressor(TinySMPL(), backbone="resnet18", input_size=SIZE, in_channels=3)
    baseline = save_checkpoint(tmp_path / "base" / "ckpt_epoch0001.pth", rgb, epoch=1,
                               cfg=load_config(opts=student_cfg[:2]))
    teacher = save_checkpoint(tmp_path / "teach" / "ckpt_epoch0001.pth", edge_teacher, epoch=1,
                              cfg=load_config(opts=[*student_cfg[:2], "sefd.mode=teacher"]))
    control = load_config(opts=[*student_cfg, "sefd.teacher_edge=none"])
    loaded = build_teacher(control, baseline)
    assert loaded.in_channels == 3 and torch.equal(loaded.backbone.conv1.weight, rgb.backbone.conv1.weight)
    with pytest.raises(ValueError, match="trained on sefd.teacher_edge='smpl_overlap'.*feeds it 'none'"):
        build_teacher(control, teacher)
    with pytest.raises(ValueError, match="ckpt_epoch0001.pth.*input_channels"):
        build_teacher(load_config(opts=student_cfg), baseline)  # an RGB run is no edge teacher


def test_teacher_loading(tmp_path, setup):
    student, teacher, _ = setup
    cfg = load_config(opts=["model.backbone=resnet18", f"data.input_size={SIZE}", "sefd.mode=teacher"])
    with pytest.raises(ValueError, match="teacher_ckpt"):
        build_teacher(cfg)
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_teacher(dataclasses.replace(cfg, sefd=dataclasses.replace(cfg.sefd, teacher_ckpt=str(missing))))
    path = save_checkpoint(tmp_path / "ckpt_epoch0001.pth", teacher, epoch=1, cfg=cfg)
    loaded = build_teacher(dataclasses.replace(cfg, sefd=dataclasses.replace(cfg.sefd, teacher_ckpt=str(path))))
    assert not loaded.training and all(not p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded.backbone.conv1.weight, teacher.backbone.conv1.weight)
    official = tmp_path / "smpl_overlap.pth.tar"  # release layout: {'network': 'module.'-prefixed backbone+pose2feat}
    part = {f"module.{k}": v for k, v in teacher.state_dict().items() if k.startswith(("backbone.", "pose2feat."))}
    torch.save({"epoch": 5, "network": part}, official)
    fresh = load_teacher_weights(regressor(3, input_size=256), official)  # official files are 256 px networks
    assert torch.equal(fresh.pose2feat.conv[0].weight, teacher.pose2feat.conv[0].weight)
    with pytest.raises(ValueError, match="smpl_overlap.pth.tar.*data.input_size 256 .checkpoint. vs 64"):
        load_teacher_weights(regressor(3), official)  # same weight shapes, another input geometry
    with pytest.raises(ValueError, match="ckpt_epoch0001.pth.*data.input_size 64 .checkpoint. vs 256"):
        load_teacher_weights(regressor(3, input_size=256), path)
    del part["module.pose2feat.conv.0.weight"]
    torch.save({"epoch": 5, "network": part}, official)
    with pytest.raises(ValueError, match="smpl_overlap.pth.tar.*pose2feat.conv.0.weight"):
        load_teacher_weights(regressor(3, input_size=256), official)


def test_edge_input_model_keeps_edge_network_out_of_state(setup):
    student, _, batch = setup
    rcf_edge = RCFEdgeChannel(RCF())
    model = EdgeInputModel(student, rcf_edge).train()
    assert not rcf_edge.training and all(not p.requires_grad for p in rcf_edge.parameters())
    assert set(model.state_dict()) == set(student.state_dict())
    assert not {id(p) for p in rcf_edge.parameters()} & {id(p) for p in model.parameters()}
    preds = model({k: v for k, v in batch.items() if k != "edge"})
    assert preds["vertices"].shape[0] == 2 and model.losses(batch, preds)
    model.to(torch.float64)
    assert next(rcf_edge.parameters()).dtype == torch.float64


def test_build_edge_fn():
    cfg = load_config()
    assert isinstance(build_edge_fn(cfg), CannyEdgeChannel)
    rcf_cfg = dataclasses.replace(cfg, sefd=dataclasses.replace(cfg.sefd, edge_source="rcf"))
    with pytest.raises(ValueError, match="rcf_weights"):
        build_edge_fn(rcf_cfg)
    smpl_cfg = dataclasses.replace(cfg, sefd=dataclasses.replace(cfg.sefd, edge_source="smpl_overlap"))
    assert build_edge_fn(smpl_cfg) is None
