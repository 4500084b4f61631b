"""Human3.6M and MuCo adapters on fixtures in 3DCrowdNet's JSON layouts, with a toy SMPL-like body.

The toy body rotates a betas-dependent rest skeleton about its rest pelvis J0(betas) and translates it, exactly
like SMPL's global orient / transl, so world->camera fit conversion and the fit-error filter have exact answers.
"""
import json
import logging

import numpy as np
import pytest
import torch

from common.geometry.rotations import axis_angle_to_matrix
from data.adapters.coco_style import AnnotationError
from data.adapters.h36m import camera_frame_smpl, fit_errors_mm, read_h36m
from data.adapters.muco import read_muco
from tool.fixtures.h36m_muco import H36M_FOCAL, H36M_PRINCPT, h36m_camera, write_h36m, write_muco

REST17 = np.array([  # H36M-17 rest joints (m), SMPL canonical frame (y up, facing +z)
    [0, -0.2, 0], [-0.1, -0.25, 0], [-0.1, -0.65, 0], [-0.1, -1.05, 0], [0.1, -0.25, 0], [0.1, -0.65, 0],
    [0.1, -1.05, 0], [0, 0.05, 0], [0, 0.3, 0], [0, 0.4, 0.08], [0, 0.55, 0], [0.18, 0.28, 0], [0.4, 0.28, 0],
    [0.62, 0.28, 0], [-0.18, 0.28, 0], [-0.4, 0.28, 0], [-0.62, 0.28, 0]])
SHAPE = np.random.default_rng(5).normal(0, 0.01, (17 * 3, 10))


def toy_rest_pelvis(betas):
    return REST17[0] + np.asarray(betas) @ SHAPE[:3].T


def toy_joints(pose, betas, transl):
    rest = REST17 + (np.asarray(betas) @ SHAPE.T).reshape(-1, 17, 3)
    j0 = rest[:, :1]
    rot = axis_angle_to_matrix(torch.as_tensor(np.asarray(pose)[:, :3], dtype=torch.float64)).numpy()
    return np.einsum("nij,nkj->nki", rot, rest - j0) + j0 + np.asarray(transl)[:, None]


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    return root, write_h36m(root, toy_joints, toy_rest_pelvis)


def test_h36m_train_records_are_consistent(h36m, caplog):
    root, truth = h36m
    with caplog.at_level(logging.INFO):
        records = read_h36m(root, "train", toy_rest_pelvis, toy_joints, subjects=(1,))
    assert len(records) == 4  # frames 0 and 5 (every 5th) x cameras 1 and 4
    assert "'frame_not_multiple_of_5': 4" in caplog.text
    for rec in records:
        rot, t = h36m_camera(rec.meta["camera"])
        world = truth[(1, rec.meta["frame"])]["world"]
        assert rec.joints3d == pytest.approx(world @ rot.T + t / 1000, abs=1e-6)
        assert rec.joints2d == pytest.approx(rec.joints3d[:, :2] / rec.joints3d[:, 2:] * H36M_FOCAL + H36M_PRINCPT)
        assert rec.has_smpl  # fit error 0 <= 25 mm
        refit = toy_joints(rec.smpl_pose[None], rec.smpl_betas[None], rec.smpl_transl[None])[0]
        assert refit == pytest.approx(rec.joints3d, abs=1e-6)  # camera-frame fit reproduces the camera GT
        assert rec.image_hw == (400, 400) and rec.joints_convention == "h36m17"


def test_h36m_test_split_defaults_and_fit_filter(h36m, tmp_path, caplog):
    root, _ = h36m
    test = read_h36m(root, "test", toy_rest_pelvis, toy_joints)
    assert len(test) == 4 and {r.meta["camera"] for r in test} == {4}  # subjects 9, 11; frames 0, 64; cam 4
    assert {(r.meta["subject"], r.meta["frame"]) for r in test} == {(9, 0), (9, 64), (11, 0), (11, 64)}
    bad = tmp_path / "h36m"
    write_h36m(bad, toy_joints, toy_rest_pelvis, subjects=(1,))
    path = bad / "annotations/Human36M_subject1_SMPL_NeuralAnnot.json"
    fits = json.loads(path.read_text())
    fits["2"]["1"]["5"]["pose"][2] += 0.4  # rotate frame 5's body: tens of mm from the GT joints
    path.write_text(json.dumps(fits))
    with caplog.at_level(logging.INFO):
        records = read_h36m(bad, "train", toy_rest_pelvis, toy_joints, subjects=(1,))
    assert [r.has_smpl for r in records] == [r.meta["frame"] != 5 for r in records]
    assert "'smpl_fit_discarded_err>25mm': 2" in caplog.text
    assert sum(r.has_smpl for r in read_h36m(bad, "train", toy_rest_pelvis, None, subjects=(1,))) == 4


def test_h36m_errors(h36m, tmp_path):
    root, _ = h36m
    with pytest.raises(AnnotationError, match="subject1_smpl_param.json: SMPL fit file not found"):
        read_h36m(root, "train", toy_rest_pelvis, subjects=(1,), smpl_file="smplify")
    with pytest.raises(AnnotationError, match="needs a body model"):
        read_h36m(root, "train", None, subjects=(1,))
    assert len(read_h36m(root, "train", None, subjects=(1,), smpl_file="none")) == 4
    bad = tmp_path / "h36m"
    write_h36m(bad, toy_joints, toy_rest_pelvis, subjects=(1,))
    path = bad / "annotations/Human36M_subject1_joint_3d.json"
    joints = json.loads(path.read_text())
    del joints["2"]["1"]["5"]
    path.write_text(json.dumps(joints))
    with pytest.raises(AnnotationError, match=r"joint_3d.json: no joints for action/subaction/frame \(2, 1, 5\)"):
        read_h36m(bad, "train", toy_rest_pelvis, subjects=(1,))
    with pytest.raises(AnnotationError, match="Human36M_subject5_data.json: annotation file not found"):
        read_h36m(root, "train", toy_rest_pelvis)  # default train subjects include 5


def test_camera_frame_conversion_known_answer():
    rot = axis_angle_to_matrix(torch.tensor([0.1, -0.7, 0.3], dtype=torch.float64)).numpy()
    pose = np.zeros((1, 72))
    pose[0, :3] = [0.2, 0.1, -0.4]
    betas, transl, t_m = np.ones((1, 10)), np.array([[0.3, -0.1, 0.5]]), np.array([0.1, 0.2, 4.0])
    cam_pose, cam_t = camera_frame_smpl(pose, transl, rot, t_m, toy_rest_pelvis(betas))
    expected = toy_joints(pose, betas, transl)[0] @ rot.T + t_m
    assert toy_joints(cam_pose, betas, cam_t)[0] == pytest.approx(expected, abs=1e-9)
    assert fit_errors_mm(expected[None] + 0.01, expected[None], "h36m17") == pytest.approx([0.0], abs=1e-9)


def test_muco(tmp_path, caplog):
    root = tmp_path / "muco"
    truth = write_muco(root, toy_joints)
    with caplog.at_level(logging.INFO):
        records = read_muco(root, joints_fn=toy_joints)
    assert len(records) == 2 and [r.person_id for r in records] == [0, 100]  # the closest of each composite
    assert "'not_closest_to_camera': 4" in caplog.text
    rec = records[0]
    assert rec.joints3d[0] == pytest.approx(truth[0][10], abs=1e-6)  # muco21 Head_top = H36M Head_top, m
    assert rec.has_smpl and rec.others_bbox.shape == (2, 4) and rec.others_smpl_pose.shape == (2, 72)
    assert rec.others_smpl_transl[0] == pytest.approx([0.0, 0.2, 4.8])  # same camera: unchanged
    assert len(read_muco(root, joints_fn=toy_joints, closest_only=False)) == 6
    fits = json.loads((root / "data/smpl_param.json").read_text())
    fits["0"]["pose"][1] += 0.5
    (root / "data/smpl_param.json").write_text(json.dumps(fits))
    records = read_muco(root, joints_fn=toy_joints)
    assert [r.has_smpl for r in records] == [False, True]
    with pytest.raises(AnnotationError, match="unknown split 'test'"):
        read_muco(root, "test")


def test_registry_entries_with_the_open_body_model(tmp_path):
    """GT written from the open SMPL model's own H36M joints: converted fits reproduce them (error ~0 mm)."""
    from common.body_models import build_body_model
    from common.config import load_config
    from data.adapters.h36m import linear_rest_pelvis, load_h36m_records, regressed_joints_fn
    from data.adapters.muco import load_muco_records
    from data.mapper import Mapper
    from data.sample import check_sample

    model = build_body_model("smpl", source="open")
    joints_fn, rest_pelvis = regressed_joints_fn(model), linear_rest_pelvis(model)
    write_h36m(tmp_path / "h36m", joints_fn, rest_pelvis, subjects=(9, 11), frames=(0,), cams=(4,))
    write_muco(tmp_path / "muco", joints_fn, num_images=1, people=2)
    cfg = load_config(opts=[f"data.roots={{h36m: {tmp_path / 'h36m'}, muco: {tmp_path / 'muco'}}}",
                            "data.input_size=64"])
    records = load_h36m_records("test", cfg)
    assert len(records) == 2 and all(r.has_smpl for r in records)
    refit = joints_fn(np.stack([r.smpl_pose for r in records]), np.stack([r.smpl_betas for r in records]),
                      np.stack([r.smpl_transl for r in records]))
    assert fit_errors_mm(refit, np.stack([r.joints3d for r in records]), "h36m17") == pytest.approx([0, 0], abs=0.5)
    assert np.abs(refit - np.stack([r.joints3d for r in records])).max() < 1e-4  # also the absolute position
    muco = load_muco_records("train", cfg)
    assert len(muco) == 1 and muco[0].has_smpl
    sample = Mapper.from_config(cfg, train=True, body_model=model)(records[0], 0)
    check_sample(sample, 64)
    assert float(sample["smpl_valid"]) == 1.0 and float(sample["joints3d_valid"].sum()) > 10
