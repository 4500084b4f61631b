"""3DPW adapters (official pickles and 3DCrowdNet JSON) on a fixture written in both real formats."""
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from adapter_fixtures import ArticulatedToy
from data.adapters.pw3d import Pw3dError, read_pw3d, rest_pelvis_from_models, sanitize_bbox, world_to_camera_smpl
from data.adapters.subsets import PW3D_SUBSETS, SubsetError
from tool.fixtures.pw3d import write_pw3d_fixture


@pytest.fixture(scope="module")
def model():
    return ArticulatedToy()


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("pw3d")
    return root, write_pw3d_fixture(root, model)


def _joints(model, recs):
    t = lambda name: torch.as_tensor(np.stack([getattr(r, name) for r in recs]), dtype=torch.float32)  # noqa: E731
    pose = t("smpl_pose")
    with torch.no_grad():
        return model(pose[:, :3], pose[:, 3:], t("smpl_betas"), t("smpl_transl")).joints.double().numpy()


def test_world_to_camera_conversion_recovers_camera_joints(fixture_root, model):
    root, truth = fixture_root
    recs = read_pw3d(root, "3dpw_crowd", fmt="official", rest_pelvis=rest_pelvis_from_models(model))
    assert len(recs) == 2 * 3 * 2 - 1  # one person-frame has campose_valid = 0
    joints = _joints(model, recs)
    for rec, j in zip(recs, joints):
        seq = truth[rec.sequence]
        i = int(np.flatnonzero(seq["frame_ids"] == rec.meta["frame"])[0])
        gt = seq["joints"][i, rec.person_id]
        assert np.abs(j - gt).max() < 1e-3  # params converted world -> camera reproduce the joints (< 1 mm)
        assert np.abs(rec.joints3d - gt).max() < 1e-3  # jointPositions moved into the camera
        assert np.allclose(rec.smpl_betas, seq["betas"][rec.person_id], atol=1e-6)
        assert rec.image_path.endswith(f"{rec.sequence}/image_{rec.meta['frame']:05d}.jpg")
        assert rec.pose2d_input_convention == "openpose19" and rec.smpl_gender in ("male", "female")
        assert rec.others_smpl_pose is None or rec.others_smpl_pose.shape == (1, 72)


def test_json_format_matches_camera_params_and_uses_hhrnet(fixture_root, model):
    root, truth = fixture_root
    recs = read_pw3d(root, "3dpw_crowd", fmt="crowdnet")
    assert len(recs) == 11
    sources = [r.meta["pose_source"] for r in recs]
    assert sources.count("openpose") == 1 and sources.count("hhrnet") == 10  # one missing detection
    joints = _joints(model, recs)
    for rec, j in zip(recs, joints):
        seq = truth[rec.sequence]
        i = int(np.flatnonzero(seq["frame_ids"] == int(rec.image_path[-9:-4]))[0])
        p = _person(rec, seq, i)
        assert np.allclose(rec.smpl_pose, seq["pose"][i, p], atol=1e-5)
        assert np.abs(j - seq["joints"][i, p]).max() < 1e-3
        assert rec.pose2d_input_convention == ("coco19" if rec.meta["pose_source"] == "hhrnet" else "openpose19")


def _person(rec, seq, i):
    return int(np.argmin([np.abs(seq["transl"][i, p] - rec.smpl_transl).max() for p in range(seq["transl"].shape[1])]))


def test_crops_and_subsets(fixture_root, model):
    root, _ = fixture_root
    pose_crop = read_pw3d(root, "test", fmt="crowdnet")
    gt_crop = read_pw3d(root, "test", fmt="crowdnet", crop="gt")
    assert {r.meta["crop_source"] for r in pose_crop} == {"pose2d"}
    assert {r.meta["crop_source"] for r in gt_crop} == {"gt"}
    assert np.allclose(gt_crop[0].bbox, gt_crop[0].meta["gt_bbox"])
    assert not np.allclose(pose_crop[0].bbox, gt_crop[0].bbox)
    seq_list = read_pw3d(root, "validation/courtyard_hug_00,downtown_bar_00", fmt="crowdnet")
    assert {r.sequence for r in seq_list} == {"courtyard_hug_00", "downtown_bar_00"}
    with pytest.raises(SubsetError, match="downtown_car_00, test/downtown_weeklyMarket_00"):
        read_pw3d(root, "sefd_occlusion", fmt="crowdnet")
    with pytest.raises(SubsetError, match="named subsets: " + ", ".join(PW3D_SUBSETS)):
        read_pw3d(root, "no_such_subset", fmt="official", rest_pelvis=rest_pelvis_from_models(model))


def test_sanitize_bbox_follows_release():
    # x < 0: x1 clipped to 0, width kept (x2 = x1 + w - 1) -> the box is shifted right, as in 3DCrowdNet.
    assert sanitize_bbox(np.array([-10.0, 5, 50, 60]), 100, 100).tolist() == [0.0, 5.0, 49.0, 59.0]
    assert sanitize_bbox(np.array([80.0, 90, 50, 60]), 100, 100).tolist() == [80.0, 90.0, 19.0, 9.0]


def test_world_to_camera_formula_by_hand():
    # Root rotation pi/2 about z with J0 = (0, 1, 0): t_c = R (J0 + t) + T - J0.
    ext = np.eye(4)[None].copy()
    ext[0, :3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    ext[0, :3, 3] = [0, 0, 5]
    pose, transl = world_to_camera_smpl(np.zeros((1, 72)), np.array([[1.0, 0, 0]]), ext, np.array([0, 1.0, 0]))
    assert np.allclose(pose[0, :3], [0, 0, np.pi / 2]) and np.allclose(transl[0], [-1, 1, 5] - np.array([0, 1, 0]))


def _copy(root, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_bad_inputs_name_file_and_field(fixture_root, model, tmp_path):
    root, _ = fixture_root
    bad = _copy(root, tmp_path)
    rp = rest_pelvis_from_models(model)
    pkl = bad / "sequenceFiles" / "test" / "downtown_bar_00.pkl"
    raw = pkl.read_bytes()
    pkl.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(Pw3dError, match=r"downtown_bar_00\.pkl: cannot read the pickle"):
        read_pw3d(bad, "test", fmt="official", rest_pelvis=rp)
    data = pickle.loads(raw, encoding="latin1")
    data["poses2d"][1] = data["poses2d"][1][:, :, :17]
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(Pw3dError, match=r"downtown_bar_00\.pkl: field 'poses2d\[1\]' has shape \(3, 3, 17\)"):
        read_pw3d(bad, "test", fmt="official", rest_pelvis=rp)
    data = pickle.loads(raw, encoding="latin1")
    data["poses"][0][1, 5] = np.nan
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(Pw3dError, match=r"field 'poses\[0\]' contains NaN"):
        read_pw3d(bad, "test", fmt="official", rest_pelvis=rp)
    pkl.write_bytes(raw)
    (bad / "imageFiles" / "downtown_bar_00" / "image_00007.jpg").unlink()
    with pytest.raises(Pw3dError, match=r"image_00007\.jpg: image file not found"):
        read_pw3d(bad, "test", fmt="official", rest_pelvis=rp)
    js = bad / "data" / "3DPW_latest_test.json"
    db = json.loads(js.read_text())
    db["annotations"][0]["openpose_result"] = db["annotations"][0]["openpose_result"][:17]
    js.write_text(json.dumps(db))
    with pytest.raises(Pw3dError, match=r"3DPW_latest_test\.json: field '\d+\.openpose_result' has 51 values"):
        read_pw3d(bad, "test", fmt="crowdnet", check_images=False)
    js.write_text(json.dumps(db)[:100])
    with pytest.raises(Pw3dError, match=r"3DPW_latest_test\.json: invalid JSON"):
        read_pw3d(bad, "test", fmt="crowdnet")


@pytest.fixture(scope="module")
def open_smpl():
    from common.body_models import build_body_model

    return build_body_model("smpl", source="open")


def test_open_model_round_trip_loader_and_evaluator(tmp_path_factory, open_smpl):
    from common.config import load_config
    from common.evaluation.pw3d_evaluator import Pw3dEvaluator
    from data.adapters.pw3d import lazy_rest_pelvis, load_pw3d_records

    root = tmp_path_factory.mktemp("pw3d_open")
    truth = write_pw3d_fixture(root, open_smpl, seed=3)
    cfg = load_config(None, [f"data.roots={{'3dpw': '{root}'}}"])
    official = read_pw3d(root, "test", fmt="official", rest_pelvis=lazy_rest_pelvis(cfg))
    joints = _joints(open_smpl, official)
    for rec, j in zip(official, joints):
        seq = truth[rec.sequence]
        i = int(np.flatnonzero(seq["frame_ids"] == rec.meta["frame"])[0])
        assert np.abs(j - seq["joints"][i, rec.person_id]).max() < 1e-3  # real model: world -> camera < 1 mm
    recs = load_pw3d_records("test", cfg, subset="3dpw_crowd")  # auto format: the JSON files
    assert len(recs) == 11 and {r.meta["pose_source"] for r in recs} == {"hhrnet", "openpose"}
    ev = Pw3dEvaluator(open_smpl, sequences=[r.sequence for r in recs], subset="3dpw_crowd",
                       output_dir=tmp_path_factory.mktemp("ev"))
    ev.reset(len(recs))
    pose = torch.as_tensor(np.stack([r.smpl_pose for r in recs]))
    betas = torch.as_tensor(np.stack([r.smpl_betas for r in recs]))
    with torch.no_grad():
        transl = torch.as_tensor(np.stack([r.smpl_transl for r in recs]))
        verts = open_smpl(pose[:, :3], pose[:, 3:], betas, transl).vertices
    batch = {"index": torch.arange(len(recs)), "smpl_pose": pose, "smpl_betas": betas,
             "smpl_gender": torch.tensor([1 if r.smpl_gender == "male" else 2 for r in recs])}
    ev.process(batch, {"vertices": verts})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == 11 and summary["complete"]
    assert summary["mpjpe"] < 1e-3 and summary["pa_mpjpe"] < 1e-3 and summary["mpvpe"] < 1e-3  # mm
    assert set(summary["per_sequence"]) == {"courtyard_hug_00", "courtyard_dancing_00"}
    assert summary["protocol"]["gt_models"] == {"male": "neutral (fallback)", "female": "neutral (fallback)"}


def test_auto_format_falls_back_to_pickles(fixture_root, model, tmp_path):
    root, _ = fixture_root
    copy = _copy(root, tmp_path)
    (copy / "data" / "3DPW_latest_validation.json").unlink()  # JSON only for the test split now
    recs = read_pw3d(copy, "3dpw_crowd", rest_pelvis=rest_pelvis_from_models(model))
    assert len(recs) == 11 and all("frame" in r.meta and r.joints3d is not None for r in recs)
    assert all("frame" not in r.meta for r in read_pw3d(copy, "test", rest_pelvis=rest_pelvis_from_models(model)))
