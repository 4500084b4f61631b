"""OCHuman adapter: COCO-format evaluation files and the native ochuman.json."""
import json

import pytest

from common.config import load_config
from common.joint_sets import joint_index
from data.adapters.coco_style import AnnotationError
from data.adapters.ochuman import load_ochuman_records, read_ochuman
from data.mapper import Mapper
from data.sample import check_sample
from tool.fixtures.coco_style import OCHUMAN_NAMES, ochuman_our_name, write_ochuman


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ochuman")
    write_ochuman(root)
    return root


def test_coco_format_split(root):
    records = read_ochuman(root, "val")
    assert len(records) == 7 and {r.joints_convention for r in records} == {"coco19"}
    rec = records[0]
    pelvis, lhip, rhip = (joint_index("coco19", n) for n in ("Pelvis", "L_Hip", "R_Hip"))
    assert rec.joints2d[pelvis] == pytest.approx((rec.joints2d[lhip] + rec.joints2d[rhip]) / 2)
    assert rec.joints2d_valid[joint_index("coco19", "Neck")] == 0  # 3DCrowdNet adds no neck to COCO GT


def test_native_file(root):
    native = json.loads((root / "ochuman.json").read_text())
    records = read_ochuman(root, "all")
    assert len(records) == 6  # 3 images x 2 people with keypoints; the bbox-only people are filtered
    rec = records[0]
    ann = native["images"][0]["annotations"][0]
    for k, name in enumerate(OCHUMAN_NAMES):
        j = joint_index("crowdnet30", ochuman_our_name(name))
        assert rec.joints2d[j] == pytest.approx(ann["keypoints"][3 * k: 3 * k + 2])
    x1, y1, x2, y2 = ann["bbox"]
    assert rec.bbox == pytest.approx([x1, y1, x2 - x1, y2 - y1])  # xyxy -> xywh
    assert rec.image_id == "000500" and rec.meta["max_iou"] == 0.6
    assert [r.meta["num_others_occluded"] for r in records[:2]] == [0, 6]
    assert rec.others_bbox.shape == (2, 4)  # the other keypoint person and the bbox-only one


def test_registry_entry_mapper_and_errors(root, tmp_path):
    cfg = load_config(opts=[f"data.roots={{ochuman: {root}}}", "data.input_size=64"])
    records = load_ochuman_records("test", cfg)
    check_sample(Mapper.from_config(cfg, train=False)(records[0], 0), 64)
    with pytest.raises(AnnotationError, match="unknown split 'train'"):
        read_ochuman(root, "train")
    bad = tmp_path / "och"
    write_ochuman(bad)
    data = json.loads((bad / "ochuman.json").read_text())
    data["keypoint_names"] = data["keypoint_names"][:-1]
    (bad / "ochuman.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="ochuman.json: field 'keypoint_names' must list the 19"):
        read_ochuman(bad, "all")
