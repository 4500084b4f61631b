"""3DCrowdNet's detector-to-GT matching rule and the round trip into the CrowdPose adapter."""
import json

import numpy as np
import pytest

from common.joint_sets import convert_joints, joint_index
from data.adapters.crowdpose import read_crowdpose
from tool.fixtures.coco_style import write_crowdpose
from tool.match_pose2d import joints_box, main, match_person


def test_rule_keeps_the_closest_strictly_under_min_side_over_15():
    gt = np.array([[0.0, 0.0], [150.0, 0.0], [0.0, 300.0]])
    valid = np.array([True, True, True])
    box = joints_box(gt, valid)  # 150 x 300 -> threshold 10 px
    cand = lambda d: np.concatenate([gt + [d, 0.0], np.ones((3, 1))], 1)  # noqa: E731
    idx, err, thr = match_person(gt, valid, box, [cand(9.0), cand(4.0), cand(30.0)])
    assert thr == pytest.approx(10.0) and idx == 1 and err == pytest.approx(4.0)
    assert match_person(gt, valid, box, [cand(10.0)])[0] is None  # mean distance must be strictly below
    low = cand(1.0)
    low[:, 2] = 0.05  # every joint below the score threshold: no common joint, skipped
    assert match_person(gt, valid, box, [low])[0] is None
    partial = cand(50.0)
    partial[0] = [1.0, 0.0, 0.9]
    partial[1:, 2] = 0.0  # only joint 0 detected: error over that joint alone
    assert match_person(gt, valid, box, [partial]) == (0, pytest.approx(1.0), pytest.approx(10.0))


def test_tool_output_feeds_the_adapter(tmp_path):
    root = tmp_path / "crowdpose"
    write_crowdpose(root)
    gt = json.loads((root / "annotations/crowdpose_test.json").read_text())
    people = [a for a in gt["annotations"] if a["num_keypoints"] > 0]
    dets = []
    for i, ann in enumerate(people):
        kp = np.asarray(ann["keypoints"], float).reshape(14, 3)
        coco, _ = convert_joints(kp, "crowdpose14", "coco17")  # a COCO-17 detector: no head top / neck
        coco[:, :2] += 2.0 if i != 0 else 400.0  # person 0's only detection is far away
        coco[:, 2] = np.where(coco[:, 2] > 0, 0.9, 0.0)
        dets.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": coco.reshape(-1).tolist(),
                     "score": 0.9})
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "matched.json"
    doc = main(["--gt", str(root / "annotations/crowdpose_test.json"), "--detections", str(tmp_path / "dets.json"),
                "--out", str(out)])
    assert doc["unmatched"] == [people[0]["id"]] and len(doc["matches"]) == len(people) - 1
    assert all(m["error_px"] == pytest.approx(2 * np.sqrt(2), abs=1e-3) for m in doc["matches"].values())
    records = read_crowdpose(root, "test", pose2d_file=out)
    assert len(records) == len(people) - 1  # the unmatched person is dropped (and counted)
    rec = next(r for r in records if r.person_id == people[1]["id"])
    assert rec.pose2d_input_convention == "coco17" and rec.pose2d_input.shape == (17, 2)
    gt_lsho = rec.joints2d[joint_index("crowdnet30", "L_Shoulder")]
    assert rec.pose2d_input[joint_index("coco17", "L_Shoulder")] == pytest.approx(gt_lsho + 2.0, abs=0.01)
    assert rec.others_bbox is not None  # the unmatched person still occludes
