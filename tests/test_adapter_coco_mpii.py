"""MSCOCO and MPII adapters on fixtures in their published (3DCrowdNet) layouts."""
import json
import logging

import numpy as np
import pytest

from common.config import load_config
from common.joint_sets import joint_index, joint_names
from data.adapters.coco_style import AnnotationError, move_to_camera
from data.adapters.mpii import load_mpii_records, read_mpii
from data.adapters.mscoco import load_mscoco_records, read_mscoco
from data.mapper import Mapper
from data.sample import check_sample
from tool.fixtures.coco_style import write_mpii, write_mscoco


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    return root, write_mscoco(root)


def test_mscoco_train_filters_and_joints(coco, caplog):
    root, truth = coco
    with caplog.at_level(logging.INFO):
        records = read_mscoco(root, "train")
    assert "mscoco: 7 people kept; filtered: {'iscrowd': 1, 'labelled_keypoints<1': 1}" in caplog.text
    assert len(records) == 7 and all(r.has_smpl for r in records)
    for rec in records:
        for name in joint_names("coco17"):
            if name not in truth[rec.person_id]["missing"]:
                assert rec.joints2d[joint_index("coco19", name)] == pytest.approx(truth[rec.person_id]["person"][name],
                                                                                abs=0.01)
    assert "images/train2017" in records[0].image_path
    val = read_mscoco(root, "val")
    assert len(val) == 7 and not any(r.has_smpl for r in val) and "val2017" in val[0].image_path
    everyone = read_mscoco(root, "train", skip_crowd=False, min_keypoints=0)
    assert len(everyone) == 9 and sum(r.meta["iscrowd"] for r in everyone) == 1
    assert len(read_mscoco(root, "train", use_fits=False)) == 7


def test_mscoco_registry_and_mapper(coco):
    root, _ = coco
    cfg = load_config(opts=[f"data.roots={{mscoco: {root}}}", "data.input_size=64"])
    records = load_mscoco_records("train", cfg)
    sample = Mapper.from_config(cfg, train=True)(records[0], 0)
    check_sample(sample, 64)
    assert float(sample["smpl_valid"]) == 1.0


def test_mpii(tmp_path):
    root = tmp_path / "mpii"
    truth = write_mpii(root)
    records = read_mpii(root, "train")
    assert len(records) == 8  # 3DCrowdNet keeps every MPII box, even without keypoints
    empty = [r for r in records if truth[r.person_id]["person"] is None]
    assert len(empty) == 1 and empty[0].joints2d_valid.sum() == 0
    rec = next(r for r in records if truth[r.person_id]["person"] is not None)
    assert rec.joints_convention == "mpii16"
    assert rec.joints2d[joint_index("mpii16", "Thorax")] == pytest.approx(truth[rec.person_id]["person"]["Thorax"],
                                                                        abs=0.01)
    cfg = load_config(opts=[f"data.roots={{mpii: {root}}}", "data.input_size=64"])
    check_sample(Mapper.from_config(cfg, train=False)(load_mpii_records("train", cfg)[0], 0), 64)
    with pytest.raises(AnnotationError, match="test.json: annotation file not found"):
        read_mpii(root, "test")
    fits = root / "data/annotations/MPII_train_SMPL_NeuralAnnot.json"
    data = json.loads(fits.read_text())
    del next(iter(data.values()))["cam_param"]
    fits.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"NeuralAnnot.json: fit \d+ has no field 'cam_param'"):
        read_mpii(root, "train")


def test_move_to_camera_keeps_the_projection():
    transl = np.array([0.3, -0.2, 12.0])
    src = (np.array([5000.0, 5000.0]), np.array([160.0, 120.0]))
    dst = (np.array([2500.0, 2500.0]), np.array([100.0, 140.0]))
    moved = move_to_camera(transl, *src, *dst)
    project = lambda t, f, c: t[:2] / t[2] * f + c  # noqa: E731
    assert project(moved, *dst) == pytest.approx(project(transl, *src))
    assert moved[2] == pytest.approx(6.0)  # half the focal: half the depth, same pixel size
