"""The pseudo_labels dataset: records with per-part validity from FuRPE label files, missing labels counted, the
selection applied through the dataset (thresholds from furpe.*), bad label files as one-line errors."""
import logging

import numpy as np
import pytest

from common.config import load_config
from data.pseudo_labels.dataset import build_pseudo_label_records, label_paths, label_stem
from data.pseudo_labels.furpe_writer import furpe_label_from_smplx, write_furpe_label, write_openpose137
from data.pseudo_labels.label import PseudoLabelError
from data.records import PersonRecord
from test_end_to_end import REPO

CFG = REPO / "configs" / "furpe_tiny_e2e.yaml"


def base_records(n: int = 4) -> list[PersonRecord]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        kp = rng.uniform(20, 180, (137, 2)).astype(np.float32)
        out.append(PersonRecord(
            image_path=f"/nowhere/img{i}.png", bbox=np.array([10, 10, 150, 150], np.float32),
            focal=np.array([500, 500], np.float32), princpt=np.array([100, 100], np.float32),
            joints_convention="openpose137", joints2d=kp, joints2d_valid=np.ones(137, np.float32),
            smplx_pose=(rng.standard_normal((55, 3)) * 0.2).astype(np.float32), smplx_betas=np.zeros(10, np.float32),
            smplx_expression=np.zeros(10, np.float32), dataset="synthetic_wholebody", person_id=0).validate())
    return out


def write_labels(tmp_path, records, valid=None, conf=0.9, skip=()):
    for i, rec in enumerate(records):
        if i in skip:
            continue
        label, kp = label_paths(tmp_path, "synthetic_wholebody", label_stem(rec, 1))
        v = valid[i] if valid else {"body": True, "left_hand": True, "right_hand": True, "face": True}
        feats = {p: np.full(1024, i, np.float32) for p in v if v[p]}
        write_furpe_label(label, furpe_label_from_smplx(rec.smplx_pose, rec.smplx_expression, v, feats))
        write_openpose137(kp, np.c_[rec.joints2d, np.full(137, conf[i] if isinstance(conf, list) else conf)])


def furpe_cfg(tmp_path, *opts):
    return load_config(CFG, [f"furpe.label_dir={tmp_path}", "furpe.select=false", "furpe.max_error_hands=0",
                             "furpe.hand_storage=absolute", *opts]).furpe


def test_records_carry_the_labels_per_part_validity_and_features(tmp_path):
    base = base_records(3)
    valid = [{"body": True, "left_hand": i != 1, "right_hand": True, "face": i != 2} for i in range(3)]
    write_labels(tmp_path, base, valid)
    records, report = build_pseudo_label_records(base, furpe_cfg(tmp_path), "synthetic_wholebody")
    assert len(records) == 3 and report.counts["loaded"] == 3
    assert [r.left_hand_valid for r in records] == [1.0, 0.0, 1.0]
    assert [r.face_valid for r in records] == [1.0, 1.0, 0.0]
    assert all(r.dataset == "pseudo_labels" and r.has_smplx for r in records)
    np.testing.assert_allclose(records[0].smplx_pose[:22], base[0].smplx_pose[:22], atol=1e-6)
    assert set(records[1].meta["expert_features"]) == {"body", "right_hand", "face"}
    assert records[2].meta["expert_features"]["body"][0] == 2.0
    assert report.label_error["before"]["body"] < 1e-3  # labels written from the GT


def test_a_missing_label_is_counted_and_logged(tmp_path, caplog):
    base = base_records(3)
    write_labels(tmp_path, base, skip=(1,))
    with caplog.at_level(logging.WARNING):
        records, report = build_pseudo_label_records(base, furpe_cfg(tmp_path), "synthetic_wholebody")
    assert len(records) == 2 and report.counts["missing_label"] == 1
    assert "1 of 3 records" in caplog.text and "img1.npy" in caplog.text


def test_selection_through_the_dataset_keeps_exactly_the_labels_below_the_threshold(tmp_path):
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels.furpe_file import read_furpe_label
    from data.pseudo_labels.selection import label_keypoints3d, part_reprojection_errors

    cfg = load_config(CFG, [f"furpe.label_dir={tmp_path}"])
    layer = WholeBodyLayer.from_config(cfg)
    base = base_records(6)
    write_labels(tmp_path, base)
    # the detections: the labels' own projections, the left hands of half the records disturbed
    labels = [read_furpe_label(label_paths(tmp_path, "synthetic_wholebody", label_stem(r, 1))[0]) for r in base]
    kp3 = label_keypoints3d(labels, layer)
    rng = np.random.default_rng(1)
    dets = np.stack([np.c_[kp3[i, :, :2] * 300 + 100, np.full(137, 0.9)] for i in range(6)])
    dets[1::2, 25:46, :2] += rng.normal(0, 15, (3, 21, 2))
    for rec, det in zip(base, dets):
        write_openpose137(label_paths(tmp_path, "synthetic_wholebody", label_stem(rec, 1))[1], det)
    errors = part_reprojection_errors(kp3, dets, layer.keypoints_valid.numpy())["left_hand"]
    limit = float(np.median(errors))
    furpe = furpe_cfg(tmp_path, "furpe.select=true", f"furpe.max_error_hands={limit}")
    records, report = build_pseudo_label_records(base, furpe, "synthetic_wholebody", layer)
    kept = [r.left_hand_valid > 0 for r in records]
    assert kept == list(errors <= limit) and 0 < sum(kept) < 6
    assert report.counts["select_left_hand_error"] == 6 - sum(kept)
    assert report.counts["select_images_kept"] == 6


def test_a_bad_label_file_is_one_line_naming_the_file_and_key(tmp_path):
    base = base_records(2)
    write_labels(tmp_path, base)
    path = label_paths(tmp_path, "synthetic_wholebody", label_stem(base[1], 1))[0]
    data = np.load(path, allow_pickle=True).item()
    data["body_pose"] = np.zeros(60, np.float32)
    np.save(path, data, allow_pickle=True)
    with pytest.raises(PseudoLabelError, match=r"img1\.npy: key 'body_pose' has shape \(60,\)") as err:
        build_pseudo_label_records(base, furpe_cfg(tmp_path), "synthetic_wholebody")
    assert "\n" not in str(err.value)
    data["body_pose"] = np.full(63, np.nan, np.float32)
    np.save(path, data, allow_pickle=True)
    with pytest.raises(PseudoLabelError, match=r"img1\.npy: key 'body_pose' contains NaN"):
        build_pseudo_label_records(base, furpe_cfg(tmp_path), "synthetic_wholebody")


def test_the_dataset_table_builds_samples_with_expert_features_and_two_views(tmp_path):
    from common.body_models import family_body_model
    from data.registry import build_dataset, load_records
    from data.sample import check_wholebody_sample
    from tool.furpe_simulated_labels import simulate_labels

    cfg = load_config(CFG, [f"furpe.label_dir={tmp_path}"])
    simulate_labels(load_records("synthetic_wholebody", "train", cfg), tmp_path, "synthetic_wholebody")
    body = family_body_model(cfg)
    pseudo = build_dataset("pseudo_labels", "train", cfg, train=True, body_model=body)
    gt = build_dataset("synthetic_wholebody", "train", cfg, train=True, body_model=body)
    s, g = pseudo[0], gt[0]
    check_wholebody_sample(s, 64, 128)
    assert set(s) == set(g)  # a mixture collates
    assert s["expert_valid"][0] == 1 and g["expert_valid"].sum() == 0
    assert g["left_hand_valid"] == 0 and g["face_valid"] == 0 and g["keypoints2d_valid"][25:].sum() == 0  # GT body
    assert s["views_img_to_crop"].shape == (2, 2, 3) and not np.allclose(s["img"], s["img_view2"])
