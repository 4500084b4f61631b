"""Pseudo-label selection: the released confidence filters (with counts) and the per-part reprojection gate."""
from __future__ import annotations

import numpy as np
import pytest

from common.wholebody.layout import FACE_LANDMARKS, HEAD_IDS, LEFT_HAND, RIGHT_HAND
from data.pseudo_labels import PseudoLabel, part_reprojection_errors, select_labels
from data.pseudo_labels.selection import zero_low_confidence

ALL_VALID = {"body": True, "left_hand": True, "right_hand": True, "face": True}


def make_label(kp: np.ndarray, valid=None) -> PseudoLabel:
    return PseudoLabel(np.zeros((55, 3), np.float32), np.zeros(10, np.float32), np.zeros(10, np.float32),
                       dict(valid or ALL_VALID), keypoints2d=kp.astype(np.float32))


def full_keypoints(seed: int = 0, conf: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(0, 100, (137, 2)), np.full(137, conf)]


def test_confidence_thresholds_per_part():
    kp = full_keypoints(conf=0.15)
    out = zero_low_confidence(kp)
    assert out[:25, 2].min() == pytest.approx(0.15) and not out[25:, 2].any()  # body 0.1 < 0.15 < hand 0.2
    kp[:, 2] = 0.3
    out = zero_low_confidence(kp)
    assert out[:67, 2].all() and not out[67:, 2].any()  # face needs 0.4
    assert kp[0, 2] == 0.3  # input untouched


def test_keypoint_filters_and_their_counts():
    few = full_keypoints()
    few[11:, 2] = 0.0  # 11 points survive < 12
    coco = full_keypoints()
    coco[5:25, 2] = 0.05  # 5 body points, many hand/face points
    no_left = full_keypoints()
    no_left[LEFT_HAND.start:LEFT_HAND.start + 13, 2] = 0.1  # 8 left-hand points survive: not > 8
    no_face = full_keypoints()
    no_face[list(HEAD_IDS), 2] = 0.3  # head points under the face threshold 0.4 (body head points stay 0.3 > 0.1)
    labels = [make_label(k) for k in (few, coco, no_left, no_face, full_keypoints())]
    labels.append(PseudoLabel(np.zeros((55, 3)), np.zeros(10), np.zeros(10), dict(ALL_VALID)))  # no detections
    kept, out, counts = select_labels(labels, min_body_points=6)
    assert kept == [2, 3, 4]
    assert counts["few_keypoints"] == 1 and counts["few_body_points"] == 1 and counts["no_keypoints"] == 1
    assert out[0].valid["left_hand"] is False and out[0].valid["right_hand"] is True
    assert counts["left_hand_few_points"] == 1
    # nose/eyes/ears (5 body points at 0.3) survive the body threshold but 5 <= 8 head points: no face label
    assert out[1].valid["face"] is False and counts["face_few_points"] == 1
    assert out[2].valid == ALL_VALID and counts["images_kept"] == 3
    assert labels[2].valid["left_hand"] is True  # inputs untouched
    # without the COCO rule the COCO-style image is kept
    assert select_labels(labels)[0] == [1, 2, 3, 4]


def gate_case(n: int = 8, seed: int = 0):
    """Labels whose every part is off by a known normalised error under a known weak-perspective camera."""
    rng = np.random.default_rng(seed)
    kp3 = rng.standard_normal((n, 137, 3)) * 0.3
    cam = np.c_[np.full(n, 500.0), np.full(n, 100.0), np.full(n, 80.0)]
    errors = np.linspace(0.0, 0.14, n)
    rng.shuffle(errors)
    det = np.zeros((n, 137, 3))
    det[..., :2] = cam[:, None, :1] * kp3[..., :2] + cam[:, None, 1:]
    det[..., 2] = 1.0
    for part_ids in (slice(0, 25), LEFT_HAND, RIGHT_HAND, slice(67, 137)):
        box = det[:, part_ids, :2]
        size = (box.max(1) - box.min(1)).max(-1)
        det[:, part_ids, 0] += (errors * size)[:, None]  # a constant shift: mean distance = error * box size
    return kp3, det, cam, errors


def test_selection_keeps_exactly_the_labels_below_the_threshold():
    kp3, det, cam, errors = gate_case()
    labels = [make_label(d) for d in det]
    measured = part_reprojection_errors(kp3, det, camera=cam)
    np.testing.assert_allclose(measured["right_hand"], errors, atol=1e-9)
    limit = 0.07
    kept, out, counts = select_labels(labels, kp3, camera=cam, max_error={"right_hand": limit, "face": limit})
    assert kept == list(range(len(labels)))  # the body is not gated: every image stays
    assert [lab.valid["right_hand"] for lab in out] == list(errors <= limit)
    assert [lab.valid["face"] for lab in out] == list(errors <= limit)
    assert all(lab.valid["left_hand"] for lab in out)
    assert counts["right_hand_error"] == int((errors > limit).sum())
    kept, _, counts = select_labels(labels, kp3, camera=cam, max_error={"body": limit})
    assert kept == [i for i, e in enumerate(errors) if e <= limit] and counts["body_error"] == 8 - len(kept)


def test_keep_fraction_and_fitted_camera():
    kp3, det, _, errors = gate_case(seed=1)
    rng = np.random.default_rng(3)
    noisy = det.copy()  # a fitted camera absorbs a constant shift, so perturb points independently instead
    noisy[..., :2] += rng.standard_normal(det[..., :2].shape) * errors[:, None, None] * 40
    labels = [make_label(d) for d in noisy]
    kept, out, counts = select_labels(labels, kp3, keep_fraction={"left_hand": 0.5})
    best = set(np.argsort(errors)[:4])
    assert [lab.valid["left_hand"] for lab in out] == [i in best for i in range(8)]
    assert counts["left_hand_error"] == 4
    # a per-part shift is what a fitted camera absorbs: the same labels score 0 without the given camera
    assert max(np.nanmax(v) for v in part_reprojection_errors(kp3, det).values()) < 1e-9
    with pytest.raises(ValueError, match="keypoints3d"):
        select_labels(labels, keep_fraction={"face": 0.5})
    with pytest.raises(ValueError, match="keep_fraction.*'face'"):
        select_labels(labels, kp3, keep_fraction={"face": 1.5})
    with pytest.raises(ValueError, match="max_error.*'hands'"):
        select_labels(labels, kp3, max_error={"hands": 0.1})


def test_label_keypoints_through_the_layer_reproject_onto_their_own_projection():
    from common.body_models import build_body_model
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels import label_keypoints3d

    layer = WholeBodyLayer.from_body_model(build_body_model("smplx", source="open"))
    rng = np.random.default_rng(0)
    labels = [make_label(full_keypoints(i)) for i in range(3)]
    for lab in labels:
        lab.smplx_pose = (rng.standard_normal((55, 3)) * 0.2).astype(np.float32)
    kp3 = label_keypoints3d(labels, layer)
    valid = layer.keypoints_valid.numpy()
    det = np.c_[(400 * kp3[..., :2] + 200).reshape(-1, 2), np.ones(3 * 137)].reshape(3, 137, 3)
    det[:, valid == 0, 2] = 0.0
    errs = part_reprojection_errors(kp3, det, model_valid=valid)
    assert max(np.nanmax(e) for e in errs.values()) < 1e-6
    assert np.isfinite(errs["face"]).all() and det[0, FACE_LANDMARKS, 2].all()
