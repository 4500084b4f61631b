"""Writers of the files the ``pseudo_labels`` dataset reads: FuRPE's label file and OpenPose's JSON.

:func:`write_furpe_label` writes the released layout that ``read_furpe_label`` reads (np.save of a dict; features
as (1, 1024) torch tensors, an empty tensor for none), with absolute fingers (read back with ``hand_mean=None``).
:func:`write_openpose137` writes people[0] of an OpenPose JSON. Used by tests and by the simulated experts
(tool/furpe_simulated_labels.py); the labelling tool writes the same files.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_OPENPOSE_KEYS = (("pose_keypoints_2d", 0, 25), ("hand_left_keypoints_2d", 25, 46),
                  ("hand_right_keypoints_2d", 46, 67), ("face_keypoints_2d", 67, 137))


def furpe_label_dict(smplx_pose: np.ndarray, expression: np.ndarray, valid: Mapping[str, bool],
                     features: Mapping[str, np.ndarray] | None = None) -> dict:
    """The released dict of one label: pose (55, 3) absolute axis-angle, expression (10,), per-part ``valid``
    (an invalid hand / face is left out, as the release does without that expert's output), features part ->
    (1024,)."""
    import torch

    pose = np.asarray(smplx_pose, np.float32).reshape(55, 3)
    out = {"global_orient": pose[0].copy(), "body_pose": pose[1:22].reshape(63).copy(),
           "betas": np.zeros((1, 10), np.float32)}
    if valid.get("face", False):
        out["jaw_pose"] = pose[22][None].copy()
        out["expression"] = np.asarray(expression, np.float32).reshape(1, 10)
    for side, rows in (("left", slice(25, 40)), ("right", slice(40, 55))):
        if valid.get(f"{side}_hand", False):
            out[f"{side}_hand_pose"] = pose[rows].copy()
    for part in ("body", "face", "left_hand", "right_hand"):
        feat = (features or {}).get(part)
        out[f"save_feature_{part}"] = torch.zeros(0) if feat is None else \
            torch.as_tensor(np.asarray(feat, np.float32).reshape(1, 1024))
    return out


def write_furpe_label(path: str | os.PathLike, label: dict) -> Path:
    """np.save ``label`` (a :func:`furpe_label_dict`) to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, label, allow_pickle=True)
    return path


def write_openpose137(path: str | os.PathLike, keypoints: np.ndarray) -> Path:
    """(137, 3) x, y px + confidence in the OpenPose-137 layout -> OpenPose JSON with one person."""
    kp = np.asarray(keypoints, np.float64).reshape(137, 3)
    person = {name: kp[a:b].reshape(-1).tolist() for name, a, b in _OPENPOSE_KEYS}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1.3, "people": [person]}))
    return path
