"""Whole-body evaluation paths on GT-derived predictions: FreiHAND (metrics + pred.json), NoW export, EHF part
files; and the bad-input errors of the FreiHAND and EHF folders (one line, naming the file)."""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from adapter_fixtures import ArticulatedToy
from common.evaluation.freihand_evaluator import FreiHANDEvaluator, freihand_keypoints
from common.evaluation.now_export import NOW_LANDMARKS_51, NoWExporter, barycentric_points, open_head_cut
from data.adapters.ehf import EHFError, read_ehf
from data.adapters.freihand import FreiHANDError, read_freihand
from tool.fixtures.ehf import write_ehf_fixture
from tool.fixtures.freihand import write_freihand_fixture


@pytest.fixture(scope="module")
def freihand(tmp_path_factory):
    root = tmp_path_factory.mktemp("freihand")
    return root, write_freihand_fixture(root, num_samples=4)


def _similar(points: np.ndarray, seed: int = 0) -> torch.Tensor:
    """A similarity transform of (N, K, 3) points: every PA error of it is 0."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    return torch.as_tensor(1.2 * points @ q.T + np.array([0.1, -0.2, 0.3]))


def test_freihand_gt_predictions_score_zero_and_write_pred_json(freihand, tmp_path):
    root, truth = freihand
    ev_truth = truth["evaluation"]
    records = read_freihand(root, "evaluation")
    ev = FreiHANDEvaluator([r.meta["index"] for r in records], ev_truth["xyz"], ev_truth["verts"], output_dir=tmp_path)
    ev.reset(len(records))
    xyz, verts = _similar(ev_truth["xyz"]), _similar(ev_truth["verts"])
    ev.process({"index": torch.arange(4)}, {"hand_joints": xyz, "hand_vertices": verts})
    summary = ev.evaluate()
    assert summary["pa_mpjpe"] == pytest.approx(0, abs=1e-6) and summary["pa_mpvpe"] == pytest.approx(0, abs=1e-6)
    assert summary["f_5mm"] == pytest.approx(1.0) and summary["f_15mm"] == pytest.approx(1.0)
    pred = json.loads((tmp_path / "pred.json").read_text())
    assert len(pred) == 2 and np.asarray(pred[0]).shape == (4, 21, 3) and np.asarray(pred[1]).shape == (4, 778, 3)
    assert np.allclose(pred[0], xyz.numpy()) and "export_note" not in summary
    # a wrong hand is scored as wrong
    ev.reset(len(records))
    ev.process({"index": torch.arange(4)}, {"hand_joints": xyz.flip(0), "hand_vertices": verts.flip(0)})
    worse = ev.evaluate()
    assert worse["pa_mpjpe"] > 1.0 and worse["f_5mm"] < 0.9


def test_freihand_keypoints_of_the_open_mano_and_non_mano_export(freihand, tmp_path):
    from common.body_models import build_body_model

    mano = build_body_model("mano", source="open")
    gen = torch.Generator().manual_seed(0)
    out = mano(torch.zeros(4, 3), 0.3 * torch.randn(4, 45, generator=gen), torch.zeros(4, 10))
    kp = freihand_keypoints(out.joints, out.vertices)
    assert kp.shape == (4, 21, 3)
    assert torch.equal(kp[:, 0], out.joints[:, 0]) and torch.equal(kp[:, 4], out.vertices[:, 744])  # thumb tip
    assert torch.equal(kp[:, 8], out.vertices[:, 320]) and torch.equal(kp[:, 5], out.joints[:, 1])  # index
    root, truth = freihand
    ev = FreiHANDEvaluator(range(4), truth["evaluation"]["xyz"], truth["evaluation"]["verts"], output_dir=tmp_path)
    ev.reset(4)
    ev.process({"index": torch.arange(4)}, {"hand_joints": _similar(truth["evaluation"]["xyz"]),
                                            "hand_vertices": out.vertices.double()})
    summary = ev.evaluate()
    assert summary["pa_mpjpe"] == pytest.approx(0, abs=1e-6) and summary["pa_mpvpe"] is None
    assert "778" in summary["export_note"] and (tmp_path / "pred.json").is_file()


@pytest.mark.parametrize("name", ["xyz", "verts", "mano"])
def test_freihand_annotation_count_mismatch_names_the_file(freihand, tmp_path, name):
    root, _ = freihand
    bad = tmp_path / "copy"
    shutil.copytree(root, bad)
    data = json.loads((bad / f"evaluation_{name}.json").read_text())
    (bad / f"evaluation_{name}.json").write_text(json.dumps(data[:3]))
    with pytest.raises(FreiHANDError) as info:
        read_freihand(bad, "evaluation")
    assert f"evaluation_{name}.json: 3 samples but the K file has 4" in str(info.value)
    assert "\n" not in str(info.value)


def test_freihand_image_count_mismatch_names_the_folder(freihand, tmp_path):
    root, _ = freihand
    bad = tmp_path / "copy"
    shutil.copytree(root, bad)
    shutil.copy(bad / "evaluation" / "rgb" / "00000000.jpg", bad / "evaluation" / "rgb" / "00000004.jpg")
    with pytest.raises(FreiHANDError, match=r"rgb: 5 images but evaluation_K\.json has 4 samples") as info:
        read_freihand(bad, "evaluation")
    assert "\n" not in str(info.value)
    (bad / "training" / "rgb" / "00000015.jpg").unlink()  # training: 4 versions x 4 samples
    with pytest.raises(FreiHANDError, match=r"00000015\.jpg: image file not found"):
        read_freihand(bad, "training", versions=("gs",))


@pytest.fixture(scope="module")
def ehf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ehf")
    return root, write_ehf_fixture(root, ArticulatedToy(), frames=3)


def test_ehf_missing_ply_names_the_file(ehf, tmp_path):
    root, truth = ehf
    bad = tmp_path / "copy"
    shutil.copytree(root, bad)
    (bad / "02_align.ply").unlink()
    with pytest.raises(EHFError, match=r"02_align\.ply: GT mesh not found") as info:
        read_ehf(bad, num_vertices=truth["vertices"].shape[1])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("field,values", [("hand_right_keypoints_2d", 60), ("face_keypoints_2d", 204)])
def test_ehf_mis_sized_openpose_array_names_file_and_field(ehf, tmp_path, field, values):
    root, truth = ehf
    bad = tmp_path / "copy"
    shutil.copytree(root, bad)
    data = json.loads((bad / "01_2Djnt.json").read_text())
    data["people"][0][field] = [0.0] * values
    (bad / "01_2Djnt.json").write_text(json.dumps(data))
    with pytest.raises(EHFError, match=rf"01_2Djnt\.json: field 'people\[0\]\.{field}' has {values} values"):
        read_ehf(bad, num_vertices=truth["vertices"].shape[1])


def test_ehf_part_files_official_style_equal_the_open_vertex_sets():
    """The open cut writes MANO_SMPLX_vertex_ids.pkl / SMPL-X__FLAME_vertex_ids.npy; read as the official pair
    (adapter option part_vertex_ids = [pkl, npy]) they give the same parts as vertex_sets.json."""
    from common.evaluation.ehf_evaluator import load_part_vertex_ids
    from common.open_model import ensure_open_model
    from common.open_model.part_models import ensure_open_part_models
    from data.evaluators import load_parts

    parts = ensure_open_part_models()
    merged = load_parts([str(parts.mano_vertex_ids), str(parts.flame_vertex_ids)], 13718)
    reference = load_part_vertex_ids(ensure_open_model().vertex_sets_path, 13718)
    for name in ("l_hand", "r_hand", "face", "body", "all"):
        assert np.array_equal(merged[name], reference[name]), name
    with pytest.raises(EHFError, match=r"part_vertex_ids'\]: .*missing\.pkl"):
        load_parts(["missing.pkl"], 13718)


def test_now_export_layout_and_landmarks(tmp_path):
    from common.body_models import build_body_model

    smplx = build_body_model("smplx", source="open")
    gen = torch.Generator().manual_seed(0)
    verts = smplx(0.2 * torch.randn(2, 3, generator=gen), torch.zeros(2, 63), torch.randn(2, 10, generator=gen),
                  expression=torch.randn(2, 10, generator=gen), jaw_pose=0.2 * torch.rand(2, 3, generator=gen)).vertices
    images = ["NoW_Dataset/final_release_version/iphone_pictures/FaMoS_180424_03335_TA/multiview_neutral/IMG_0101.jpg",
              "FaMoS_180926_03405_TA/selfie/IMG_0092.jpg"]
    head = open_head_cut()
    ev = NoWExporter(images, head, output_dir=tmp_path)
    ev.reset(2)
    ev.process({"index": torch.arange(2)}, {"vertices": verts})
    summary = ev.evaluate()
    assert summary["num_exported"] == 2
    with open(head_embedding_path(), "rb") as f:
        embedding = pickle.load(f)
    stems = ["FaMoS_180424_03335_TA/multiview_neutral/IMG_0101", "FaMoS_180926_03405_TA/selfie/IMG_0092"]
    for i, stem in enumerate(stems):
        obj, npy = tmp_path / "now_predictions" / f"{stem}.obj", tmp_path / "now_predictions" / f"{stem}.npy"
        assert obj.is_file() and npy.is_file()
        lines = obj.read_text().splitlines()
        v = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("v ")])
        f = np.array([[int(x) - 1 for x in ln.split()[1:]] for ln in lines if ln.startswith("f ")])
        assert v.shape == (len(head.vertex_ids), 3) and f.min() == 0 and f.max() < len(v)
        lmk = np.load(npy)
        assert lmk.shape == (7, 3)
        # the landmarks are the exported mesh's own landmark points (FLAME-layout embedding on its faces)
        on_mesh = barycentric_points(torch.as_tensor(v)[None], torch.as_tensor(f),
                                     torch.as_tensor(embedding["lmk_face_idx"]),
                                     torch.as_tensor(embedding["lmk_b_coords"]))[0, list(NOW_LANDMARKS_51)]
        assert np.abs(on_mesh.numpy() - lmk).max() < 2e-6  # the .obj keeps 6 decimals (1 micrometre)
        assert np.abs(lmk - verts[i].numpy().mean(0)).max() < 0.5  # metres, near the body
    # eye corners: outer-left/right are farther apart than the inner ones
    assert np.linalg.norm(lmk[0] - lmk[3]) > np.linalg.norm(lmk[1] - lmk[2]) > 0.01


def head_embedding_path():
    from common.open_model.part_models import ensure_open_part_models

    return ensure_open_part_models().flame_embedding


def test_ehf_builder_official_needs_the_part_and_j14_files(ehf, tmp_path):
    from common.body_models import build_body_model
    from common.config import load_config
    from common.evaluation.smplx_j14 import J14RegressorError
    from common.open_model.part_models import ensure_open_part_models
    from data.evaluators import ehf_evaluator

    root, _ = ehf
    model = build_body_model("smplx", source="open")  # stands in for the official file (only its faces are read)
    records = read_ehf(root, num_vertices=None)
    base = [f"data.roots={{'ehf': '{root}'}}", "body_model.source=official", "model.family=wholebody"]
    with pytest.raises(EHFError, match=r"\['part_vertex_ids'\]: not set.*MANO_SMPLX_vertex_ids\.pkl"):
        ehf_evaluator(load_config(None, base), model, tmp_path, records)
    parts = ensure_open_part_models()
    files = f"[{parts.mano_vertex_ids}, {parts.flame_vertex_ids}]"
    cfg = load_config(None, base + [f"data.adapter_options={{ehf: {{part_vertex_ids: {files}}}}}"])
    with pytest.raises(J14RegressorError, match=r"\['j14_regressor'\]: not set.*SMPLX_to_J14\.pkl"):
        ehf_evaluator(cfg, model, tmp_path, records)
