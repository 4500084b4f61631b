"""FuRPE pseudo-labels: expert outputs and FuRPE's label files -> SMPL-X supervision in our conventions."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from data.pseudo_labels import (
    PseudoLabelError,
    load_pseudo_label_records,
    load_pseudo_labels,
    pseudo_label_from_expert_files,
    read_deca_output,
    read_frankmocap_hand_output,
    read_furpe_label,
    read_spin_output,
)
from data.pseudo_labels.expert_files import write_deca_output, write_frankmocap_hand_output, write_spin_output
from data.pseudo_labels.experts import expert_outputs_from_smplx


def gt_smplx(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pose = (rng.standard_normal((55, 3)) * 0.4).astype(np.float32)
    pose[23:25] = 0.0  # eyes are not parameters
    return pose, rng.standard_normal(10).astype(np.float32)


def hand_means(seed: int = 1) -> dict[str, np.ndarray]:
    right = (np.random.default_rng(seed).standard_normal(45) * 0.3).astype(np.float32)
    left = (right.reshape(15, 3) * np.array([1.0, -1.0, -1.0], np.float32)).reshape(45)  # the mirror, as in SMPL-X
    return {"left": left, "right": right}


def write_experts(tmp_path, pose, expr, mean, features=False):
    out = expert_outputs_from_smplx(pose, expr, mean)
    feat = {p: np.full(1024, i, np.float32) for i, p in enumerate(("body", "left", "right", "face"))} if features \
        else {}
    write_spin_output(tmp_path / "spin.npz", **out["spin"], feature=feat.get("body"))
    write_frankmocap_hand_output(tmp_path / "hand.pkl", out["frankmocap"],
                                 {s: feat[s] for s in ("left", "right") if s in feat})
    write_deca_output(tmp_path / "deca.npy", out["deca"]["pose"], out["deca"]["exp"], feat.get("face"))
    return tmp_path / "spin.npz", tmp_path / "hand.pkl", tmp_path / "deca.npy"


def test_gt_smplx_to_expert_outputs_and_back_is_identity(tmp_path):
    pose, expr = gt_smplx()
    mean = hand_means()
    spin, hand, deca = write_experts(tmp_path, pose, expr, mean, features=True)
    label = pseudo_label_from_expert_files(spin, hand, deca, hand_mean=mean)
    assert label.valid == {"body": True, "left_hand": True, "right_hand": True, "face": True}
    keep = np.r_[0:23, 25:55]
    np.testing.assert_allclose(label.smplx_pose[keep], pose[keep], atol=1e-5)
    np.testing.assert_allclose(label.expression, expr, atol=1e-6)
    assert not label.betas.any()  # SPIN's SMPL betas are dropped
    assert sorted(label.features) == ["body", "face", "left_hand", "right_hand"]
    assert label.features["right_hand"][0] == 2.0
    # without the mean the fingers are off by exactly the mean: the conversion adds it
    plain = pseudo_label_from_expert_files(spin, hand, deca, hand_mean=None)
    np.testing.assert_allclose(plain.smplx_pose[25:40] + mean["left"].reshape(15, 3), pose[25:40], atol=1e-5)


def test_a_hand_with_a_3_2_rad_angle_is_dropped(tmp_path):
    pose, expr = gt_smplx(2)
    pose[30, 1] = 3.2  # a left finger joint, absolute
    spin, hand, deca = write_experts(tmp_path, pose, expr, None)
    label = pseudo_label_from_expert_files(spin, hand, deca)
    assert label.valid["left_hand"] is False and label.valid["right_hand"] is True
    assert not label.smplx_pose[25:40].any() and label.part_mask()[25:40].sum() == 0
    pose[30, 1] = 3.1  # under the limit: kept
    spin, hand, deca = write_experts(tmp_path, pose, expr, None)
    assert pseudo_label_from_expert_files(spin, hand, deca).valid["left_hand"] is True


def furpe_dict(seed: int = 0, **drop) -> dict:
    rng = np.random.default_rng(seed)
    d = {"global_orient": rng.standard_normal(3).astype(np.float32) * 0.3,
         "body_pose": rng.standard_normal(63).astype(np.float32) * 0.3,
         "betas": np.zeros((1, 10), np.float32), "jaw_pose": rng.standard_normal((1, 3)).astype(np.float32) * 0.1,
         "expression": rng.standard_normal((1, 10)).astype(np.float32),
         "left_hand_pose": rng.standard_normal((15, 3)).astype(np.float32) * 0.2,
         "right_hand_pose": rng.standard_normal((15, 3)).astype(np.float32) * 0.2,
         "vertices": np.zeros((10475, 3), np.float32), "keypoints3d": np.zeros((144, 3), np.float32),
         "crop_body_bbox": np.array([1, 2, 30, 40], np.float32)}
    for part in ("body", "face", "left_hand", "right_hand"):  # the release stores torch tensors
        d[f"save_feature_{part}"] = torch.randn(1, 1024, generator=torch.Generator().manual_seed(seed))
    for key in drop:
        d.pop(key)
    return d


def test_furpe_label_file_as_released(tmp_path):
    d, mean = furpe_dict(), hand_means()
    np.save(tmp_path / "a.npy", d, allow_pickle=True)
    label = read_furpe_label(tmp_path / "a.npy", hand_mean=mean)
    np.testing.assert_allclose(label.smplx_pose[0], d["global_orient"])
    np.testing.assert_allclose(label.smplx_pose[1:22].reshape(63), d["body_pose"])
    np.testing.assert_allclose(label.smplx_pose[22], d["jaw_pose"][0])
    np.testing.assert_allclose(label.smplx_pose[40:55], d["right_hand_pose"] + mean["right"].reshape(15, 3))
    np.testing.assert_allclose(label.expression, d["expression"][0])
    assert all(label.valid.values()) and set(label.features) == {"body", "face", "left_hand", "right_hand"}
    assert label.meta["crop_body_bbox"] == [1, 2, 30, 40]
    # no DECA output -> no face label (and no face feature); a 3.2 rad finger -> no left hand
    d2 = furpe_dict(1, jaw_pose=None, expression=None)
    d2["left_hand_pose"][3, 2] = 3.2
    np.save(tmp_path / "b.npy", d2, allow_pickle=True)
    label = read_furpe_label(tmp_path / "b.npy")
    assert label.valid == {"body": True, "left_hand": False, "right_hand": True, "face": False}
    assert set(label.features) == {"body", "right_hand"}


@pytest.mark.parametrize("change, key", [
    (lambda d: d.update(body_pose=np.zeros(60)), "body_pose"),
    (lambda d: d["expression"].__setitem__((0, 3), np.nan), "expression"),
    (lambda d: d.update(flame_shape=np.zeros(100)), "flame_shape"),
    (lambda d: d.pop("global_orient"), "global_orient"),
    (lambda d: d.pop("expression"), "expression"),
    (lambda d: d.update(save_feature_body=torch.zeros(1, 1000)), "save_feature_body"),
])
def test_bad_furpe_label_names_the_file_and_key(tmp_path, change, key):
    d = furpe_dict()
    change(d)
    np.save(tmp_path / "bad.npy", d, allow_pickle=True)
    with pytest.raises(PseudoLabelError, match=rf"bad\.npy.*'{key}'") as err:
        read_furpe_label(tmp_path / "bad.npy")
    assert "\n" not in str(err.value)


def test_bad_expert_outputs(tmp_path):
    np.savez(tmp_path / "spin.npz", pred_rotmat=np.zeros((1, 23, 3, 3)), pred_betas=np.zeros((1, 10)),
             pred_camera=np.zeros((1, 3)))
    with pytest.raises(PseudoLabelError, match="spin.npz.*'pred_rotmat'"):
        read_spin_output(tmp_path / "spin.npz")
    np.savez(tmp_path / "eval.npz", pose=np.zeros((2, 72)), betas=np.zeros((2, 10)), camera=np.zeros((2, 3)),
             extra=np.zeros(1))
    with pytest.raises(PseudoLabelError, match="eval.npz.*'extra'"):
        read_spin_output(tmp_path / "eval.npz")
    np.savez(tmp_path / "eval.npz", pose=np.zeros((2, 72)), betas=np.zeros((2, 10)), camera=np.ones((2, 3)))
    assert read_spin_output(tmp_path / "eval.npz", index=1)["camera"].tolist() == [1, 1, 1]
    write_frankmocap_hand_output(tmp_path / "h.pkl", {"left": None, "right": np.zeros(48)})
    assert list(read_frankmocap_hand_output(tmp_path / "h.pkl")) == ["right"]  # undetected hand: absent
    np.save(tmp_path / "opdict.npy", {"verts": np.zeros((5023, 3)), "landmarks2d": np.zeros((68, 2))})
    with pytest.raises(PseudoLabelError, match="opdict.npy.*'exp'.*codedict"):
        read_deca_output(tmp_path / "opdict.npy")
    from scipy.io import savemat

    savemat(tmp_path / "codes.mat", {"pose": np.arange(6.0)[None], "exp": np.ones((1, 50)), "cam": np.ones((1, 3))})
    out = read_deca_output(tmp_path / "codes.mat")
    assert out["pose"].tolist() == [0, 1, 2, 3, 4, 5] and out["exp"].shape == (50,)
    np.save(tmp_path / "deca.npy", {"pose": np.full((1, 6), np.nan), "exp": np.zeros((1, 50))})
    with pytest.raises(PseudoLabelError, match="deca.npy.*'pose'.*NaN"):
        read_deca_output(tmp_path / "deca.npy")


def openpose_json(path, conf=0.9):
    rng = np.random.default_rng(0)
    person = {name: np.c_[rng.uniform(100, 200, (n, 2)), np.full(n, conf)].reshape(-1).tolist()
              for name, n in (("pose_keypoints_2d", 25), ("hand_left_keypoints_2d", 21),
                              ("hand_right_keypoints_2d", 21), ("face_keypoints_2d", 70))}
    path.write_text(json.dumps({"people": [person]}))


def test_loader_counts_and_logs_missing_labels(tmp_path, caplog):
    (tmp_path / "labels").mkdir()
    (tmp_path / "kp").mkdir()
    np.save(tmp_path / "labels" / "img1.npy", furpe_dict(), allow_pickle=True)
    openpose_json(tmp_path / "kp" / "img1_keypoints.json")
    images = [str(tmp_path / "img1.jpg"), str(tmp_path / "img2.jpg")]
    with caplog.at_level(logging.WARNING):
        pairs, counts = load_pseudo_labels(images, tmp_path / "labels", tmp_path / "kp")
    assert counts["missing_label"] == 1 and counts["loaded"] == 1 and len(pairs) == 1
    assert "1 of 2 images have no label file" in caplog.text and "img2.npy" in caplog.text
    assert pairs[0][1].keypoints2d.shape == (137, 3)
    records, labels, counts = load_pseudo_label_records(images, tmp_path / "labels", tmp_path / "kp")
    assert len(records) == len(labels) == 1 and records[0].pose2d_input.shape == (137, 2)
    assert records[0].meta["part_valid"]["body"] is True
    assert records[0].has_smplx and np.allclose(records[0].smplx_pose, labels[0].smplx_pose)
    assert records[0].left_hand_valid == float(labels[0].valid["left_hand"])


def test_hand_means_from_the_layer_are_the_files_mean():
    from common.body_models import build_body_model
    from common.geometry.rotations import axis_angle_to_matrix
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels.experts import hand_means_from_layer

    layer = WholeBodyLayer.from_body_model(build_body_model("smplx", source="open"))
    means = hand_means_from_layer(layer)
    for side in ("left", "right"):
        rot = axis_angle_to_matrix(torch.as_tensor(means[side]).reshape(15, 3))
        assert torch.allclose(rot, layer.hands_mean_rotmats(side), atol=1e-6)
