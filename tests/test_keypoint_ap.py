"""Known answers of the 2D keypoint AP evaluator on written CrowdPose / OCHuman fixtures."""
import json

import numpy as np
import pytest
import torch

from common.evaluation.keypoint_ap import COCO_SIGMAS, CROWDPOSE_SIGMAS, KeypointAPEvaluator, oks
from common.joint_sets import convert_joints, num_joints
from data.adapters.crowdpose import read_crowdpose
from data.adapters.ochuman import read_ochuman
from data.evaluators import load_keypoint_gt
from tool.fixtures.coco_style import write_crowdpose, write_ochuman


def _batches(records, convention, shift=0.0, crop_scale=1.0, batch_size=3):
    """Batches whose projected joints are the GT (converted to crowdnet30), in a crop scaled by crop_scale."""
    for start in range(0, len(records), batch_size):
        recs = records[start:start + batch_size]
        gt = np.stack([convert_joints(r.joints2d, r.joints_convention, "crowdnet30")[0] for r in recs]) + shift
        affine = torch.tensor([[crop_scale, 0, 5.0], [0, crop_scale, -3.0]]).expand(len(recs), 2, 3)
        proj = (torch.as_tensor(gt) - affine[:, None, :, 2]) / crop_scale  # crop px such that affine maps back
        yield ({"index": torch.arange(start, start + len(recs)), "crop_to_img": affine.float()},
               {"joints_proj": proj.float(), "joints_score": torch.ones(len(recs), 15)})


def _evaluate(records, gt_file, convention, sigmas, area_from_bbox, tmp_path, **kw):
    gt = load_keypoint_gt(gt_file, num_joints(convention), area_from_bbox)
    ev = KeypointAPEvaluator(gt, convention, sigmas, [r.image_id for r in records],
                             [r.person_id for r in records], output_dir=tmp_path / "eval")
    ev.reset(len(records))
    for batch, preds in _batches(records, convention, **kw):
        ev.process(batch, preds)
    return ev.evaluate()


@pytest.fixture(scope="module")
def crowdpose(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowdpose")
    write_crowdpose(root)
    return root, read_crowdpose(root, "test")


def test_gt_as_prediction_gives_ap_one_and_per_sample_oks(crowdpose, tmp_path):
    root, records = crowdpose
    summary = _evaluate(records, root / "annotations/crowdpose_test.json", "crowdpose14", CROWDPOSE_SIGMAS,
                        True, tmp_path, crop_scale=2.0)
    assert summary["complete"] and summary["num_evaluated"] == len(records) == 7
    assert summary["AP"] == pytest.approx(1.0) and summary["AP50"] == pytest.approx(1.0)
    assert summary["AP75"] == pytest.approx(1.0)
    assert set(summary["ap_by_crowd_index"]) == {"easy", "medium", "hard"}
    rows = [json.loads(line) for line in (tmp_path / "eval/per_sample.jsonl").read_text().splitlines()]
    assert len(rows) == 7 and all(r["oks"] == pytest.approx(1.0) for r in rows)
    assert json.loads((tmp_path / "eval/metrics.json").read_text())["AP"] == pytest.approx(1.0)


def test_far_shifted_prediction_gives_ap_zero(crowdpose, tmp_path):
    root, records = crowdpose
    summary = _evaluate(records, root / "annotations/crowdpose_test.json", "crowdpose14", CROWDPOSE_SIGMAS,
                        True, tmp_path, shift=500.0)
    assert summary["AP"] == pytest.approx(0.0) and summary["AP50"] == pytest.approx(0.0)


def test_missing_samples_refuse_headline(crowdpose, tmp_path):
    root, records = crowdpose
    gt = load_keypoint_gt(root / "annotations/crowdpose_test.json", 14, True)
    ev = KeypointAPEvaluator(gt, "crowdpose14", CROWDPOSE_SIGMAS, [r.image_id for r in records],
                             [r.person_id for r in records])
    ev.reset(len(records))
    batch, preds = next(_batches(records, "crowdpose14"))
    ev.process(batch, preds)
    summary = ev.evaluate()
    assert summary["num_skipped"] == 4 and summary["AP"] is None and "headline_refused" in summary


def test_ochuman_coco_format_ap_one_and_oks_known_value(tmp_path):
    write_ochuman(tmp_path / "och")
    records = read_ochuman(tmp_path / "och", "test")
    summary = _evaluate(records, tmp_path / "och/ochuman_coco_format_test_range_0.00_1.00.json", "coco17",
                        COCO_SIGMAS, False, tmp_path)
    assert summary["AP"] == pytest.approx(1.0)
    gt = np.array([[10.0, 10.0, 2.0], [0.0, 0.0, 0.0]])
    # one labelled joint at distance 1 px, area 100, sigma .26/10: exp(-1 / (2 * 0.052^2 * 100))
    assert oks(np.array([[11.0, 10.0], [50.0, 50.0]]), gt, 100.0, (.26, .25)) == pytest.approx(
        np.exp(-1 / (2 * 0.052 ** 2 * 100)))


def test_from_config_and_input_ap(crowdpose, tmp_path, monkeypatch):
    from common.config import load_config
    from data import registry

    root, records = crowdpose
    cfg = load_config(opts=[f"data.roots={{crowdpose: {root}}}", "data.test_set=crowdpose"])
    ev = registry.build_evaluator(cfg, None, tmp_path / "eval")  # no records given: the adapter reads them once
    assert len(ev.image_ids) == 7 and ev.convention == "crowdpose14"
    calls = []
    monkeypatch.setattr(registry, "load_records", lambda *a, **k: calls.append(a))
    ev = registry.build_evaluator(cfg, None, tmp_path / "eval", records=records)  # given: never read again
    assert calls == [] and isinstance(ev, KeypointAPEvaluator)
    assert len(ev.image_ids) == 7 and ev.convention == "crowdpose14"
    inputs = [(r.joints2d, r.joints2d_valid, "crowdnet30") for r in records]
    ev.input_poses = inputs
    ev.reset(len(records))
    for batch, preds in _batches(records, "crowdpose14"):
        ev.process(batch, preds)
    summary = ev.evaluate()
    assert summary["AP"] == pytest.approx(1.0) and summary["input_ap"] == pytest.approx(1.0)


def test_crowd_index_bins_follow_crowdposetools(crowdpose, tmp_path):
    """crowdposetools' get_type_result(first=0.2, second=0.8): easy < 0.2 <= medium < 0.8 <= hard. An image at
    0.15 is easy there (it was medium when the code cut at 0.1)."""
    from common.evaluation.keypoint_ap import crowd_index_bin

    assert [crowd_index_bin(v) for v in (0.0, 0.1, 0.15, 0.1999, 0.2, 0.5, 0.7999, 0.8, 1.0)] == \
        ["easy"] * 4 + ["medium"] * 3 + ["hard"] * 2
    root, records = crowdpose
    gt_file = tmp_path / "crowdpose_test.json"
    gt = json.loads((root / "annotations/crowdpose_test.json").read_text())
    for image, value in zip(sorted(gt["images"], key=lambda im: im["id"]), (0.15, 0.5, 0.8)):
        image["crowdIndex"] = value
    gt_file.write_text(json.dumps(gt))
    summary = _evaluate(records, gt_file, "crowdpose14", CROWDPOSE_SIGMAS, True, tmp_path, crop_scale=2.0)
    assert summary["ap_by_crowd_index"] == {"easy": pytest.approx(1.0), "medium": pytest.approx(1.0),
                                            "hard": pytest.approx(1.0)}
