"""CrowdPose adapter on a fixture written in the real CrowdPose / NeuralAnnot layout."""
import json
import logging

import numpy as np
import pytest

from common.config import load_config
from common.joint_sets import joint_index, joint_names
from data.adapters.coco_style import AnnotationError
from data.adapters.crowdpose import load_crowdpose_records, read_crowdpose
from data.mapper import Mapper
from data.sample import check_sample
from tool.fixtures.coco_style import write_crowdpose


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowdpose")
    truth = write_crowdpose(root)
    return root, truth


def test_records_match_the_written_people(fixture, caplog):
    root, truth = fixture
    with caplog.at_level(logging.INFO):
        records = read_crowdpose(root, "train")
    assert len(records) == 7  # 3 images with 2 + 3 + 2 people; the keypoint-less person is filtered
    assert "crowdpose: 7 people kept; filtered: {'labelled_keypoints<1': 1}" in caplog.text
    for rec in records:
        person = truth[rec.person_id]["person"]
        for name in joint_names("crowdpose14"):
            j = joint_index("crowdnet30", name)
            if name in truth[rec.person_id]["missing"]:
                assert rec.joints2d_valid[j] == 0  # kept, joint marked invalid
            else:
                assert rec.joints2d_valid[j] == 1 and rec.joints2d[j] == pytest.approx(person[name], abs=0.01)
        pelvis = joint_index("crowdnet30", "Pelvis")
        assert rec.joints2d[pelvis] == pytest.approx((person["L_Hip"] + person["R_Hip"]) / 2, abs=0.01)
        assert rec.image_hw == (240, 320)  # train width/height swapped in the file, corrected (3DCrowdNet)
        assert rec.meta["crowdIndex"] == 0.42 and rec.joints_convention == "crowdnet30"
        assert rec.has_smpl and rec.focal == pytest.approx([5000, 5000])
    partial = [r for r in records if truth[r.person_id]["missing"]]
    assert len(partial) == 1 and partial[0].joints2d_valid.sum() == 15 - 2  # 14 + pelvis, minus knee/ankle


def test_fits_and_others(fixture):
    root, _ = fixture
    records = read_crowdpose(root, "train")
    fits = json.loads((root / "annotations/CrowdPose_train_SMPL_NeuralAnnot.json").read_text())
    rec = records[0]
    assert rec.smpl_pose == pytest.approx(fits[str(rec.person_id)]["smpl_param"]["pose"])
    assert rec.smpl_transl == pytest.approx(fits[str(rec.person_id)]["smpl_param"]["trans"])
    crowded = [r for r in records if r.image_id == 2]  # image 2: 3 people + 1 without keypoints
    assert all(r.others_bbox.shape == (3, 4) and r.others_joints2d.shape == (3, 30, 2) for r in crowded)
    assert all(r.others_smpl_pose.shape == (2, 72) for r in crowded)  # the keypoint-less one has no fit


def test_filters_are_explicit_arguments(fixture, caplog):
    root, _ = fixture
    assert len(read_crowdpose(root, "train", min_keypoints=0)) == 8
    with caplog.at_level(logging.INFO):
        records = read_crowdpose(root, "train", max_fit_err=-1.0)
    assert not any(r.has_smpl for r in records) and "'smpl_fit_discarded_fit_err': 7" in caplog.text
    assert len(read_crowdpose(root, "train", min_bbox_size=1000.0)) == 0
    test = read_crowdpose(root, "test")
    assert len(test) == 7 and not any(r.has_smpl for r in test) and test[0].image_hw == (240, 320)


def test_registry_entry_and_mapper(fixture):
    root, _ = fixture
    cfg = load_config(opts=[f"data.roots={{crowdpose: {root}}}", "data.input_size=64"])
    records = load_crowdpose_records("train", cfg)
    sample = Mapper.from_config(cfg, train=True)(records[1], 1)
    check_sample(sample, 64)
    assert float(sample["joints2d_valid"].sum()) > 5


def test_bad_inputs_name_file_and_field(tmp_path, fixture):
    root, _ = fixture
    with pytest.raises(AnnotationError, match="crowdpose_val.json: annotation file not found"):
        read_crowdpose(root, "val")
    bad = tmp_path / "bad"
    write_crowdpose(bad)
    path = bad / "annotations/crowdpose_train.json"
    path.write_text(path.read_text()[:-40])
    with pytest.raises(AnnotationError, match="crowdpose_train.json: truncated or invalid JSON"):
        read_crowdpose(bad, "train")
    write_crowdpose(bad)
    data = json.loads(path.read_text())
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:-3]
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"field 'keypoints' has 39 values, expected 42"):
        read_crowdpose(bad, "train")
    write_crowdpose(bad)
    fits_path = bad / "annotations/CrowdPose_train_SMPL_NeuralAnnot.json"
    fits = json.loads(fits_path.read_text())
    next(iter(fits.values()))["smpl_param"]["shape"][3] = float("nan")
    fits_path.write_text(json.dumps(fits))
    with pytest.raises(AnnotationError, match=r"NeuralAnnot.json: fit \d+ smpl_param.shape contains NaN"):
        read_crowdpose(bad, "train")
    write_crowdpose(bad)
    (bad / "images/000002.jpg").unlink()
    with pytest.raises(AnnotationError, match=r"000002.jpg: image file not found \(1 of 3"):
        read_crowdpose(bad, "train")
    with pytest.raises(AnnotationError, match=r"data.roots\['crowdpose'\] is not set"):
        load_crowdpose_records("train", load_config())
    assert np.isfinite(read_crowdpose(bad, "train", check_images=False)[0].bbox).all()
