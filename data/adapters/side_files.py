"""Per-person side files of the COCO-style datasets, keyed by annotation id.

NeuralAnnot SMPL fits (``*_SMPL_NeuralAnnot.json``) map an annotation id to ``{"smpl_param": {"pose" (72), "shape"
(10), "trans" (3)}, "cam_param": {"focal" (2), "princpt" (2)}, "fit_err"?}`` in that camera's frame (m). Matched
detector 2D poses come from ``tool/match_pose2d.py`` or 3DCrowdNet's files. Every malformed file or field raises
:class:`AnnotationError` naming the file and field.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.adapters.coco_style import AnnotationError, field, float_array, load_json


@dataclass(frozen=True)
class SmplFit:
    """One SMPL fit in its camera frame: pose (72,) rad, betas (10,), transl (3,) m, camera (px)."""

    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    fit_err: float | None = None


def read_smpl_fits(path: str | os.PathLike) -> dict[str, SmplFit]:
    """NeuralAnnot-style fits ``{ann_id: {smpl_param{pose,shape,trans}, cam_param{focal,princpt}, fit_err?}}``."""
    path = Path(path)
    data = load_json(path, "SMPL fit file")
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected an object keyed by annotation id")
    fits = {}
    for aid, entry in data.items():
        where = f"fit {aid}"
        smpl = field(entry, "smpl_param", path, where)
        cam = field(entry, "cam_param", path, where)
        err = entry.get("fit_err")
        fits[str(aid)] = SmplFit(
            pose=float_array(field(smpl, "pose", path, where), (72,), path, f"{where} smpl_param.pose"),
            betas=float_array(field(smpl, "shape", path, where), (10,), path, f"{where} smpl_param.shape"),
            transl=float_array(field(smpl, "trans", path, where), (3,), path, f"{where} smpl_param.trans"),
            focal=float_array(field(cam, "focal", path, where), (2,), path, f"{where} cam_param.focal"),
            princpt=float_array(field(cam, "princpt", path, where), (2,), path, f"{where} cam_param.princpt"),
            fit_err=None if err is None else float(err))
    return fits


@dataclass(frozen=True)
class Pose2D:
    """A detector 2D pose matched to a GT person: (K,2) px, (K,) scores, its convention."""

    xy: np.ndarray
    score: np.ndarray
    convention: str


def read_pose2d_results(path: str | os.PathLike) -> dict[str, Pose2D]:
    """Matched detector poses written by ``tool/match_pose2d.py`` (``{"convention", "matches": {ann_id:
    {"keypoints": [[x, y, score], ...]}}}``) or 3DCrowdNet's ``{ann_id: {"coco_joints": 17x3}}`` files."""
    path = Path(path)
    data = load_json(path, "2D pose results file")
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected an object")
    convention = data.get("convention", "coco17") if "matches" in data else "coco17"
    matches = data["matches"] if "matches" in data else data
    out = {}
    for aid, entry in matches.items():
        key = "keypoints" if isinstance(entry, dict) and "keypoints" in entry else "coco_joints"
        kpts = float_array(field(entry, key, path, f"match {aid}"), (-1, 3), path, f"match {aid} '{key}'")
        out[str(aid)] = Pose2D(kpts[:, :2], kpts[:, 2], convention)
    return out
