"""The ``pseudo_labels`` dataset: the images of a base dataset, supervised by FuRPE label files (docs/furpe.md).

For every record of ``furpe.base_set`` (its image, person box and camera; its GT is never used for training) the
label file ``<furpe.label_dir>/params3d_v/<base_set>/<stem>.npy`` gives the SMPL-X fields and per-part validity,
and ``<label_dir>/keypoints/<base_set>/<stem>_keypoints.json`` (OpenPose, people[0]) the 2D keypoints that
supervise the projection (the detections, as FuRPE; confidence > 0 = valid). ``stem`` (:func:`label_stem`) is the
image's file stem when the image shows one record, else ``<image stem>_<person_id>``.

A missing label file is counted and logged; a malformed one is a one-line PseudoLabelError naming the file and
the key. With ``furpe.select`` the labels pass :func:`~data.pseudo_labels.selection.select_labels` (thresholds
from ``furpe.*``) before records are built; its counts are logged and returned by :func:`build_pseudo_label_records`
with the label error against the base record's GT (when it has SMPL-X) before and after selection.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from data.pseudo_labels.label import PART_ROWS, PARTS, PseudoLabel
from data.records import PersonRecord

log = logging.getLogger(__name__)
DATASET = "pseudo_labels"


@dataclass
class PseudoLabelReport:
    """What building the records did: ``counts`` (loading + selection filters), ``label_error`` stage ('before',
    'after' selection) -> part -> mean error vs GT (rotations: mean geodesic angle in deg over the part's joints;
    face: jaw angle in deg, ``face_expression`` L2), ``kept`` part -> number of valid labels after selection."""

    counts: Counter = field(default_factory=Counter)
    label_error: dict[str, dict[str, float]] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def label_stem(record: PersonRecord, people_in_image: int) -> str:
    """File stem of a record's label: the image stem, or ``<image stem>_<person_id>`` when several people."""
    stem = Path(record.image_path).stem
    return stem if people_in_image <= 1 else f"{stem}_{record.person_id}"


def label_paths(label_dir: str | Path, base_set: str, stem: str) -> tuple[Path, Path]:
    """(label file, OpenPose JSON) of ``stem`` under ``label_dir`` (the layout the labelling tool writes)."""
    root = Path(label_dir)
    return root / "params3d_v" / base_set / f"{stem}.npy", root / "keypoints" / base_set / f"{stem}_keypoints.json"


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle pairs -> (...) angle of R_a^T R_b in degrees."""
    import torch

    from common.geometry.rotations import axis_angle_to_matrix

    ra = axis_angle_to_matrix(torch.as_tensor(np.asarray(a, np.float64)))
    rb = axis_angle_to_matrix(torch.as_tensor(np.asarray(b, np.float64)))
    cos = ((ra.transpose(-1, -2) @ rb).diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos.numpy(), -1.0, 1.0)))


def label_errors(labels: list[PseudoLabel], gts: list[PersonRecord]) -> dict[str, float]:
    """Mean error of each part's valid labels against the GT SMPL-X of their base records (records without GT
    SMPL-X are skipped; absent parts give no key). Keys: PARTS (deg) and ``face_expression`` (L2)."""
    errs: dict[str, list[float]] = {}
    for lab, gt in zip(labels, gts):
        if not gt.has_smplx:
            continue
        gt_pose = np.asarray(gt.smplx_pose, np.float64).reshape(55, 3)
        for part in PARTS:
            if lab.valid.get(part, False):
                rows = PART_ROWS[part] if part != "body" else slice(1, 22)  # the root depends on the camera frame
                errs.setdefault(part, []).append(float(_angles_deg(lab.smplx_pose[rows], gt_pose[rows]).mean()))
        if lab.valid.get("face", False) and gt.smplx_expression is not None:
            diff = np.asarray(lab.expression, np.float64) - np.asarray(gt.smplx_expression, np.float64)
            errs.setdefault("face_expression", []).append(float(np.linalg.norm(diff)))
    return {k: float(np.mean(v)) for k, v in errs.items()}


def selection_arguments(furpe: Any) -> dict:
    """``select_labels`` keyword arguments from the ``furpe`` config section (0 error = no limit, fraction 1 = all)."""
    max_error = {part: getattr(furpe, f"max_error_{key}") for part, key in
                 (("body", "body"), ("left_hand", "hands"), ("right_hand", "hands"), ("face", "face"))}
    fraction = {part: getattr(furpe, f"keep_fraction_{key}") for part, key in
                (("left_hand", "hands"), ("right_hand", "hands"), ("face", "face"))}
    return {"thresholds": {"body": furpe.conf_body, "hand": furpe.conf_hand, "face": furpe.conf_face},
            "min_points": furpe.min_points,
            "max_error": {p: v for p, v in max_error.items() if v > 0} or None,
            "keep_fraction": {p: v for p, v in fraction.items() if v < 1} or None}


def stored_hand_mean(furpe: Any, layer: Any) -> dict[str, np.ndarray] | None:
    """What the label files' fingers are relative to (``furpe.hand_storage``): the hand mean of ``layer``'s model
    file ('relative', the release's and the labelling tool's convention) or nothing ('absolute')."""
    from data.pseudo_labels.experts import hand_means_from_layer

    return hand_means_from_layer(layer) if furpe.hand_storage == "relative" else None


def build_pseudo_label_records(base: list[PersonRecord], furpe: Any, base_set: str, layer: Any = None,
                               hand_mean: dict | None = None) -> tuple[list[PersonRecord], PseudoLabelReport]:
    """Records of ``base`` supervised by their label files (module docstring) and the report.

    ``furpe``: the config section (label_dir, select + thresholds). ``layer``: a WholeBodyLayer, needed only
    when the selection's quality gate is on (``max_error_*`` > 0 or ``keep_fraction_*`` < 1). ``hand_mean``: side
    -> (45,) the files' fingers are relative to (:func:`stored_hand_mean`; None = absolute).
    """
    from data.pseudo_labels.furpe_file import read_furpe_label
    from data.pseudo_labels.loader import read_openpose137
    from data.pseudo_labels.selection import label_keypoints3d, select_labels

    if not furpe.label_dir:
        raise UserError("furpe.label_dir is empty: the 'pseudo_labels' dataset needs the folder of the label files "
                        "(params3d_v/<base_set>/<stem>.npy, keypoints/<base_set>/<stem>_keypoints.json)")
    report = PseudoLabelReport(counts=Counter(images=len(base)))
    people = Counter(r.image_path for r in base)
    labels, owners, missing = [], [], []
    for record in base:
        label_file, kp_file = label_paths(furpe.label_dir, base_set, label_stem(record, people[record.image_path]))
        if not label_file.is_file():
            report.counts["missing_label"] += 1
            missing.append(str(label_file))
            continue
        kp = read_openpose137(kp_file) if kp_file.is_file() else None
        report.counts["missing_keypoints"] += kp is None
        labels.append(read_furpe_label(label_file, hand_mean, keypoints2d=kp))
        owners.append(record)
    report.counts["loaded"] = len(labels)
    if missing:
        log.warning("pseudo_labels: %d of %d records of %s have no label file (e.g. %s)", len(missing), len(base),
                    base_set, ", ".join(missing[:3]))
    report.label_error["before"] = label_errors(labels, owners)
    if furpe.select:
        kwargs = selection_arguments(furpe)
        kp3d = None
        if kwargs["max_error"] or kwargs["keep_fraction"]:
            if layer is None:
                raise ValueError("build_pseudo_label_records: the selection gate needs a WholeBodyLayer")
            kp3d = label_keypoints3d(labels, layer)
        keep, labels, counts = select_labels(
            labels, kp3d, None if layer is None else layer.keypoints_valid.cpu().numpy(), **kwargs)
        owners = [owners[i] for i in keep]
        report.counts.update({f"select_{k}": v for k, v in counts.items()})
        log.info("pseudo_labels selection: %s", dict(counts))
    report.label_error["after"] = label_errors(labels, owners)
    report.kept = {part: int(sum(lab.valid.get(part, False) for lab in labels)) for part in PARTS}
    records = [_record(lab, gt) for lab, gt in zip(labels, owners)]
    report.counts["records"] = len(records)
    log.info("pseudo_labels from %s: %s; valid parts %s", base_set, dict(report.counts), report.kept)
    return records, report


def _record(label: PseudoLabel, base: PersonRecord) -> PersonRecord:
    """The training record of one label: the base record's image, box and camera; everything else the label's."""
    kp = label.keypoints2d
    joints = {} if kp is None else {"joints2d": kp[:, :2].astype(np.float32),
                                    "joints2d_valid": (kp[:, 2] > 0).astype(np.float32)}
    return PersonRecord(
        image_path=base.image_path, bbox=base.bbox, focal=base.focal, princpt=base.princpt, image_hw=base.image_hw,
        joints_convention="openpose137", **joints, smplx_pose=label.smplx_pose.astype(np.float32),
        smplx_betas=label.betas.astype(np.float32), smplx_expression=label.expression.astype(np.float32),
        left_hand_valid=float(label.valid.get("left_hand", False)),
        right_hand_valid=float(label.valid.get("right_hand", False)), face_valid=float(label.valid.get("face", False)),
        dataset=DATASET, sequence=base.sequence, image_id=base.image_id, person_id=base.person_id,
        meta={"label_file": label.source, "expert_features": dict(label.features)}).validate(label.source)


def load_pseudo_label_dataset(split: str, cfg: Any, subset: str = "", body_model: Any = None) -> list[PersonRecord]:
    """Adapter of ``pseudo_labels``: the records of ``furpe.base_set``/``split`` with their label files."""
    from data.registry import load_records

    if subset:
        raise UserError(f"data.test_subset: the pseudo_labels dataset has no subsets, got '{subset}'")
    from common.wholebody.layer import WholeBodyLayer

    layer = WholeBodyLayer.from_body_model(body_model) if body_model is not None else WholeBodyLayer.from_config(cfg)
    base = load_records(cfg.furpe.base_set, split, cfg, body_model=body_model)
    records, _ = build_pseudo_label_records(base, cfg.furpe, cfg.furpe.base_set, layer,
                                            stored_hand_mean(cfg.furpe, layer))
    return records
