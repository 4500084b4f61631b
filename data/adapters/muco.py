"""MuCo-3DHP (composited multi-person MPI-INF-3DHP) in 3DCrowdNet's JSON layout -> PersonRecords.

Layout under ``data.roots['muco']``: ``data/MuCo-3DHP.json`` (COCO style; images carry ``f`` (2) and ``c`` (2)
intrinsics, px; annotations ``bbox``, ``keypoints_cam`` (21 x 3, camera frame, mm) and ``keypoints_img``
(21 x 2, px), MuCo order), ``data/smpl_param.json`` (``{ann_id: {pose (72), shape (10), trans (3)}}``, already in
the camera frame, m) and images ``data/<file_name>`` (``augmented_set/...``, ``unaugmented_set/...``).

3DCrowdNet trains on the person closest to the camera in each composite (``closest_only``); the others become
``others_*`` of that record. Fits more than 25 mm from the GT (mean over the joints shared with H36M-17, after
translation alignment) are discarded (person kept). Records use ``muco21``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.joint_sets import joint_index
from data.adapters.coco_style import (
    AnnotationError,
    FilterLog,
    attach_others,
    check_images_exist,
    field,
    float_array,
    load_json,
    read_coco_file,
)
from data.adapters.h36m import JointsFn, body_model_tools, fit_errors_mm
from data.adapters.options import adapter_options, dataset_root
from data.records import PersonRecord

HAS_3D_GT = True
ROOT_JOINT = joint_index("muco21", "Pelvis")


def _fit(fits: dict, aid: Any, path: Path) -> tuple[np.ndarray, ...] | None:
    entry = fits.get(str(aid))
    if entry is None:
        return None
    where = f"fit {aid}"
    return tuple(float_array(field(entry, k, path, where), (n,), path, f"{where} '{k}'")
                 for k, n in (("pose", 72), ("shape", 10), ("trans", 3)))


def read_muco(root: str | Path, split: str = "train", joints_fn: JointsFn | None = None,
              closest_only: bool = True, use_fits: bool = True, max_fit_err_mm: float | None = 25.0,
              min_bbox_size: float = 1.0, check_images: bool = True) -> list[PersonRecord]:
    """MuCo 'train' -> records (MuCo has no other split). ``joints_fn`` enables the fit-error filter."""
    if split != "train":
        raise AnnotationError(f"muco: unknown split '{split}' (MuCo-3DHP is a training set: train)")
    data_dir = Path(root) / "data" if (Path(root) / "data" / "MuCo-3DHP.json").is_file() else Path(root)
    coco = read_coco_file(data_dir / "MuCo-3DHP.json", image_fields=("id", "file_name", "f", "c"),
                          ann_fields=("id", "image_id", "bbox", "keypoints_cam", "keypoints_img"))
    fits_path = data_dir / "smpl_param.json"
    fits = load_json(fits_path, "SMPL fit file") if use_fits else {}
    flog, records, everyone = FilterLog("muco"), [], {}
    for image_id, anns in coco.anns_by_image.items():
        img, path = coco.images[image_id], coco.path
        focal = float_array(img["f"], (2,), path, f"image {image_id} field 'f'")
        princpt = float_array(img["c"], (2,), path, f"image {image_id} field 'c'")
        people = []
        for ann in anns:
            where = f"annotation {ann['id']}"
            j3d = float_array(ann["keypoints_cam"], (21, 3), path, f"{where} field 'keypoints_cam'") / 1000.0
            j2d = float_array(ann["keypoints_img"], (21, 2), path, f"{where} field 'keypoints_img'")
            bbox = float_array(ann["bbox"], (4,), path, f"{where} field 'bbox'")
            fit = _fit(fits, ann["id"], fits_path)
            people.append(PersonRecord(
                image_path=str(data_dir / img["file_name"]), bbox=bbox, focal=focal, princpt=princpt,
                joints_convention="muco21", joints2d=j2d, joints2d_valid=np.ones(21), joints3d=j3d,
                joints3d_valid=np.ones(21), smpl_pose=None if fit is None else fit[0],
                smpl_betas=None if fit is None else fit[1], smpl_transl=None if fit is None else fit[2],
                image_hw=(int(img["height"]), int(img["width"])) if "height" in img else None,
                dataset="muco", image_id=image_id, person_id=ann["id"]))
        everyone[image_id] = people
        chosen = people
        if closest_only and people:
            closest = int(np.argmin([p.joints3d[ROOT_JOINT, 2] for p in people]))
            chosen = [people[closest]]
            for _ in range(len(people) - 1):
                flog.drop("not_closest_to_camera")
        for rec in chosen:
            if min(rec.bbox[2:]) < min_bbox_size:
                flog.drop(f"bbox_side<{min_bbox_size:g}px")
                continue
            records.append(rec)
    _filter_fits(records, joints_fn, max_fit_err_mm, flog)
    attach_others(records, everyone)
    flog.report(len(records))
    records = [r.validate(str(coco.path)) for r in records]
    if check_images:
        check_images_exist(records, "muco")
    return records


def _filter_fits(records: list[PersonRecord], joints_fn: JointsFn | None, max_err: float | None,
                 flog: FilterLog) -> None:
    fitted = [r for r in records if r.has_smpl]
    if not fitted or joints_fn is None or max_err is None:
        return
    pred = joints_fn(np.stack([r.smpl_pose for r in fitted]), np.stack([r.smpl_betas for r in fitted]),
                     np.stack([r.smpl_transl for r in fitted]))
    errors = fit_errors_mm(pred, np.stack([r.joints3d for r in fitted]), "muco21")
    for rec, err in zip(fitted, errors):
        if err > max_err:
            rec.smpl_pose = rec.smpl_betas = rec.smpl_transl = None
            flog.drop(f"smpl_fit_discarded_err>{max_err:g}mm")


def load_muco_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['muco']``, the configured body model, ``data.adapter_options['muco']``."""
    _, joints_fn = body_model_tools(cfg)
    return read_muco(dataset_root(cfg, "muco"), split, joints_fn, **adapter_options(cfg, "muco"))
