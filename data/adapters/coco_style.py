"""Shared reading of COCO-style person annotations (CrowdPose, MSCOCO, MPII, OCHuman, H36M, MuCo).

COCO layout: ``{"images": [{"id", "file_name", "width", "height", ...}], "annotations": [{"id", "image_id",
"bbox" (xywh px), "keypoints" (3K values x, y, v), "iscrowd"?, "num_keypoints"?, ...}]}``; a keypoint is labelled
when ``v > 0``. The per-person side files (SMPL fits, matched 2D poses) are read by ``data/adapters/side_files.py``.
Every malformed file or field raises :class:`AnnotationError` naming the file and field.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from common.errors import UserError
from data.records import PersonRecord

log = logging.getLogger(__name__)

VIRTUAL_FOCAL = (5000.0, 5000.0)  # px; 3DCrowdNet's virtual focal length for images without a camera


class AnnotationError(UserError, ValueError):
    """A dataset file is missing, truncated or has a malformed field (the message names both)."""


def load_json(path: str | os.PathLike, what: str = "annotation file") -> Any:
    """Parse a JSON file; missing or truncated files raise AnnotationError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: {what} not found")
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: truncated or invalid JSON ({err.msg} at line {err.lineno} column "
                              f"{err.colno})") from None
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not a UTF-8 JSON file ({err.reason})") from None


def field(mapping: Any, key: str, path: Path, where: str) -> Any:
    """``mapping[key]`` or AnnotationError '<path>: <where> has no field <key>'."""
    if not isinstance(mapping, dict):
        raise AnnotationError(f"{path}: {where} is a {type(mapping).__name__}, expected an object")
    if key not in mapping:
        raise AnnotationError(f"{path}: {where} has no field '{key}'")
    return mapping[key]


def float_array(value: Any, shape: tuple[int, ...], path: Path, where: str) -> np.ndarray:
    """``value`` as a finite float64 array of ``shape`` (-1 = any) or AnnotationError naming the field."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationError(f"{path}: {where} is not numeric") from None
    if -1 not in shape and arr.size == math.prod(shape):
        arr = arr.reshape(shape)
    if arr.ndim != len(shape) or any(s > 0 and a != s for a, s in zip(arr.shape, shape)):
        raise AnnotationError(f"{path}: {where} has {arr.size} values (shape {arr.shape}), expected shape "
                              f"{tuple('N' if s < 0 else s for s in shape)}")
    if not np.all(np.isfinite(arr)):
        raise AnnotationError(f"{path}: {where} contains NaN/inf")
    return arr


@dataclass
class CocoFile:
    """A parsed COCO-style file: images by id and their annotations (in file order)."""

    path: Path
    images: dict[Any, dict]
    anns_by_image: dict[Any, list[dict]]
    num_annotations: int


def read_coco_file(path: str | os.PathLike, num_keypoints: int | None = None,
                   image_fields: Sequence[str] = ("id", "file_name"),
                   ann_fields: Sequence[str] = ("id", "image_id", "bbox")) -> CocoFile:
    """Read and check a COCO-style file. ``num_keypoints`` (when given) is checked for every annotation that
    has keypoints; annotations of unknown images raise."""
    path = Path(path)
    data = load_json(path)
    images_list = field(data, "images", path, "the file")
    anns_list = field(data, "annotations", path, "the file")
    if not isinstance(images_list, list) or not isinstance(anns_list, list):
        raise AnnotationError(f"{path}: 'images' and 'annotations' must be lists")
    images: dict[Any, dict] = {}
    for i, img in enumerate(images_list):
        for key in image_fields:
            field(img, key, path, f"images[{i}]")
        images[img["id"]] = img
    anns_by_image: dict[Any, list[dict]] = defaultdict(list)
    for i, ann in enumerate(anns_list):
        for key in ann_fields:
            field(ann, key, path, f"annotations[{i}]")
        if ann["image_id"] not in images:
            raise AnnotationError(f"{path}: annotations[{i}] (id {ann['id']}) refers to unknown image_id "
                                  f"{ann['image_id']!r}")
        if num_keypoints is not None and ann.get("keypoints") is not None:
            n = len(ann["keypoints"]) if isinstance(ann["keypoints"], list) else -1
            if n != 3 * num_keypoints:
                raise AnnotationError(f"{path}: annotations[{i}] (id {ann['id']}) field 'keypoints' has {n} "
                                      f"values, expected {3 * num_keypoints} ({num_keypoints} keypoints x 3)")
        anns_by_image[ann["image_id"]].append(ann)
    return CocoFile(path, images, dict(anns_by_image), len(anns_list))


def keypoints_xyv(ann: dict, num_keypoints: int, path: Path) -> np.ndarray:
    """(K, 3) x, y, v of an annotation (zeros when it has no keypoints)."""
    if ann.get("keypoints") is None:
        return np.zeros((num_keypoints, 3))
    return float_array(ann["keypoints"], (num_keypoints, 3), path, f"annotation {ann['id']} field 'keypoints'")


class FilterLog:
    """Counts of people dropped per reason (and of fits discarded), logged once per adapter call."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.counts: Counter = Counter()

    def drop(self, reason: str) -> None:
        self.counts[reason] += 1

    def report(self, kept: int) -> dict[str, int]:
        summary = dict(sorted(self.counts.items()))
        log.info("%s: %d people kept; filtered: %s", self.dataset, kept, summary or "none")
        return summary


def virtual_camera(bbox: np.ndarray, image_hw: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Camera for images without one: focal 5000 px, principal point at the image centre (bbox centre when the
    image size is unknown). Returns focal (2,), princpt (2,)."""
    if image_hw is not None:
        princpt = np.array([image_hw[1] / 2.0, image_hw[0] / 2.0])
    else:
        princpt = np.array([bbox[0] + bbox[2] / 2.0, bbox[1] + bbox[3] / 2.0])
    return np.asarray(VIRTUAL_FOCAL, dtype=np.float64), princpt


def move_to_camera(transl: np.ndarray, src_focal, src_princpt, dst_focal, dst_princpt) -> np.ndarray:
    """SMPL translation (3,) m from one pinhole camera to another with the same centre and axes, so the body
    projects to the same pixels. Exact for the root point; the body is shifted rigidly, with the root depth
    approximated by ``transl[2]`` (fits of different people of one image may use different intrinsics)."""
    t = np.asarray(transl, dtype=np.float64)
    sf, sp = np.asarray(src_focal, np.float64), np.asarray(src_princpt, np.float64)
    df, dp = np.asarray(dst_focal, np.float64), np.asarray(dst_princpt, np.float64)
    if np.allclose(sf, df) and np.allclose(sp, dp):
        return t.copy()
    # u = f_s x / z + p_s must equal f_d x' / z' + p_d with z' = s z, s = f_d / f_s (same size in pixels)
    z = t[2]
    scale = float(df.mean() / sf.mean())
    xy = (t[:2] * sf + (sp - dp) * z) * scale / df
    return np.array([xy[0], xy[1], z * scale])


def add_midpoint(joints: np.ndarray, valid: np.ndarray, names: Sequence[str], mid: str, a: str, b: str) -> None:
    """Set joint ``mid`` (in place) to the mean of ``a`` and ``b``, valid only when both are (3DCrowdNet's
    added pelvis)."""
    i, j, k = names.index(mid), names.index(a), names.index(b)
    valid[i] = valid[j] * valid[k]
    joints[i] = (joints[j] + joints[k]) / 2.0 if valid[i] > 0 else 0.0


def bbox_inside_image(bbox: np.ndarray, image_hw: tuple[int, int] | None) -> bool:
    """False when the xywh box lies entirely outside a known image."""
    if image_hw is None:
        return True
    h, w = image_hw
    return bbox[0] < w and bbox[1] < h and bbox[0] + bbox[2] > 0 and bbox[1] + bbox[3] > 0


def resolve_image(root: Path, file_name: str, subdirs: Sequence[str] = ("",)) -> Path:
    """First existing ``root/<subdir>/file_name``; the first candidate when none exists (checked later)."""
    candidates = [root / sub / file_name if sub else root / file_name for sub in subdirs]
    for cand in candidates:
        if cand.is_file():
            return cand
    return candidates[0]


def check_images_exist(records: Iterable[PersonRecord], dataset: str) -> None:
    """Raise AnnotationError naming the first missing image file (and how many are missing)."""
    paths = sorted({r.image_path for r in records})
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise AnnotationError(f"{missing[0]}: image file not found ({len(missing)} of {len(paths)} {dataset} "
                              "images missing; check data.roots)")


def attach_others(records: list[PersonRecord], people: dict[Any, list[PersonRecord]] | None = None) -> None:
    """Fill ``others_*`` of every record with the other people of its image (in place).

    ``people`` maps image id -> all people of that image (including ones filtered out of ``records``, who still
    occlude); default: the records themselves. Others' SMPL params are moved into each record's camera.
    """
    groups: dict[Any, list[PersonRecord]] = defaultdict(list)
    if people is None:
        for rec in records:
            groups[rec.image_id].append(rec)
    else:
        groups.update(people)
    for rec in records:
        others = [o for o in groups.get(rec.image_id, []) if o is not rec and o.person_id != rec.person_id]
        if not others:
            continue
        if rec.joints2d is not None and all(o.joints2d is not None and o.joints_convention == rec.joints_convention
                                            for o in others):
            rec.others_joints2d = np.stack([o.joints2d for o in others]).astype(np.float32)
            rec.others_joints2d_valid = np.stack([o.joints2d_valid for o in others]).astype(np.float32)
        rec.others_bbox = np.stack([o.bbox for o in others]).astype(np.float32)
        fitted = [o for o in others if o.has_smpl and o.smpl_transl is not None]
        if fitted:
            rec.others_smpl_pose = np.stack([o.smpl_pose for o in fitted]).astype(np.float32)
            rec.others_smpl_betas = np.stack([o.smpl_betas for o in fitted]).astype(np.float32)
            rec.others_smpl_transl = np.stack([move_to_camera(o.smpl_transl, o.focal, o.princpt, rec.focal,
                                                              rec.princpt) for o in fitted]).astype(np.float32)
