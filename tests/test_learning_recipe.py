"""Mean-parameter init, the per-iteration LR schedule and the constant-prediction references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from common.config import ConfigError, load_config
from common.engine.optim import LRFactor, build_scheduler, iterations_per_epoch
from common.evaluation import MeshEvaluator
from common.evaluation.references import ConstantPoseModel, mean_smpl_pose, reference_models
from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.models.crowdnet import CrowdNetRegressor
from common.models.mean_params import MeanParamsError, load_mean_params, write_mean_params
from model_fixtures import TinySMPL as make_tiny_body_model


def _cfg(**train):
    return load_config(None, [f"train.{k}={v}" for k, v in train.items()])


def test_chordal_mean_of_symmetric_rotations_is_the_middle_one():
    angles = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    rots = axis_angle_to_matrix(torch.stack([torch.zeros(3), angles, torch.zeros(3)], 1).double())
    mean = matrix_to_axis_angle(chordal_mean(rots))
    assert torch.allclose(mean, torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64), atol=1e-9)


def test_mean_smpl_pose_of_copies_is_the_pose_with_hands_zeroed():
    pose = np.random.default_rng(0).normal(0, 0.4, 72)
    mean = mean_smpl_pose(np.stack([pose] * 5))
    expected = pose.copy()
    expected[66:] = 0
    assert np.allclose(mean, expected, atol=1e-6)


def test_mean_params_roundtrip_and_bad_file(tmp_path):
    pose = np.random.default_rng(1).normal(0, 0.3, 72)
    path = write_mean_params(tmp_path / "m.npz", pose, np.arange(10) * 0.1)
    params = load_mean_params(str(path))
    assert params.pose6d.shape == (24, 6) and np.allclose(params.betas, np.arange(10) * 0.1)
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose=np.zeros(10))
    with pytest.raises(MeanParamsError, match="bad.npz.*shape"):
        load_mean_params(str(bad))


def test_heads_start_at_the_mean_parameters(tmp_path):
    """With mean-parameter init the untrained regressor predicts (close to) the mean pose and betas."""
    pose = np.random.default_rng(2).normal(0, 0.3, 72)
    pose[:3] = (math.pi * 0.9, 0.0, 0.0)
    betas = np.linspace(-1, 1, 10)
    params = load_mean_params(str(write_mean_params(tmp_path / "m.npz", pose, betas)))
    torch.manual_seed(0)
    model = CrowdNetRegressor(make_tiny_body_model(), backbone="resnet18", input_size=64, mean_params=params).eval()
    batch = {"img": torch.rand(2, 3, 64, 64), "pose2d": torch.rand(2, 30, 2) * 64, "pose2d_valid": torch.ones(2, 30)}
    with torch.no_grad():
        preds = model(batch)
    got = axis_angle_to_matrix(torch.cat([preds["root_pose"], preds["body_pose"][:, :63]], 1).reshape(2, 22, 3))
    want = axis_angle_to_matrix(torch.as_tensor(pose[:66], dtype=torch.float32).reshape(1, 22, 3))
    assert (got - want).abs().max() < 0.1  # head weights are N(0, 0.01): outputs stay near the biases
    assert (preds["betas"] - torch.as_tensor(betas, dtype=torch.float32)).abs().max() < 0.1


def test_step_schedule_matches_epoch_milestones_and_cosine_warmup():
    step = LRFactor("step", iters_per_epoch=10, epochs=5, lr_steps=(2, 4), lr_factor=0.1)
    assert [step(i) for i in (0, 19, 20, 39, 40)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    cos = LRFactor("cosine", iters_per_epoch=10, epochs=2, warmup_iters=5, min_lr_factor=0.1)
    assert cos(0) == pytest.approx(0.2) and cos(4) == pytest.approx(1.0)
    assert cos(19) < cos(10) < cos(5) and cos(20) == pytest.approx(0.1)


def test_scheduler_steps_per_iteration():
    cfg = _cfg(lr=1.0, lr_schedule="cosine", warmup_iters=2, epochs=2)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, cfg.train, iters_per_epoch=3)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0) and lrs[-1] < lrs[2]


@pytest.mark.parametrize("opts, iters, key", [
    ({"warmup_iters": 20, "epochs": 2}, 10, "train.warmup_iters"),
    ({}, 0, "data.batch_size"),
    ({"lr_schedule": "linear"}, 10, "train.lr_schedule"),
])
def test_schedule_that_cannot_run_names_the_key(opts, iters, key):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_scheduler(opt, _cfg(**opts).train, iters_per_epoch=iters)


def test_iterations_per_epoch_respects_the_cap():
    assert iterations_per_epoch(63, 0) == 63 and iterations_per_epoch(63, 10) == 10 and iterations_per_epoch(5, 10) == 5


def _mesh_batch(body, poses):
    n = len(poses)
    return {"index": torch.arange(n), "smpl_pose": torch.as_tensor(poses, dtype=torch.float32),
            "smpl_betas": torch.zeros(n, 10), "smpl_valid": torch.ones(n), "occlusion": torch.zeros(n)}


def test_references_score_zero_when_every_sample_has_the_mean_pose():
    body = make_tiny_body_model()
    pose = np.random.default_rng(3).normal(0, 0.3, 72)
    pose[66:] = 0
    batch = _mesh_batch(body, np.stack([pose] * 4))
    for name, model in reference_models(body, np.stack([pose] * 3)).items():
        ev = MeshEvaluator(body, joint_regressor_name="crowdnet30", eval_joints=list(range(24)))
        ev.reset(4)
        ev.process(batch, model(batch))
        summary = ev.evaluate(None)
        assert summary["mpjpe"] < 1e-3 and summary["pa_mpjpe"] < 1e-3, name


def test_oracle_reference_takes_the_gt_root_only():
    body = make_tiny_body_model()
    rng = np.random.default_rng(4)
    poses = rng.normal(0, 0.3, (4, 72))
    model = ConstantPoseModel(body, np.zeros(72), oracle_root=True)
    out = model(_mesh_batch(body, poses))["vertices"]
    roots = torch.as_tensor(poses[:, :3], dtype=torch.float32)
    want = body(global_orient=roots, body_pose=torch.zeros(4, 69), betas=torch.zeros(4, 10)).vertices
    assert torch.allclose(out, want, atol=1e-6)
