"""tool/make_mean_params.py: the SMPL file the world's recipes use is what the tool writes, and the whole-body mode
shares its root and body joints, takes jaw and fingers from the world's samplers and loads as wholebody.mean_params."""
from __future__ import annotations

import math

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix
from common.models.mean_params import load_mean_params
from common.models.wholebody.mean_init import load_wholebody_mean_params, write_wholebody_mean_params
from data.synthetic_wholebody.parts import HandSpace
from tool.make_mean_params import mean_synthetic_pose, mean_wholebody_pose


def _toy_space() -> HandSpace:
    rng = np.random.default_rng(1)
    return HandSpace({s: rng.normal(0, 0.2, 45) for s in ("left", "right")},
                     {s: rng.normal(0, 0.1, (45, 45)) for s in ("left", "right")})


def test_committed_smpl_asset_is_the_tools_output(tmp_path):
    from common.models.mean_params import write_mean_params

    path = write_mean_params(str(tmp_path / "m.npz"), mean_synthetic_pose(20000, 0))
    ours, committed = load_mean_params(str(path)), load_mean_params("assets/mean_params_open.npz")
    assert np.allclose(ours.pose6d, committed.pose6d, atol=1e-5) and np.allclose(ours.betas, committed.betas)


def test_wholebody_mean_shares_root_and_body_and_loads(tmp_path):
    pose = mean_wholebody_pose(500, 0, _toy_space())
    assert pose.shape == (55, 3)
    assert np.allclose(pose[0], [math.pi, 0.0, 0.0], atol=1e-6)  # upright, facing the camera
    smpl = mean_synthetic_pose(500, 0).reshape(24, 3)
    assert np.allclose(pose[1:22], smpl[1:22], atol=1e-6)  # SMPL and SMPL-X share joints 1..21
    assert np.allclose(pose[23:25], 0.0)  # eyes at identity
    assert 0.0 < np.linalg.norm(pose[22]) < 0.4  # the world opens half the jaws by 0.05-0.4 rad
    assert (np.linalg.norm(pose[25:], axis=1) > 0).all()  # fingers: the samplers' mean, not flat
    write_wholebody_mean_params(str(tmp_path / "w.npz"), pose)
    params = load_wholebody_mean_params(str(tmp_path / "w.npz"))
    assert torch.allclose(params.body_pose[0], axis_angle_to_matrix(torch.as_tensor(pose[1:22])), atol=1e-5)
    assert torch.allclose(params.right_hand_pose[0], axis_angle_to_matrix(torch.as_tensor(pose[40:55])), atol=1e-5)


def test_committed_wholebody_asset_loads():
    params = load_wholebody_mean_params("assets/mean_params_wholebody_open.npz")
    assert params.body_pose.shape == (1, 21, 3, 3) and torch.isfinite(params.left_hand_pose).all()
    assert float(params.expression.abs().max()) == 0.0 and float(params.betas.abs().max()) == 0.0
