"""Known-answer tests of the embedded open body model (built once into the cache, then shared)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import smplx
import torch

from common.open_model import ensure_open_model, pipeline
from common.open_model.joint_maps import SMPL_JOINT_NAMES, SMPLX_JOINT_NAMES


@pytest.fixture(scope="module")
def paths():
    return ensure_open_model()


@pytest.fixture(scope="module")
def smpl(paths):
    return smplx.SMPL(model_path=str(paths.smpl_path))


def _rest(model, betas=None):
    batch = 1 if betas is None else betas.shape[0]
    kwargs = dict(global_orient=torch.zeros(batch, 3), body_pose=torch.zeros(batch, model.NUM_BODY_JOINTS * 3),
                  betas=torch.zeros(batch, 10) if betas is None else betas)
    with torch.no_grad():
        return model(**kwargs)


def test_smpl_pkl_and_npz_load_identically(paths, smpl):
    data = smplx.utils.Struct(**np.load(paths.smpl_npz_path))
    from_npz = smplx.SMPL(model_path=str(paths.smpl_npz_path), data_struct=data)
    assert smpl.v_template.shape == (13718, 3) and smpl.faces.shape == (27420, 3)
    assert torch.equal(smpl.v_template, from_npz.v_template)
    assert torch.equal(smpl.J_regressor, from_npz.J_regressor)
    assert smpl.J_regressor.shape == (24, 13718) and smpl.lbs_weights.shape == (13718, 24)
    assert torch.allclose(smpl.lbs_weights.sum(1), torch.ones(13718), atol=1e-5)
    assert torch.allclose(smpl.J_regressor.sum(1), torch.ones(24), atol=1e-5)


def test_smpl_rest_joints_are_regressed_template(smpl):
    out = _rest(smpl)
    assert out.joints.shape == (1, 45, 3)  # 24 kinematic + 21 smplx extra-vertex joints
    expected = smpl.J_regressor @ smpl.v_template
    assert torch.allclose(out.joints[0, :24], expected, atol=1e-6)
    assert torch.allclose(out.joints[0, 0], torch.zeros(3), atol=1e-4)  # pelvis at the origin


def test_smpl_anatomy_and_frame(smpl):
    j = _rest(smpl).joints[0]
    name = {n: j[i] for i, n in enumerate(SMPL_JOINT_NAMES)}
    assert name["L_Hip"][0] > 0.05 and name["R_Hip"][0] < -0.05  # person's left at +x
    assert name["Head"][1] > name["Neck"][1] > name["Spine3"][1] > name["Pelvis"][1] > name["L_Knee"][1]
    assert name["L_Wrist"][0] > name["L_Elbow"][0] > name["L_Shoulder"][0] > 0.1  # T-pose, arms along +x
    assert abs(float(name["L_Wrist"][1] - name["L_Shoulder"][1])) < 0.02
    extra = dict(zip(["nose", "reye", "leye", "rear", "lear"], j[24:29]))
    assert extra["nose"][2] > name["Head"][2] + 0.08  # the face looks towards +z
    assert extra["leye"][0] > 0 > extra["reye"][0] and extra["leye"][1] > extra["nose"][1]
    assert extra["lear"][0] > extra["leye"][0] and extra["lear"][2] < extra["leye"][2]
    toes_heel = j[29:35]  # LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel
    assert toes_heel[0, 2] > toes_heel[2, 2] + 0.15 and toes_heel[0, 1] < name["L_Ankle"][1]
    tips = j[35:45]  # left thumb..pinky, right thumb..pinky
    assert (tips[:5, 0] > name["L_Hand"][0]).all() and (tips[5:, 0] < name["R_Hand"][0]).all()
    height = float(smpl.v_template[:, 1].max() - smpl.v_template[:, 1].min())
    assert 1.6 < height < 1.8


def test_betas_change_height_smoothly(smpl):
    b = torch.zeros(9, 10)
    b[:, 0] = torch.linspace(-2, 2, 9)
    v = _rest(smpl, b).vertices
    height = (v[..., 1].max(1).values - v[..., 1].min(1).values).numpy()
    steps = np.diff(height)
    assert (steps > 0.03).all()  # taller with beta0, ~5 cm per 0.5
    assert np.abs(np.diff(steps)).max() < 0.01  # no jumps: nearly linear
    assert 1.4 < height[0] and height[-1] < 2.0


def test_crowdnet30_rows_match_kinematic_joints_for_random_shapes(paths, smpl):
    reg = torch.as_tensor(np.load(paths.regressors_path)["crowdnet30"])
    betas = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    out = _rest(smpl, betas)
    regressed = torch.einsum("jv,bvc->bjc", reg, out.vertices)
    err_mm = (regressed[:, :24] - out.joints[:, :24]).norm(dim=-1) * 1000
    assert err_mm.max() < 2.0
    # the 3DCrowdNet face vertices sit at smplx's default face keypoints (same anatomy, neighbour vertices)
    face_mm = (regressed[:, 24:29] - out.joints[:, [24, 26, 25, 28, 27]]).norm(dim=-1) * 1000
    assert face_mm.max() < 15.0
    assert (regressed[:, 29, 1] > out.vertices[..., 1].max(1).values - 0.01).all()  # head top


def test_regressor_file_and_vertex_sets(paths):
    reg = np.load(paths.regressors_path)
    sets = json.loads(paths.vertex_sets_path.read_text())
    expected = {"crowdnet30": 30, "graph15": 15, "h36m17": 17, "coco17": 17}
    for name, rows in expected.items():
        assert reg[name].shape == (rows, 13718) and reg[name].dtype == np.float32
        assert np.allclose(reg[name].sum(1), 1.0, atol=1e-4) and (reg[name] >= 0).all()
        assert len(sets["regressor_rows"][name]) == rows
    assert np.array_equal(reg["graph15"][8], reg["crowdnet30"][29])  # Head_top row of crowdnet30
    for layout in ("smpl", "smplx"):
        hands = sets[layout]
        assert 500 < len(hands["left_hand"]) == len(hands["right_hand"]) and len(hands["face"]) > 500
        assert not set(hands["left_hand"]) & set(hands["face"])


def test_shape_space_has_unit_variance_on_fresh_anny_bodies(paths):
    from common.open_model import anny_source
    from common.open_model.bodies import sample_bodies
    from common.open_model.tpose import finger_tip_vertices

    model = anny_source.load_anny(rig="makehuman", facial_actions="all")
    weights = anny_source.dense_skinning_weights(model)
    rest = anny_source.rest_geometry(model, anny_source.neutral_phenotype())
    tips = finger_tip_vertices(weights, rest.vertices[0], rest.bone_heads[0], model.bone_labels)
    fresh = sample_bodies(model, weights, tips, num=150, seed=12345, fit_fraction=0.5)
    data = np.load(paths.smpl_npz_path)
    template = torch.as_tensor(data["v_template"])
    anny_vertex_of = json.loads(paths.vertex_sets_path.read_text())["anny_vertex_of"]
    verts = fresh.vertices[:, anny_vertex_of]  # anny vertex order -> open-model order
    dirs = torch.as_tensor(data["shapedirs"]).reshape(-1, 10)
    betas = torch.linalg.lstsq(dirs, (verts - template).reshape(len(verts), -1).T).solution.T
    std = betas.std(0)
    assert ((std[:4] > 0.75) & (std[:4] < 1.3)).all(), std
    assert betas.mean(0)[:4].abs().max() < 0.35


def test_regressor_fit_error_is_reported_and_small(paths):
    manifest = json.loads(paths.manifest_path.read_text())
    err = manifest["regressor_error_mm"]
    assert err["smpl"]["mean"] < 8.0 and err["smplx"]["mean"] < 5.0
    assert manifest["build_seconds"] > 0


def test_smplx_layout_loads_and_behaves(paths):
    model = smplx.SMPLX(model_path=str(paths.smplx_path), ext="npz", use_pca=False)
    created = smplx.create(str(paths.smplx_path), model_type="smplx", gender="neutral", ext="npz")
    assert created.v_template.shape == model.v_template.shape == (13718, 3)
    assert model.J_regressor.shape == (55, 13718) and model.lmk_faces_idx.shape == (51,)
    zeros = {k: torch.zeros(1, d) for k, d in (("global_orient", 3), ("body_pose", 63), ("betas", 10),
                                               ("expression", 10), ("jaw_pose", 3), ("leye_pose", 3),
                                               ("reye_pose", 3), ("left_hand_pose", 45), ("right_hand_pose", 45))}
    with torch.no_grad():
        rest = model(**zeros)
        smiling = model(**{**zeros, "expression": torch.tensor([[2.0] + [0.0] * 9])})
    assert rest.joints.shape[1] == 55 + 21 + 51  # kinematic + extra vertices + face landmarks
    j = rest.joints[0]
    assert SMPLX_JOINT_NAMES[22] == "jaw" and j[22, 1] < j[23, 1]  # jaw below the eyes
    assert j[23, 0] > 0 > j[24, 0]  # left eye at +x
    moved = (smiling.vertices - rest.vertices)[0].norm(dim=-1)
    head_height = rest.vertices[0, :, 1] > j[12, 1]  # above the neck joint
    assert moved[head_height].max() > 0.005 and moved[~head_height].max() < 0.002  # a little neck skin
    assert moved[rest.vertices[0, :, 1] < j[9, 1]].max() < 1e-6  # nothing below the chest joint
    lmk = rest.joints[0, -51:]
    assert (lmk[:, 2] > j[15, 2]).all()  # every landmark on the front of the face
    assert lmk[19 - 17 + 5, 0] > 0 > lmk[19 - 17, 0]  # left brow at +x, right brow at -x
    assert lmk[36 - 17, 1] > lmk[48 - 17, 1] and lmk[30 - 17, 2] == lmk[:, 2].max()  # eyes above mouth; nose tip


def test_build_is_cached(monkeypatch):
    ensure_open_model()

    def fail(*_args, **_kwargs):
        raise AssertionError("rebuilt although the cached model exists")

    monkeypatch.setattr(pipeline, "build_files", fail)
    start = time.perf_counter()
    again = ensure_open_model()
    assert again.complete() and time.perf_counter() - start < 1.0


def test_anny_cannot_download_during_build():
    import anny.paths

    from common.open_model.anny_source import no_anny_downloads

    original = anny.paths.download_noncommercial_data
    with no_anny_downloads():
        with pytest.raises(RuntimeError, match="non-commercial"):
            anny.paths.download_noncommercial_data()
    assert anny.paths.download_noncommercial_data is original
