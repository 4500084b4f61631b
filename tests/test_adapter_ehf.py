"""EHF adapter and evaluator on a fixture written in the real format (PLY + OpenPose JSON + images)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from adapter_fixtures import ArticulatedToy
from common.evaluation.ehf_evaluator import EHFEvaluator, complete_parts
from data.adapters.ehf import (
    EHF_CAM_TRANSL,
    EHFError,
    capture_to_camera,
    ehf_camera_rotation,
    load_ehf_gt_vertices,
    read_ehf,
    read_openpose_json,
)
from data.adapters.ply import PlyError, read_ply_vertices, write_ply
from tool.fixtures.ehf import write_ehf_fixture


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ehf")
    return root, write_ehf_fixture(root, ArticulatedToy(), frames=3)


def test_camera_transform_is_the_published_one():
    R = ehf_camera_rotation()
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.linalg.norm([-2.98747896, 0.01172457, -0.05704687]) == pytest.approx(np.arccos((np.trace(R) - 1) / 2))
    assert np.allclose(capture_to_camera(np.zeros((1, 3)))[0], EHF_CAM_TRANSL)


def test_round_trip(fixture_root):
    root, truth = fixture_root
    num_v = truth["vertices"].shape[1]
    records = read_ehf(root, num_vertices=num_v)
    assert len(records) == 3 and [r.image_id for r in records] == [1, 2, 3]
    for rec, verts, pose2d in zip(records, truth["vertices"], truth["pose2d"]):
        gt = load_ehf_gt_vertices(rec.meta["mesh_gt_path"], num_v)
        assert np.abs(gt - verts).max() < 1e-5  # float32 PLY -> camera frame
        valid = rec.pose2d_input_valid > 0
        assert rec.pose2d_input_convention == "openpose19" and valid.sum() >= 15
        assert np.abs(rec.pose2d_input[valid] - pose2d[valid]).max() < 1e-3
        assert rec.focal.tolist() == pytest.approx([1498.22426237] * 2) and rec.image_hw == (1200, 1600)
        x, y, w, h = rec.bbox
        assert (rec.pose2d_input[valid, 0] >= x).all() and (rec.pose2d_input[valid, 0] <= x + w).all()
        # every detection in the OpenPose-137 layout (what wholebody.test_crops=keypoints2d places crops from)
        assert rec.joints_convention == "openpose137" and rec.joints2d.shape == (137, 2)
        for start, field in ((0, "pose_keypoints_2d"), (25, "hand_left_keypoints_2d"),
                             (46, "hand_right_keypoints_2d"), (67, "face_keypoints_2d")):
            det = read_openpose_json(Path(root) / f"{rec.meta['frame']}_2Djnt.json")[field]
            rows = slice(start, start + len(det))
            np.testing.assert_allclose(rec.joints2d[rows], det[:, :2], atol=1e-4)
            np.testing.assert_array_equal(rec.joints2d_valid[rows], (det[:, 2] > 0.05).astype(np.float32))


def test_evaluator_on_fixture_gives_zero_for_gt(fixture_root, tmp_path):
    root, truth = fixture_root
    num_v = truth["vertices"].shape[1]
    records = read_ehf(root, num_vertices=num_v)
    parts = complete_parts({"l_hand": range(80, 84), "r_hand": range(84, 88), "face": range(60, 64)}, num_v)
    reg = torch.zeros(14, num_v, dtype=torch.float64)
    reg[torch.arange(14), torch.arange(0, 56, 4)] = 1.0
    ev = EHFEvaluator(lambda i: load_ehf_gt_vertices(records[i].meta["mesh_gt_path"], num_v), parts, reg, tmp_path)
    ev.reset(len(records))
    pred = torch.as_tensor(truth["vertices"]) * 1.1 + 0.2  # a similarity of the GT: every PA error is 0
    ev.process({"index": torch.arange(3)}, {"vertices": pred})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == 3 and summary["pa_v2v_all"] == pytest.approx(0.0, abs=1e-3)
    assert summary["pa_mpjpe_14"] == pytest.approx(0.0, abs=1e-3)
    ev.reset(len(records))
    with pytest.raises(Exception, match="differ"):
        ev.process({"index": torch.arange(3)}, {"vertices": pred[:, :10]})


def test_ply_ascii_and_binary(tmp_path):
    verts = np.random.default_rng(0).normal(size=(5, 3))
    write_ply(tmp_path / "b.ply", verts, np.array([[0, 1, 2]]))
    assert np.allclose(read_ply_vertices(tmp_path / "b.ply"), verts, atol=1e-6)
    lines = ["ply", "format ascii 1.0", "element vertex 5", "property float x", "property float y",
             "property float z", "property uchar red", "end_header"] + [f"{a} {b} {c} 255" for a, b, c in verts]
    (tmp_path / "a.ply").write_text("\n".join(lines) + "\n")
    assert np.allclose(read_ply_vertices(tmp_path / "a.ply"), verts)


def test_bad_inputs_name_file_and_field(fixture_root, tmp_path):
    root, truth = fixture_root
    num_v = truth["vertices"].shape[1]
    bad = tmp_path / "copy"
    shutil.copytree(root, bad)
    raw = (bad / "02_align.ply").read_bytes()
    (bad / "02_align.ply").write_bytes(raw[:-40])
    with pytest.raises(PlyError, match=r"02_align\.ply: truncated vertex data"):
        read_ehf(bad, num_vertices=num_v)
    (bad / "02_align.ply").write_bytes(raw)
    with pytest.raises(EHFError, match=rf"01_align\.ply: GT mesh has {num_v} vertices, expected 10475"):
        read_ehf(bad)
    data = json.loads((root / "03_2Djnt.json").read_text())
    data["people"][0]["pose_keypoints_2d"] = data["people"][0]["pose_keypoints_2d"][:72]
    (bad / "03_2Djnt.json").write_text(json.dumps(data))
    with pytest.raises(EHFError, match=r"03_2Djnt\.json: field 'people\[0\]\.pose_keypoints_2d' has 72 values"):
        read_ehf(bad, num_vertices=num_v)
    (bad / "03_2Djnt.json").write_text(json.dumps(data)[:50])
    with pytest.raises(EHFError, match=r"03_2Djnt\.json: invalid JSON"):
        read_ehf(bad, num_vertices=num_v)
    shutil.copy(root / "03_2Djnt.json", bad / "03_2Djnt.json")
    (bad / "01_img.jpg").unlink()
    with pytest.raises(EHFError, match=r"01_img\.jpg: image file not found"):
        read_ehf(bad, num_vertices=num_v)


def test_open_smplx_fixture_and_evaluator_from_config(tmp_path_factory):
    from common.body_models import build_body_model
    from common.config import load_config
    from data.adapters.ehf import load_ehf_records
    from data.evaluators import ehf_evaluator

    model = build_body_model("smplx", source="open")
    root = tmp_path_factory.mktemp("ehf_open")
    truth = write_ehf_fixture(root, model, frames=2)
    num_v = truth["vertices"].shape[1]
    assert num_v == model.layer.v_template.shape[0]
    cfg = load_config(None, [f"data.roots={{'ehf': '{root}'}}"])
    records = load_ehf_records("test", cfg)
    ev = ehf_evaluator(cfg, model, tmp_path_factory.mktemp("ev"), records)
    assert {"l_hand", "r_hand", "face", "body", "all"} <= set(ev.parts) and len(ev.parts["l_hand"]) > 100
    ev.reset(len(records))
    ev.process({"index": torch.arange(2)}, {"vertices": torch.as_tensor(truth["vertices"], dtype=torch.float32)})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == 2
    for key in ("pa_v2v_all", "pa_v2v_body", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face", "pa_mpjpe_14"):
        assert summary[key] < 0.05, key  # mm; float32 meshes
