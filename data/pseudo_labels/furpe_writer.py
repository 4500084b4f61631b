"""Writers of FuRPE's per-image files: the label ``.npy`` dict (read back by :func:`read_furpe_label`) and the
OpenPose JSON detections (read back by :func:`~data.pseudo_labels.loader.read_openpose137`).

The label dict has the release's keys and shapes (furpe_file.py): ``global_orient`` (3,), ``body_pose`` (63,),
``betas`` (1, 10), ``jaw_pose`` (1, 3) + ``expression`` (1, 10) only with a face label, ``<side>_hand_pose``
(15, 3) only with that hand's label, **relative to ``hand_mean``** (the release's convention; pass None to store
absolute fingers, and read back with the same ``hand_mean``), ``save_feature_{body,face,left_hand,right_hand}``
(1, 1024) torch tensors (an empty tensor where there is none, as the release), ``crop_body_bbox`` (4,) xyxy px.
``vertices`` / ``keypoints3d`` / ``scale`` / ``translation`` are optional in the reader and not written.
Both files are written atomically (temporary file in the same folder, then renamed).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from common.errors import writing
from data.pseudo_labels.label import PARTS

FEATURE_KEYS = {part: f"save_feature_{part}" for part in PARTS}


def furpe_label_dict(body: np.ndarray, hands: Mapping[str, np.ndarray] | None = None,
                     face: tuple[np.ndarray, np.ndarray] | None = None,
                     features: Mapping[str, np.ndarray] | None = None,
                     hand_mean: Mapping[str, np.ndarray] | None = None, betas: np.ndarray | None = None,
                     crop_body_bbox: np.ndarray | None = None) -> dict:
    """The release's label dict of one image.

    Args:
        body: (22, 3) axis-angle: SMPL-X global orientation + 21 body joints.
        hands: side ('left' / 'right') -> (15, 3) ABSOLUTE finger axis-angle; a side not given = no hand label.
        face: (jaw (3,), expression (10,)) or None (no face label).
        features: part -> (1024,) expert feature (written as a (1, 1024) torch tensor; others empty).
        hand_mean: side -> (45,) the mean subtracted before storing (None: fingers stored absolute).
        betas: (10,) written as (1, 10) (SMPL shape in the release; the reader checks and drops it).
        crop_body_bbox: (4,) xyxy px of the body crop.
    """
    body = np.asarray(body, np.float32).reshape(22, 3)
    shape = np.zeros(10, np.float32) if betas is None else np.asarray(betas, np.float32)
    out: dict = {"global_orient": body[0].copy(), "body_pose": body[1:].reshape(63).copy(),
                 "betas": shape.reshape(1, 10)}
    if face is not None:
        out["jaw_pose"] = np.asarray(face[0], np.float32).reshape(1, 3)
        out["expression"] = np.asarray(face[1], np.float32).reshape(1, 10)
    for side, fingers in (hands or {}).items():
        mean = 0.0 if hand_mean is None else np.asarray(hand_mean[side], np.float32).reshape(15, 3)
        out[f"{side}_hand_pose"] = (np.asarray(fingers, np.float32).reshape(15, 3) - mean).astype(np.float32)
    for part, key in FEATURE_KEYS.items():
        feat = (features or {}).get(part)
        out[key] = torch.zeros(0) if feat is None else torch.as_tensor(np.asarray(feat, np.float32)).reshape(1, 1024)
    if crop_body_bbox is not None:
        out["crop_body_bbox"] = np.asarray(crop_body_bbox, np.float32).reshape(4)
    return out


def furpe_label_from_smplx(smplx_pose: np.ndarray, expression: np.ndarray, valid: Mapping[str, bool],
                           features: Mapping[str, np.ndarray] | None = None,
                           hand_mean: Mapping[str, np.ndarray] | None = None) -> dict:
    """:func:`furpe_label_dict` of one person's SMPL-X parameters: pose (55, 3) axis-angle with absolute fingers,
    expression (10,), per-part ``valid`` (an invalid hand / face is left out, as the release does without that
    expert's output); fingers stored relative to ``hand_mean`` (None: absolute)."""
    pose = np.asarray(smplx_pose, np.float32).reshape(55, 3)
    hands = {side: pose[rows] for side, rows in (("left", slice(25, 40)), ("right", slice(40, 55)))
             if valid.get(f"{side}_hand", False)}
    face = (pose[22], np.asarray(expression, np.float32).reshape(10)) if valid.get("face", False) else None
    return furpe_label_dict(pose[:22], hands, face, features, hand_mean)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with writing(path, "pseudo-label file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def write_furpe_label(path: str | os.PathLike, label: dict) -> Path:
    """``np.save`` of a :func:`furpe_label_dict` (pickled dict, as the release) at ``path``."""
    path = Path(path)
    _atomic(path, lambda handle: np.save(handle, label, allow_pickle=True))
    return path


def write_openpose137(path: str | os.PathLike, keypoints: np.ndarray) -> Path:
    """OpenPose JSON of one person from (137, 3) x, y (px), confidence (0 -> the triple is written 0, 0, 0)."""
    from data.synthetic_wholebody.ehf_export import openpose_json

    kp = np.asarray(keypoints, np.float64).reshape(137, 3)
    text = json.dumps(openpose_json(kp[:, :2], kp[:, 2]))
    path = Path(path)
    _atomic(path, lambda handle: handle.write(text.encode()))
    return path
