"""FuRPE's released per-image label file (``data/params3d_v/<dataset>/<image>.npy``, a dict saved with np.save).

Keys (wholebody-facts.md, "FuRPE additions"; FuRPE/data/datasets/curated_fittings*.py): ``global_orient`` (3,),
``body_pose`` (63,), ``betas`` (1, 10) SMPL shape (unused), ``jaw_pose`` (1, 3), ``expression`` (1, 10),
``left_hand_pose`` / ``right_hand_pose`` (15, 3) FrankMocap fingers relative to the MANO mean,
``save_feature_{body,face,left_hand,right_hand}`` (1, 1024) (torch tensors in the release), ``vertices``
(10475, 3), ``keypoints3d`` (144, 3), ``scale``, ``translation``, ``crop_body_bbox``. The face keys are absent
when DECA gave nothing, a hand's keys when FrankMocap gave nothing; an empty hand feature means none.
At load the release adds the hand mean to each hand and drops the hand if any component reaches 3.15 rad; we do
the same (our fingers are absolute). ``vertices``/``keypoints3d`` come from SMPL-X with zero betas and are kept
in ``meta`` only as arrays of the checked size (they are not supervision here).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from data.pseudo_labels.expert_files import load_dict_file
from data.pseudo_labels.label import (
    PseudoLabel,
    PseudoLabelError,
    check_array,
    check_keys,
    hand_label_ok,
    to_numpy,
)

FURPE_KEYS = frozenset({"global_orient", "body_pose", "betas", "jaw_pose", "expression", "left_hand_pose",
                        "right_hand_pose", "save_feature_body", "save_feature_face", "save_feature_left_hand",
                        "save_feature_right_hand", "vertices", "keypoints3d", "scale", "translation",
                        "crop_body_bbox"})
_FEATURE_KEYS = {"body": "save_feature_body", "face": "save_feature_face", "left_hand": "save_feature_left_hand",
                 "right_hand": "save_feature_right_hand"}


def read_furpe_label(path: str | os.PathLike, hand_mean: Mapping[str, np.ndarray] | None = None,
                     keypoints2d: np.ndarray | None = None) -> PseudoLabel:
    """One FuRPE label file -> :class:`PseudoLabel`.

    ``hand_mean``: side ('left'/'right') -> (45,) the hand mean the release added (the official SMPL-X file's
    ``hands_mean{l,r}``; the right one is the mirror of the left); None = zeros (fingers already absolute).
    Wrong-sized arrays, NaN and unknown keys raise PseudoLabelError naming the file and the key.
    """
    where = str(path)
    data = load_dict_file(path)
    check_keys(data, FURPE_KEYS, where, ("global_orient", "body_pose"))
    pose = np.zeros((55, 3), np.float32)
    pose[0] = check_array(data["global_orient"], (3,), where, "global_orient")
    pose[1:22] = check_array(data["body_pose"], (21, 3), where, "body_pose")
    valid = {"body": True, "left_hand": False, "right_hand": False, "face": False}
    expression = np.zeros(10, np.float32)
    if "jaw_pose" in data:  # the release: a face label exactly when DECA's output was stored
        pose[22] = check_array(data["jaw_pose"], (3,), where, "jaw_pose")
        if "expression" not in data:
            raise PseudoLabelError(f"{where}: key 'expression' is missing (the file has 'jaw_pose')")
        expression = check_array(data["expression"], (10,), where, "expression")
        valid["face"] = True
    for side, rows in (("left", slice(25, 40)), ("right", slice(40, 55))):
        key = f"{side}_hand_pose"
        if key not in data:
            continue
        mean = np.zeros((15, 3), np.float32) if hand_mean is None else check_array(hand_mean[side], (15, 3),
                                                                                   where, "hand_mean")
        fingers = check_array(data[key], (15, 3), where, key) + mean
        if hand_label_ok(fingers):
            pose[rows] = fingers
            valid[f"{side}_hand"] = True
    features = {}
    for part, key in _FEATURE_KEYS.items():
        if key in data and to_numpy(data[key]).size and valid[part]:
            features[part] = check_array(data[key], (1024,), where, key)
    meta = {}
    for key, shape in (("scale", (1,)), ("translation", (2,)), ("crop_body_bbox", (4,))):
        if key in data and to_numpy(data[key]).size == int(np.prod(shape)):
            meta[key] = check_array(data[key], shape, where, key).tolist()
    for key, count in (("vertices", None), ("keypoints3d", 144)):
        if key in data:  # (N, 3) points: checked for size and NaN, not used
            n = to_numpy(data[key]).size // 3 if count is None else count
            check_array(data[key], (max(n, 1), 3), where, key)
    if "betas" in data:
        check_array(data["betas"], (10,), where, "betas")  # SMPL betas: checked, not used
    return PseudoLabel(smplx_pose=pose, betas=np.zeros(10, np.float32), expression=expression, valid=valid,
                       features=features, keypoints2d=keypoints2d, source=where, meta=meta).validate()
