"""End-to-end consistency of the training targets on real synthetic samples (augmentation on).

A broken frame, unit or flip anywhere between the generator, the adapter and the mapper shows up here: the GT 3D
joints must be the body model's joints at the GT SMPL parameters, and the GT 2D joints must be their projection.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.body_models import body_model_from_config
from common.config import load_config
from data.registry import build_dataset

SMALL_WORLD = ["data.synthetic.num_train_images=6", "data.synthetic.num_test_images=2",
               "data.synthetic.image_size=128", "data.synthetic.max_people=3", "data.synthetic.seed=4321",
               "data.input_size=64"]


@pytest.fixture(scope="module")
def world():
    cfg = load_config("configs/tiny_e2e.yaml", SMALL_WORLD)
    body = body_model_from_config(cfg, kind="smpl")
    return cfg, body


def _mesh_joints(body, sample) -> np.ndarray:
    pose = torch.as_tensor(sample["smpl_pose"]).float()[None]
    betas = torch.as_tensor(sample["smpl_betas"]).float()[None]
    with torch.no_grad():
        joints = body.regress(body(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas).vertices,
                              "crowdnet30")[0]
    return (joints - joints[:1]).double().numpy()


def _to_image(points: np.ndarray, crop_to_img: np.ndarray) -> np.ndarray:
    return points @ crop_to_img[:, :2].T + crop_to_img[:, 2]


def _projection_residual(joints3d: np.ndarray, uv: np.ndarray, focal, princpt) -> float:
    """Max pixel residual of the best root translation t with project(joints3d + t) = uv (linear least squares)."""
    (fx, fy), (cx, cy) = focal, princpt
    du, dv = uv[:, 0] - cx, uv[:, 1] - cy
    n = len(uv)
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 2] = fx, -du
    a[n:, 1], a[n:, 2] = fy, -dv
    rhs = np.concatenate([du * joints3d[:, 2] - fx * joints3d[:, 0], dv * joints3d[:, 2] - fy * joints3d[:, 1]])
    t = np.linalg.lstsq(a, rhs, rcond=None)[0]
    cam = joints3d + t
    proj = np.stack([fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy], 1)
    return float(np.abs(proj - uv).max())


def test_3d_joints_are_the_body_models_joints_at_the_gt_params_with_augmentation(world):
    cfg, body = world
    dataset = build_dataset("synthetic", "train", cfg, train=True, body_model=body)
    checked = 0
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        for index in range(0, len(dataset), 2):
            sample = dataset[index]
            if float(sample["smpl_valid"]) <= 0:
                continue
            err = np.abs(_mesh_joints(body, sample) - sample["joints3d"].double().numpy()).max()
            assert err < 2e-3, (epoch, index, err)  # metres
            checked += 1
    assert checked >= 6


def test_2d_joints_are_the_exact_projection_without_augmentation(world):
    cfg, body = world
    dataset = build_dataset("synthetic", "test", cfg, train=False, body_model=body)
    for index in range(len(dataset)):
        s = dataset[index]
        valid = s["joints2d_valid"].numpy() > 0
        uv = _to_image(s["joints2d"].double().numpy()[valid], s["crop_to_img"].double().numpy())
        residual = _projection_residual(_mesh_joints(body, s)[valid], uv, s["focal"].tolist(), s["princpt"].tolist())
        assert residual < 0.5, (index, residual)  # px in the original image


def test_2d_joints_follow_the_3d_joints_under_rotation_and_flip(world):
    """Augmented crops: the 2D joints are an un-mirrored affine image of the 3D joints' x, y (a flip applied to
    one but not the other, or a left/right swap missing on one side, gives a negative scale or a large residual)."""
    cfg, body = world
    dataset = build_dataset("synthetic", "train", cfg, train=True, body_model=body)
    size, checked = cfg.data.input_size, 0
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(0, len(dataset), 2):
            s = dataset[index]
            valid = s["joints2d_valid"].numpy() > 0
            xy, uv = _mesh_joints(body, s)[valid, :2], s["joints2d"].double().numpy()[valid]
            a = np.concatenate([xy, np.ones((len(xy), 1))], 1)
            sol = np.linalg.lstsq(a, uv, rcond=None)[0]
            residual = np.linalg.norm(a @ sol - uv, axis=1).mean() / size
            det = np.linalg.det(sol[:2])
            assert det > 0 and residual < 0.05, (epoch, index, det, residual)
            checked += 1
    assert checked >= 8
