"""Known answers for the protocol metrics: F-score, part-wise PA-V2V (EHF), FreiHAND evaluator and export."""
import json

import numpy as np
import pytest
import torch

from common.evaluation.ehf_evaluator import EHFEvaluator, complete_parts, load_part_vertex_ids
from common.evaluation.freihand_evaluator import FreiHANDEvaluator, export_freihand_predictions
from common.evaluation.fscore import fscore, nearest_distances, procrustes_aligned_fscore
from common.geometry.rotations import axis_angle_to_matrix


def _grid(n_side=4, spacing=0.05):
    """Points on a 3D grid 50 mm apart: nearest neighbours stay unambiguous under 10 mm shifts."""
    r = torch.arange(n_side, dtype=torch.float64) * spacing
    return torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)


def _similarity(points, seed=0):
    rot = axis_angle_to_matrix(torch.tensor([0.4, -0.9, 1.3], dtype=torch.float64))
    return 1.7 * points @ rot.T + torch.tensor([0.2, -0.1, 2.0], dtype=torch.float64)


def test_fscore_identical_sets_is_one():
    pts = _grid()
    out = fscore(pts, pts, [0.005, 0.015])
    assert torch.equal(out["fscore"], torch.ones(1, 2, dtype=torch.float64))


def test_fscore_of_10mm_shift_is_0_at_5mm_and_1_at_15mm():
    pts = _grid()
    shifted = pts + torch.tensor([0.010, 0.0, 0.0], dtype=torch.float64)
    f = fscore(shifted, pts, [0.005, 0.015])["fscore"][0]
    assert f.tolist() == [0.0, 1.0]


def test_fscore_hand_made_precision_recall():
    gt = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    pred = torch.tensor([[0.0, 0, 0], [0.0, 1, 0], [0.0, 2, 0], [0.0, 3, 0]], dtype=torch.float64)
    out = fscore(pred, gt, [0.5])
    # 1 of 4 predicted points is near GT (precision 0.25); 1 of 2 GT points is near a prediction (recall 0.5).
    assert out["precision"].item() == 0.25 and out["recall"].item() == 0.5
    assert out["fscore"].item() == pytest.approx(2 * 0.25 * 0.5 / 0.75)
    assert nearest_distances(gt, pred)[0].tolist() == pytest.approx([0.0, 1.0])


def test_aligned_fscore_is_invariant_to_similarity():
    pts = _grid()
    out = procrustes_aligned_fscore(_similarity(pts), pts, [0.005])
    assert out["fscore"].item() == 1.0


def test_aligned_fscore_fits_on_joints_when_topologies_differ():
    pts = _grid()
    dense = torch.cat([pts, pts + 0.001])  # a different "topology" of the same surface
    joints = pts[:8]
    out = procrustes_aligned_fscore(_similarity(dense), pts, [0.005], pred_fit=_similarity(joints), gt_fit=joints)
    assert out["fscore"].item() == 1.0
    with pytest.raises(ValueError, match="corresponding"):
        procrustes_aligned_fscore(dense, pts, [0.005])


def test_fscore_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        fscore(torch.full((3, 3), float("nan")), torch.zeros(3, 3), [0.01])


def _ehf_evaluator(gt, parts, tmp_path=None):
    reg = torch.zeros(14, gt.shape[1], dtype=torch.float64)
    reg[torch.arange(14), torch.arange(14)] = 1.0  # joint j = vertex j
    return EHFEvaluator(lambda i: gt[i].numpy(), parts, reg, output_dir=tmp_path)


def test_ehf_partwise_pa_v2v_known_answers(tmp_path):
    gt = torch.rand(2, 40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    parts = complete_parts({"l_hand": range(20, 25), "r_hand": range(25, 30), "face": range(30, 40)}, 40)
    assert parts["body"].tolist() == list(range(20)) and len(parts["all"]) == 40
    pred = gt.clone()
    # Move each part by its own similarity: part-wise PA errors stay 0, the all-vertex PA error does not.
    pred[:, 20:25] = _similarity(gt[:, 20:25])
    pred[:, 30:40] = gt[:, 30:40] * 0.5
    ev = _ehf_evaluator(gt, parts, tmp_path)
    ev.reset(2)
    ev.process({"index": torch.tensor([0, 1])}, {"vertices": pred})
    summary = ev.evaluate()
    for key in ("pa_v2v_body", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face", "pa_mpjpe_14"):
        assert summary[key] == pytest.approx(0.0, abs=1e-6)
    assert summary["pa_v2v_all"] > 1.0 and summary["num_evaluated"] == 2
    assert (tmp_path / "metrics.json").is_file() and len((tmp_path / "per_sample.jsonl").read_text().splitlines()) == 2


def test_ehf_translation_of_whole_mesh_gives_exact_zero_and_refuses_on_skip(tmp_path):
    gt = torch.rand(3, 20, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ev = _ehf_evaluator(gt, complete_parts({}, 20), tmp_path)
    ev.reset(3)  # index 2 never processed -> headline refused
    ev.process({"index": torch.tensor([0, 1])}, {"vertices": gt[:2] + 0.3})
    summary = ev.evaluate()
    assert summary["num_skipped"] == 1 and summary["pa_v2v_all"] is None and "headline_refused" in summary


def test_part_file_loading(tmp_path):
    path = tmp_path / "parts.json"
    path.write_text(json.dumps({"left_hand": [1, 2], "right_hand": [3], "face": [4, 5]}))
    parts = load_part_vertex_ids(path, 8)
    assert parts["l_hand"].tolist() == [1, 2] and parts["body"].tolist() == [0, 6, 7]
    with pytest.raises(ValueError, match="outside"):
        load_part_vertex_ids(path, 5)


def test_freihand_evaluator_identical_and_shifted(tmp_path):
    xyz = torch.rand(2, 21, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    verts = _grid(n_side=3).expand(2, -1, -1).clone()
    ev = FreiHANDEvaluator([0, 1], xyz.numpy(), verts.numpy(), output_dir=tmp_path)
    ev.reset(2)
    shifted = verts.clone()
    shifted[1] += 0.002 * torch.randn(shifted[1].shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ev.process({"index": torch.tensor([0, 1])}, {"hand_joints": _similarity(xyz), "hand_vertices": shifted})
    summary = ev.evaluate()
    rows = [json.loads(line) for line in (tmp_path / "per_sample.jsonl").read_text().splitlines()]
    assert rows[0]["pa_mpjpe"] == pytest.approx(0.0, abs=1e-6) and rows[0]["pa_mpvpe"] == pytest.approx(0.0, abs=1e-6)
    assert rows[0]["f_5mm"] == 1.0 and rows[1]["pa_mpvpe"] > 0.5
    exported = json.loads((tmp_path / "pred.json").read_text())
    assert len(exported) == 2 and np.asarray(exported[0]).shape == (2, 21, 3)
    assert np.asarray(exported[1]).shape == (2, 27, 3)
    assert summary["export"].endswith("pred.json") and summary["num_evaluated"] == 2


def test_freihand_export_without_gt(tmp_path):
    ev = FreiHANDEvaluator([0], None, None, output_dir=tmp_path, allow_skipped=True)
    ev.reset(1)
    ev.process({"index": torch.tensor([0])},
               {"hand_joints": torch.zeros(1, 21, 3), "hand_vertices": torch.zeros(1, 778, 3)})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == 0 and (tmp_path / "pred.json").is_file()
    with pytest.raises(ValueError, match="joint predictions"):
        export_freihand_predictions(tmp_path / "x.json", [np.zeros((21, 3))], [])
