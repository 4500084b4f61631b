"""Known answers for MPJPE / PA-MPJPE / MPVPE and the MeshEvaluator (coverage, strata, files, refusal)."""
import json
import math

import pytest
import torch
from torch.utils.data import default_collate

from common.config import ConfigError, load_config
from common.evaluation import EvaluationError, MeshEvaluator, mpjpe, mpvpe, pa_mpjpe
from common.evaluation.mesh_evaluator import assign_stratum, format_summary, stratum_labels
from common.geometry.rotations import axis_angle_to_matrix
from data.registry import build_evaluator
from engine_fixtures import ToyBodyModel, ToyDataset


def _points(b=3, n=14, seed=0):
    return torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_identical_is_zero():
    gt = _points()
    assert torch.equal(mpjpe(gt, gt), torch.zeros(3, dtype=torch.float64))
    assert pa_mpjpe(gt, gt).abs().max() < 1e-9
    assert torch.equal(mpvpe(gt, gt), torch.zeros(3, dtype=torch.float64))


def test_translation_offset_gives_offset_norm():
    gt = _points()
    pred = gt + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    assert torch.allclose(mpjpe(pred, gt), torch.full((3,), 5.0, dtype=torch.float64), atol=1e-12)
    assert pa_mpjpe(pred, gt).abs().max() < 1e-9


def test_rotated_scaled_copy_has_zero_pa_mpjpe():
    gt = _points()
    rot = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.7]], dtype=torch.float64))
    pred = 2.5 * gt @ rot.transpose(1, 2) + torch.tensor([0.1, -0.2, 3.0], dtype=torch.float64)
    assert mpjpe(pred, gt).min() > 0.1
    assert pa_mpjpe(pred, gt).abs().max() < 1e-9
    assert pa_mpjpe(pred.float(), gt.float()).abs().max() < 1e-5  # float32 inputs are fitted in float64


def test_hand_made_two_joints_and_mask():
    pred = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    gt = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert mpjpe(pred, gt).item() == pytest.approx(math.sqrt(2) / 2)
    assert mpjpe(pred, gt, torch.tensor([[1.0, 0.0]])).item() == 0.0  # only joint 0 counts
    assert math.isnan(mpjpe(pred, gt, torch.zeros(1, 2)).item())  # no valid joint -> NaN, not 0
    assert pa_mpjpe(pred, gt).item() == pytest.approx(0.0, abs=1e-9)  # 2 points: a similarity fits exactly


def test_pa_mpjpe_of_collapsed_prediction_is_spread_of_gt():
    # A prediction collapsed to one point is best fitted with scale 0 at the GT centroid.
    gt = torch.tensor([[[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, -3.0, 0.0]]])
    assert pa_mpjpe(torch.zeros_like(gt), gt).item() == pytest.approx(2.0, abs=1e-9)


def test_shape_errors():
    with pytest.raises(ValueError, match="mpjpe"):
        mpjpe(torch.zeros(2, 4, 3), torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="mask"):
        mpjpe(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.ones(2, 3))


def test_strata_labels():
    assert stratum_labels((0.1, 0.3)) == ["occ<0.1", "0.1<=occ<0.3", "occ>=0.3"]
    assert [assign_stratum(o, (0.1, 0.3)) for o in (0.0, 0.1, 0.29, 0.3, 0.9, -1.0)] == \
        ["occ<0.1", "0.1<=occ<0.3", "0.1<=occ<0.3", "occ>=0.3", "occ>=0.3", "unknown"]


# ---- MeshEvaluator on the toy body model ----

OCCLUSION = [0.0, 0.05, 0.2, 0.35, -1.0]


@pytest.fixture()
def toy():
    body = ToyBodyModel()
    data = ToyDataset(5)
    batch = default_collate([data[i] for i in range(5)])
    batch["occlusion"] = torch.tensor(OCCLUSION)
    pose = batch["smpl_pose"]
    gt_verts = body(pose[:, :3], pose[:, 3:], batch["smpl_betas"]).vertices
    return body, batch, gt_verts


def _run(evaluator, batches, expected=5, out=None):
    evaluator.reset(expected)
    for batch, verts in batches:
        evaluator.process(batch, {"vertices": verts})
    return evaluator.evaluate(out)


def test_mesh_evaluator_known_answers(toy, tmp_path):
    body, batch, gt_verts = toy
    ev = MeshEvaluator(body)
    assert ev.eval_joints == [1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16] and ev.root == 0
    exact = _run(ev, [(batch, gt_verts)])
    assert exact["complete"] and exact["num_evaluated"] == 5
    assert max(exact["mpjpe"], exact["pa_mpjpe"], exact["mpvpe"]) < 1e-3  # mm
    shifted = _run(ev, [(batch, gt_verts + torch.tensor([1.0, 2.0, 3.0]))])  # root-relative: no error
    assert max(shifted["mpjpe"], shifted["mpvpe"]) < 1e-3
    # Twice the size about the origin: root-relative error = |GT joint - GT root|; PA removes the scale.
    doubled = _run(ev, [(batch, 2 * gt_verts)], out=tmp_path)
    gt_j = body.regress(gt_verts.double(), "h36m17")
    expected_mpjpe = (gt_j - gt_j[:, :1])[:, ev.eval_joints].norm(dim=-1).mean(1).mean().item() * 1000
    gt_root = body.regress(gt_verts.double(), "crowdnet30")[:, :1]
    expected_mpvpe = (gt_verts.double() - gt_root).norm(dim=-1).mean(1).mean().item() * 1000
    assert doubled["mpjpe"] == pytest.approx(expected_mpjpe, rel=1e-5)
    assert doubled["mpvpe"] == pytest.approx(expected_mpvpe, rel=1e-5)
    assert doubled["pa_mpjpe"] < 1e-3
    assert {k: v["num_samples"] for k, v in doubled["strata"].items()} == \
        {"occ<0.1": 2, "0.1<=occ<0.3": 1, "occ>=0.3": 1, "unknown": 1}
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["mpjpe"] == pytest.approx(doubled["mpjpe"])
    rows = [json.loads(line) for line in (tmp_path / "per_sample.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4] and rows[3]["stratum"] == "occ>=0.3"
    assert "MPJPE" in format_summary(doubled) and "occ>=0.3" in format_summary(doubled)


def test_mesh_evaluator_coverage(toy):
    body, batch, gt_verts = toy
    ev = MeshEvaluator(body)
    missing = _run(ev, [(batch, gt_verts)], expected=6)  # index 5 never processed
    assert not missing["complete"] and missing["num_skipped"] == 1 and missing["skipped_indices"] == [5]
    assert missing["mpjpe"] is None and missing["mpvpe"] is None and "allow_skipped" in missing["headline_refused"]
    assert "NO HEADLINE NUMBERS" in format_summary(missing)
    twice = _run(ev, [(batch, gt_verts), (batch, gt_verts)])  # e.g. DistributedSampler padding
    assert twice["complete"] and twice["num_duplicates"] == 5 and twice["num_evaluated"] == 5
    no_gt = dict(batch, smpl_valid=torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0]))
    invalid = _run(ev, [(no_gt, gt_verts)])
    assert invalid["skipped_reasons"] == {"no_smpl_gt": 1} and invalid["pa_mpjpe"] is None
    lenient = _run(MeshEvaluator(body, allow_skipped=True), [(no_gt, gt_verts)])
    assert lenient["num_evaluated"] == 4 and lenient["mpjpe"] < 1e-3 and not lenient["complete"]
    with pytest.raises(EvaluationError, match="vertices"):
        ev.process(batch, {"joints": gt_verts})


def test_gender_hook_uses_gendered_gt_model(toy):
    body, batch, gt_verts = toy
    gendered = dict(batch, smpl_gender=torch.tensor([0, 1, 0, 0, 0]))
    ev = MeshEvaluator(body, gt_body_models={1: ToyBodyModel(seed=99)})
    ev.reset(5)
    ev.process(gendered, {"vertices": gt_verts})
    errors = [row["mpvpe"] for row in sorted(ev._rows, key=lambda r: r["index"])]
    assert errors[1] > 1.0 and max(errors[:1] + errors[2:]) < 1e-3


def test_registry():
    cfg = load_config(None, ["data.synthetic.occlusion_strata=[0.2]", "test.allow_skipped=true"])
    ev = build_evaluator(cfg, ToyBodyModel(), None)
    assert isinstance(ev, MeshEvaluator) and ev.strata == (0.2,) and ev.allow_skipped
    pw3d = build_evaluator(load_config(None, ["data.test_set=3dpw"]), ToyBodyModel(), None)
    assert isinstance(pw3d, MeshEvaluator) and pw3d.gt_body_models == {}  # open body model: neutral GT
    with pytest.raises(ConfigError, match="no evaluator for '3dpw_typo'"):
        build_evaluator(load_config(None, ["data.test_set=3dpw_typo"]), ToyBodyModel(), None)
