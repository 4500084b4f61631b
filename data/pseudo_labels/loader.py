"""Pseudo-labels for a list of images: label files + OpenPose JSON -> :class:`PseudoLabel` (and, thinly, records).

Naming: the label of ``<dir>/<stem>.<ext>`` is ``<label_dir>/<stem>.npy`` (FuRPE's ``params3d_v`` layout), its
detections ``<keypoint_dir>/<stem>_keypoints.json`` (OpenPose's own naming; people[0]). A missing label file is
counted and logged (never silent); a malformed one is a one-line PseudoLabelError naming the file and the key.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from data.adapters.ehf import keypoint_bbox, read_openpose_json
from data.pseudo_labels.furpe_file import read_furpe_label
from data.pseudo_labels.label import PseudoLabel

log = logging.getLogger(__name__)
_OPENPOSE_ORDER = ("pose_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d")


def read_openpose137(path: str | os.PathLike) -> np.ndarray:
    """(137, 3) x, y (px), confidence of people[0] in the OpenPose-137 layout (body, left, right hand, face)."""
    kp = read_openpose_json(path)
    return np.concatenate([kp[name] for name in _OPENPOSE_ORDER]).astype(np.float32)


def load_pseudo_labels(image_paths: Sequence[str | os.PathLike], label_dir: str | os.PathLike,
                       keypoint_dir: str | os.PathLike | None = None,
                       hand_mean: Mapping[str, np.ndarray] | None = None,
                       ) -> tuple[list[tuple[str, PseudoLabel]], Counter]:
    """(image path, label) for every image whose label file exists, and counts ``images``, ``missing_label``,
    ``missing_keypoints`` (label kept without detections), ``loaded``; missing files are logged with examples."""
    counts: Counter = Counter(images=len(image_paths))
    missing: list[str] = []
    out: list[tuple[str, PseudoLabel]] = []
    for image in image_paths:
        stem = Path(image).stem
        label_path = Path(label_dir) / f"{stem}.npy"
        if not label_path.is_file():
            counts["missing_label"] += 1
            missing.append(str(label_path))
            continue
        kp = None
        if keypoint_dir is not None:
            kp_path = Path(keypoint_dir) / f"{stem}_keypoints.json"
            if kp_path.is_file():
                kp = read_openpose137(kp_path)
            else:
                counts["missing_keypoints"] += 1
        out.append((str(image), read_furpe_label(label_path, hand_mean, keypoints2d=kp)))
    counts["loaded"] = len(out)
    if missing:
        log.warning("pseudo-labels: %d of %d images have no label file in %s (e.g. %s)", len(missing),
                    len(image_paths), label_dir, ", ".join(missing[:3]))
    if counts["missing_keypoints"]:
        log.warning("pseudo-labels: %d labelled images have no OpenPose JSON in %s", counts["missing_keypoints"],
                    keypoint_dir)
    return out, counts


def load_pseudo_label_records(image_paths: Sequence[str | os.PathLike], label_dir: str | os.PathLike,
                              keypoint_dir: str | os.PathLike, hand_mean: Mapping[str, np.ndarray] | None = None,
                              dataset: str = "pseudo_labels") -> tuple[list, list[PseudoLabel], Counter]:
    """PersonRecords (image, box around the detections, virtual camera, OpenPose-137 detections as
    ``pose2d_input``, the label's SMPL-X parameters and part validity) paired with their :class:`PseudoLabel`
    (whose expert ``features`` the distillation needs). A label whose body part is not valid carries no SMPL-X
    parameters (nothing can be supervised without the body); hands / face follow ``label.valid``. Labels without
    detections (no box) are skipped and counted as ``no_box``. Not yet in the dataset table (training with
    pseudo-labels is not wired: docs/furpe.md).
    """
    from data.adapters.coco_style import virtual_camera
    from data.records import PersonRecord

    pairs, counts = load_pseudo_labels(image_paths, label_dir, keypoint_dir, hand_mean)
    records, labels = [], []
    for image, label in pairs:
        kp = label.keypoints2d
        bbox = None if kp is None else keypoint_bbox(kp[:, :2], kp[:, 2] > 0)
        if bbox is None:
            counts["no_box"] += 1
            continue
        focal, princpt = virtual_camera(bbox, None)
        records.append(PersonRecord(
            image_path=image, bbox=bbox, focal=focal, princpt=princpt, pose2d_input=kp[:, :2].astype(np.float32),
            pose2d_input_valid=(kp[:, 2] > 0).astype(np.float32), pose2d_input_convention="openpose137",
            dataset=dataset, image_id=Path(image).stem, person_id=0, **_smplx_fields(label),
            meta={"pseudo_label": label.source, "part_valid": dict(label.valid)}).validate())
        labels.append(label)
    return records, labels, counts


def _smplx_fields(label: PseudoLabel) -> dict:
    """The PersonRecord SMPL-X fields of a label (none when its body is not valid)."""
    if not label.valid.get("body", False):
        return {}
    return {"smplx_pose": np.asarray(label.smplx_pose, np.float32).reshape(55, 3),
            "smplx_betas": np.asarray(label.betas, np.float32).reshape(10),
            "smplx_expression": np.asarray(label.expression, np.float32).reshape(10),
            "left_hand_valid": float(label.valid.get("left_hand", False)),
            "right_hand_valid": float(label.valid.get("right_hand", False)),
            "face_valid": float(label.valid.get("face", False))}
