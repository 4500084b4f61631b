"""BodyModel over the open model (shared cached build) and over 'official' files (stand-ins written here)."""
from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.body_models import BodyModel, body_model_from_config, build_body_model
from common.open_model import ensure_open_model


@pytest.fixture(scope="module")
def open_smpl() -> BodyModel:
    ensure_open_model()
    return build_body_model("smpl")


def _zeros(batch: int, pose_dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.zeros(batch, 3), torch.zeros(batch, pose_dim), torch.zeros(batch, 10)


def test_open_smpl_forward_any_batch(open_smpl):
    assert open_smpl.kind == "smpl" and open_smpl.num_betas == 10
    assert open_smpl.faces.dtype == torch.long and open_smpl.faces.shape == (27420, 3)
    for batch in (1, 4):
        out = open_smpl(*_zeros(batch, 69))
        assert out.vertices.shape == (batch, 13718, 3) and out.joints.shape == (batch, 24, 3)
    one = open_smpl(*_zeros(1, 69))
    moved = open_smpl(*_zeros(1, 69), transl=torch.tensor([[1.0, 2.0, 3.0]]))
    assert torch.allclose(moved.joints - one.joints, torch.tensor([1.0, 2.0, 3.0]), atol=1e-5)


def test_open_smpl_pose_moves_the_right_joints(open_smpl):
    go, pose, betas = _zeros(1, 69)
    pose[0, 3 * 17:3 * 18] = torch.tensor([0.0, 0.0, -1.2])  # L_Elbow (joint 18) bends
    rest, bent = open_smpl(*_zeros(1, 69)), open_smpl(go, pose, betas)
    moved = (bent.joints - rest.joints).norm(dim=-1)[0]
    assert moved[:19].max() < 1e-5 and moved[20] > 0.1 and moved[22] > 0.1  # wrist and hand move, not the rest


def test_open_regressors_and_names(open_smpl):
    out = open_smpl(*_zeros(2, 69))
    for name, rows in (("crowdnet30", 30), ("graph15", 15), ("h36m17", 17), ("coco17", 17)):
        assert open_smpl.regress(out.vertices, name).shape == (2, rows, 3)
        assert len(open_smpl.joint_names(name)) == rows
    crowd = open_smpl.regress(out.vertices, "crowdnet30")
    assert torch.allclose(crowd[:, :24], out.joints, atol=1e-4)
    assert open_smpl.joint_names()[:3] == ["Pelvis", "L_Hip", "R_Hip"]
    with pytest.raises(KeyError, match="available"):
        open_smpl.regress(out.vertices, "nope")


def test_bad_shapes_are_rejected(open_smpl):
    with pytest.raises(ValueError, match="body_pose"):
        open_smpl(torch.zeros(2, 3), torch.zeros(2, 63), torch.zeros(2, 10))
    with pytest.raises(ValueError, match="betas"):
        open_smpl(torch.zeros(2, 3), torch.zeros(2, 69), torch.zeros(2, 11))


def test_dtype_and_device_follow_the_module(open_smpl):
    model = build_body_model("smpl").to(torch.float64)
    out = model(*(t.double() for t in _zeros(2, 69)))
    assert out.vertices.dtype == torch.float64
    assert model.regress(out.vertices, "h36m17").dtype == torch.float64
    if torch.cuda.is_available():
        cuda = build_body_model("smpl").to("cuda")
        res = cuda(*(t.cuda() for t in _zeros(2, 69)))
        assert res.vertices.is_cuda and cuda.regress(res.vertices, "graph15").is_cuda


def test_open_smplx_with_and_without_extras():
    model = build_body_model("smplx")
    rest = model(*_zeros(3, 63))
    assert rest.joints.shape == (3, 55, 3) and rest.vertices.shape == (3, 13718, 3)
    hands = torch.zeros(3, 45)
    hands[:, 3 * 1 + 2] = 0.8  # left index2 flexes
    posed = model(*_zeros(3, 63), left_hand_pose=hands, expression=torch.ones(3, 10), jaw_pose=torch.full((3, 3), 0.2))
    assert (posed.vertices - rest.vertices).norm(dim=-1).max() > 0.005
    with pytest.raises(ValueError, match="unknown inputs"):
        model(*_zeros(1, 63), tongue_pose=torch.zeros(1, 3))
    assert model.regress(rest.vertices, "crowdnet30").shape == (3, 30, 3)


def test_open_mano_is_the_hand_cut_from_the_open_smplx():
    # was a clear error before the open part models existed (tests/test_wholebody_eval_parts.py pins the paste)
    model = build_body_model("mano", source="open")
    out = model(*_zeros(2, 45))
    assert out.joints.shape == (2, 16, 3) and out.vertices.shape[1] > 745


def test_missing_official_file_names_every_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        build_body_model("smpl", source="official", model_path=str(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "SMPL_NEUTRAL.pkl") in message and str(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl") in message
    assert "smpl.is.tue.mpg.de" in message and "body_model.smpl_path" in message
    with pytest.raises(FileNotFoundError, match="smpl-x.is.tue.mpg.de"):
        build_body_model("smplx", source="official", model_path=str(tmp_path / "missing.npz"))
    with pytest.raises(FileNotFoundError, match="mano.is.tue.mpg.de"):
        build_body_model("mano", source="official", model_path=None)


def test_official_source_reads_files_and_optional_regressors(tmp_path):
    paths = ensure_open_model()
    folder = tmp_path / "models" / "smpl"
    folder.mkdir(parents=True)
    shutil.copy(paths.smpl_npz_path, folder / "SMPL_NEUTRAL.npz")  # stands in for the user's file
    model = build_body_model("smpl", source="official", model_path=str(tmp_path / "models"))
    out = model(*_zeros(2, 69))
    assert out.joints.shape == (2, 24, 3)
    assert model.regress(out.vertices, "coco17").shape == (2, 17, 3)
    with pytest.raises(KeyError, match="h36m_regressor_path"):
        model.regress(out.vertices, "h36m17")
    with pytest.raises(KeyError, match="extra_regressor_path"):
        model.regress(out.vertices, "crowdnet30")
    extra = np.zeros((9, 13718), dtype=np.float32)
    extra[3, 100] = 1.0
    np.save(tmp_path / "J_regressor_extra.npy", extra)
    np.save(tmp_path / "J_regressor_h36m_correct.npy", np.full((17, 13718), 1 / 13718, dtype=np.float32))
    cfg = SimpleNamespace(body_model=SimpleNamespace(
        source="official", smpl_path=str(folder / "SMPL_NEUTRAL.npz"), smplx_path="", mano_path="", gender="neutral",
        h36m_regressor_path=str(tmp_path / "J_regressor_h36m_correct.npy"),
        extra_regressor_path=str(tmp_path / "J_regressor_extra.npy")))
    full = body_model_from_config(cfg, "smpl")
    out = full(*_zeros(1, 69))
    crowd = full.regress(out.vertices, "crowdnet30")
    assert torch.allclose(crowd[0, 29], out.vertices[0, 100]) and torch.allclose(crowd[0, 24], out.vertices[0, 331])
    assert torch.allclose(full.regress(out.vertices, "graph15")[0, 8], out.vertices[0, 100])
    assert full.regress(out.vertices, "h36m17").shape == (1, 17, 3)
    np.save(tmp_path / "bad.npy", np.zeros((17, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="bad.npy"):
        build_body_model("smpl", "official", str(folder), h36m_regressor_path=str(tmp_path / "bad.npy"))


def test_official_mano_from_a_stand_in_file(tmp_path):
    rng = np.random.default_rng(0)
    n_verts, n_joints = 778, 16
    parents = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])
    np.savez(tmp_path / "MANO_RIGHT.npz", v_template=rng.normal(size=(n_verts, 3)) * 0.05,
             f=rng.integers(0, n_verts, size=(1538, 3)), shapedirs=np.zeros((n_verts, 3, 10)),
             posedirs=np.zeros((n_verts, 3, 135)), J_regressor=np.eye(n_joints, n_verts),
             weights=np.eye(n_joints)[rng.integers(0, n_joints, size=n_verts)],
             kintree_table=np.stack([parents, np.arange(n_joints)]), hands_components=np.eye(45),
             hands_mean=np.zeros(45))
    model = build_body_model("mano", source="official", model_path=str(tmp_path))
    out = model(torch.zeros(2, 3), torch.zeros(2, 45), torch.zeros(2, 10))
    assert out.joints.shape == (2, 16, 3) and out.vertices.shape == (2, n_verts, 3)
    assert model.joint_names()[:2] == ["wrist", "index1"]
    with pytest.raises(KeyError, match="no joint regressor"):
        model.regress(out.vertices, "coco17")


def test_zero_posedirs_shortcut_equals_smplx_forward():
    """The open model has zero pose blend shapes: the shortcut must match smplx's full lbs exactly."""
    from common.body_lbs import smpl_skin_without_pose_blend
    from common.body_models import build_body_model

    body = build_body_model("smpl", source="open")
    assert body._skip_pose_blend
    gen = torch.Generator().manual_seed(0)
    pose, betas = torch.randn(3, 72, generator=gen) * 0.5, torch.randn(3, 10, generator=gen)
    transl = torch.randn(3, 3, generator=gen)
    ref = body.layer(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
    verts, joints = smpl_skin_without_pose_blend(body.layer, pose[:, :3], pose[:, 3:], betas, transl)
    assert torch.allclose(verts, ref.vertices, atol=1e-5) and torch.allclose(joints, ref.joints[:, :24], atol=1e-5)
    out = body(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
    assert torch.allclose(out.vertices, ref.vertices, atol=1e-5)
