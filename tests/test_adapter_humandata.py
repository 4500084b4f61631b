"""HumanData adapter (MMHuman3D .npz) and the exporter round trip."""
import numpy as np
import pytest

from common.config import load_config
from common.joint_sets import convert_joints, convert_validity, joint_index
from data.adapters.coco_style import AnnotationError
from data.adapters.crowdpose import read_crowdpose
from data.adapters.humandata import load_humandata_records, read_humandata
from data.mapper import Mapper
from data.sample import check_sample
from tool.export_humandata import main as export_main
from tool.export_humandata import records_to_humandata, write_humandata
from tool.fixtures.coco_style import write_crowdpose
from tool.fixtures.humandata import DEPTH, MISSING, write_humandata_fixture


def J(name):
    return joint_index("crowdnet30", name)


def test_human_data_convention_compressed(tmp_path):
    info = write_humandata_fixture(tmp_path, "human_data", compressed=True)
    records = read_humandata(info["path"])
    assert len(records) == 9
    for rec, person in zip(records, info["people"]):
        for name in ("L_Shoulder", "R_Eye", "Head_top", "Pelvis", "R_Ankle"):
            assert rec.joints2d[J(name)] == pytest.approx(person[name], abs=1e-3)
            assert rec.joints2d_valid[J(name)] == 1
        assert rec.joints2d_valid[J(MISSING)] == (0 if person["_index"] == 1 else 1)  # kept, marked invalid
        assert rec.joints2d_valid[J("Spine2")] == 0  # not in the file
        assert rec.joints3d[J("Nose"), 2] == pytest.approx(DEPTH)
    smpl = info["smpl"]
    assert records[4].smpl_pose == pytest.approx(np.concatenate([smpl["global_orient"][4],
                                                                  smpl["body_pose"][4].reshape(-1)]))
    assert records[4].smpl_transl == pytest.approx(smpl["transl"][4])
    assert [r.smpl_gender for r in records[:3]] == ["male", "female", "neutral"]
    assert records[0].others_bbox.shape == (2, 4) and records[0].sequence == "fixture_human_data"
    cfg = load_config(opts=[f"data.roots={{humandata: {info['path']}}}", "data.input_size=64"])
    check_sample(Mapper.from_config(cfg, train=True)(load_humandata_records("train", cfg)[0], 0), 64)


def test_coco_legacy_and_h36m_approximate(tmp_path):
    coco = write_humandata_fixture(tmp_path / "coco", "coco", compressed=False, flat_body_pose=True, legacy=True)
    records = read_humandata(coco["path"])
    assert records[0].joints2d[J("L_Hip")] == pytest.approx(coco["people"][0]["L_Hip"], abs=1e-3)
    assert records[0].joints2d_valid[J("Pelvis")] == 0 and records[0].bbox == pytest.approx(coco["boxes"][0])
    h36m = write_humandata_fixture(tmp_path / "h36m", "h36m")
    approx = read_humandata(h36m["path"])
    assert approx[0].joints2d[J("Pelvis")] == pytest.approx(h36m["people"][0]["Pelvis"], abs=1e-3)
    assert approx[0].joints2d_valid[J("Head_top")] == 1
    strict = read_humandata(h36m["path"], approximate=False)
    assert strict[0].joints2d_valid[J("Pelvis")] == 0 and strict[0].joints2d_valid[J("L_Knee")] == 1


def test_round_trip_through_the_exporter(tmp_path):
    write_crowdpose(tmp_path / "cp")
    records = read_crowdpose(tmp_path / "cp", "train")
    path = write_humandata(tmp_path / "out/cp.npz", records_to_humandata(records))
    back = read_humandata(path, image_dir=tmp_path / "cp/images")
    assert len(back) == len(records)
    for a, b in zip(records, back):
        assert b.image_path.endswith(a.image_path.split("/")[-1]) and b.person_id == a.person_id
        assert b.joints2d_valid == pytest.approx(a.joints2d_valid)
        assert b.joints2d[a.joints2d_valid > 0] == pytest.approx(a.joints2d[a.joints2d_valid > 0], abs=1e-3)
        for key in ("bbox", "focal", "princpt", "smpl_pose", "smpl_betas", "smpl_transl"):
            assert getattr(b, key) == pytest.approx(getattr(a, key), abs=1e-4), key
        same_image = sum(r.image_id == a.image_id for r in records)  # others = the other exported people
        assert b.image_hw == a.image_hw and b.others_bbox.shape == (same_image - 1, 4)


def test_export_cli_converts_other_conventions(tmp_path):
    root = tmp_path / "cp"
    write_crowdpose(root)
    out = export_main(["--dataset", "crowdpose", "--split", "test", "--opts", f"data.roots={{crowdpose: {root}}}",
                       "--out", str(tmp_path / "cp_test.npz"), "--no-compress", "--image-root", str(root / "images")])
    back = read_humandata(out, image_dir=root / "images")
    orig = read_crowdpose(root, "test")
    assert len(back) == 7 and not back[0].has_smpl
    joints, mask = convert_joints(orig[2].joints2d, "crowdnet30", "crowdnet30")
    assert back[2].joints2d[mask > 0] == pytest.approx(joints[mask > 0], abs=1e-3)
    assert back[2].joints2d_valid == pytest.approx(convert_validity(orig[2].joints2d_valid, "crowdnet30",
                                                                    "crowdnet30"))


def test_bad_files(tmp_path):
    info = write_humandata_fixture(tmp_path / "a", "human_data")
    truncated = tmp_path / "a/trunc.npz"
    truncated.write_bytes(info["path"].read_bytes()[:500])
    with pytest.raises(AnnotationError, match="trunc.npz: not a readable HumanData .npz"):
        read_humandata(truncated)
    with pytest.raises(AnnotationError, match="missing.npz: HumanData file not found"):
        read_humandata(tmp_path / "missing.npz")
    data = dict(np.load(info["path"], allow_pickle=True))
    data["keypoints2d"] = data["keypoints2d"][:, :-1]
    np.savez(tmp_path / "a/bad.npz", **data)
    with pytest.raises(AnnotationError, match=r"bad.npz: compressed 'keypoints2d' has 19 columns but its mask marks"):
        read_humandata(tmp_path / "a/bad.npz")
    data = dict(np.load(info["path"], allow_pickle=True))
    data["keypoints2d_convention"] = np.array("openpose_118", dtype=object)
    np.savez(tmp_path / "a/conv.npz", **data)
    with pytest.raises(AnnotationError, match="conv.npz: keypoints2d_convention 'openpose_118' is not supported"):
        read_humandata(tmp_path / "a/conv.npz")
    data = dict(np.load(info["path"], allow_pickle=True))
    smpl = data["smpl"].item()
    smpl["betas"][3, 2] = np.nan
    data["smpl"] = np.array(smpl, dtype=object)
    np.savez(tmp_path / "a/nan.npz", **data)
    with pytest.raises(AnnotationError, match="nan.npz: 'betas' contains NaN"):
        read_humandata(tmp_path / "a/nan.npz")
    (tmp_path / "a/images/000001.jpg").unlink()
    with pytest.raises(AnnotationError, match="000001.jpg: image file not found"):
        read_humandata(info["path"])


def test_round_trip_of_3d_records(tmp_path):
    from data.adapters.h36m import read_h36m
    from test_adapter_h36m_muco import toy_joints, toy_rest_pelvis
    from tool.fixtures.h36m_muco import write_h36m

    write_h36m(tmp_path / "h36m", toy_joints, toy_rest_pelvis, subjects=(1,))
    records = read_h36m(tmp_path / "h36m", "train", None, subjects=(1,), smpl_file="none")
    path = write_humandata(tmp_path / "h36m.npz", records_to_humandata(records, image_root=tmp_path / "h36m"))
    back = read_humandata(path, image_dir=tmp_path / "h36m")
    for a, b in zip(records, back):
        joints, mask = convert_joints(a.joints3d, "h36m17", "crowdnet30")
        assert b.joints3d_valid == pytest.approx(mask) and b.joints3d[mask > 0] == pytest.approx(joints[mask > 0],
                                                                                                  abs=1e-5)
        assert b.image_path == a.image_path and not b.has_smpl
