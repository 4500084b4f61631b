"""MSCOCO 2017 person keypoints (+ optional NeuralAnnot SMPL fits) -> PersonRecords; the shared COCO builder.

Layout under ``data.roots['mscoco']`` (3DCrowdNet's; the official ``train2017/`` next to ``annotations/`` also
works): ``annotations/person_keypoints_{train,val}2017.json``, ``annotations/MSCOCO_train_SMPL_NeuralAnnot.json``
(optional), ``images/{train2017,val2017}/<file_name>``. Records use ``coco19``: the 17 COCO keypoints plus
3DCrowdNet's added pelvis (hip midpoint, valid when both hips are); 'Neck' stays invalid (3DCrowdNet adds no neck
to COCO GT). Defaults reproduce 3DCrowdNet's filters: crowd annotations and people without labelled keypoints are
dropped (each drop is counted and logged); everyone else is kept, however few joints they have.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from common.joint_sets import convert_joints, convert_validity, joint_names, num_joints
from data.adapters.coco_style import (
    AnnotationError,
    CocoFile,
    FilterLog,
    add_midpoint,
    attach_others,
    bbox_inside_image,
    check_images_exist,
    float_array,
    keypoints_xyv,
    read_coco_file,
    resolve_image,
    virtual_camera,
)
from data.adapters.options import adapter_options, dataset_root
from data.adapters.side_files import Pose2D, SmplFit, read_pose2d_results, read_smpl_fits
from data.records import PersonRecord

log = logging.getLogger(__name__)

HAS_3D_GT = False  # a 2D set in 3DCrowdNet's 3D/2D mixture (its SMPL fits are pseudo-GT)


@dataclass(frozen=True)
class CocoPeopleOptions:
    """How COCO-style annotations become records; every filter is explicit and counted.

    Attributes:
        dataset: record ``dataset`` name. src_convention / dst_convention: keypoint order in the file / records.
        midpoints: (joint, a, b) joints of ``dst`` set to the midpoint of a and b (e.g. the pelvis).
        min_keypoints: drop people with fewer labelled (v > 0) keypoints. min_bbox_size: drop boxes whose
            shorter side is below this (px). skip_crowd: drop ``iscrowd`` annotations.
        max_fit_err: discard SMPL fits with ``fit_err`` above this (person kept, fit dropped); None = keep all.
        hw_swapped: the file's image width/height are swapped (3DCrowdNet's correction for CrowdPose train).
        image_subdirs: folders under the image root tried for ``file_name``. check_images: fail on missing files.
        image_meta: image fields copied into ``meta`` (e.g. ``crowdIndex``).
        pose2d_score_thr: detector joints with a score above this are valid inputs.
        drop_unmatched: with a detector results file, drop people without a matched detector pose.
    """

    dataset: str
    src_convention: str
    dst_convention: str
    midpoints: tuple[tuple[str, str, str], ...] = ()
    min_keypoints: int = 1
    min_bbox_size: float = 1.0
    skip_crowd: bool = True
    max_fit_err: float | None = None
    hw_swapped: bool = False
    image_subdirs: tuple[str, ...] = ("",)
    check_images: bool = True
    image_meta: tuple[str, ...] = ()
    pose2d_score_thr: float = 0.1
    drop_unmatched: bool = True


def _image_hw(img: dict, swapped: bool) -> tuple[int, int] | None:
    if "width" not in img or "height" not in img:
        return None
    h, w = int(img["height"]), int(img["width"])
    return (w, h) if swapped else (h, w)


def _person(ann: dict, img: dict, coco: CocoFile, image_path: str, opts: CocoPeopleOptions,
            fit: SmplFit | None) -> PersonRecord:
    path = coco.path
    xyv = keypoints_xyv(ann, num_joints(opts.src_convention), path)
    joints, _ = convert_joints(xyv[:, :2], opts.src_convention, opts.dst_convention)
    valid = convert_validity((xyv[:, 2] > 0).astype(np.float32), opts.src_convention, opts.dst_convention)
    names = joint_names(opts.dst_convention)
    for mid, a, b in opts.midpoints:
        add_midpoint(joints, valid, names, mid, a, b)
    bbox = float_array(ann["bbox"], (4,), path, f"annotation {ann['id']} field 'bbox'")
    hw = _image_hw(img, opts.hw_swapped)
    focal, princpt = (fit.focal, fit.princpt) if fit is not None else virtual_camera(bbox, hw)
    meta: dict[str, Any] = {"iscrowd": int(ann.get("iscrowd", 0)), "num_labelled": int((xyv[:, 2] > 0).sum())}
    meta.update({key: img[key] for key in opts.image_meta if key in img})
    return PersonRecord(
        image_path=image_path, bbox=bbox,
        focal=np.asarray(focal, np.float64), princpt=np.asarray(princpt, np.float64),
        joints_convention=opts.dst_convention, joints2d=joints, joints2d_valid=valid,
        smpl_pose=None if fit is None else fit.pose, smpl_betas=None if fit is None else fit.betas,
        smpl_transl=None if fit is None else fit.transl, image_hw=hw, dataset=opts.dataset,
        image_id=img["id"], person_id=ann["id"], meta=meta)


def coco_people_records(coco: CocoFile, image_root: Path, opts: CocoPeopleOptions,
                        smpl_fits: dict[str, SmplFit] | None = None,
                        pose2d: dict[str, Pose2D] | None = None) -> list[PersonRecord]:
    """One validated PersonRecord per kept annotation of ``coco``; filtered people still appear as the
    ``others_*`` of their image (they occlude). Filter counts are logged."""
    flog = FilterLog(opts.dataset)
    records: list[PersonRecord] = []
    everyone: dict[Any, list[PersonRecord]] = {}
    for image_id, anns in coco.anns_by_image.items():
        img = coco.images[image_id]
        image_path = str(resolve_image(image_root, img["file_name"], opts.image_subdirs))
        people = []
        for ann in anns:
            fit = (smpl_fits or {}).get(str(ann["id"]))
            if fit is not None and opts.max_fit_err is not None and fit.fit_err is not None \
                    and fit.fit_err > opts.max_fit_err:
                flog.drop("smpl_fit_discarded_fit_err")  # person kept without the fit
                fit = None
            rec = _person(ann, img, coco, image_path, opts, fit)
            if opts.skip_crowd and rec.meta["iscrowd"]:
                flog.drop("iscrowd")
                continue
            if min(rec.bbox[2], rec.bbox[3]) < max(opts.min_bbox_size, 1e-6):
                flog.drop(f"bbox_side<{opts.min_bbox_size:g}px")
                continue
            people.append(rec)
            if not bbox_inside_image(rec.bbox, rec.image_hw):
                flog.drop("bbox_outside_image")
            elif rec.meta["num_labelled"] < opts.min_keypoints:
                flog.drop(f"labelled_keypoints<{opts.min_keypoints}")
            elif pose2d is not None and str(ann["id"]) not in pose2d and opts.drop_unmatched:
                flog.drop("no_matched_detector_pose")
            else:
                if pose2d is not None and str(ann["id"]) in pose2d:
                    det = pose2d[str(ann["id"])]
                    if det.xy.shape[0] != num_joints(det.convention):
                        raise AnnotationError(f"detector pose of annotation {ann['id']} has {det.xy.shape[0]} "
                                              f"joints, '{det.convention}' has {num_joints(det.convention)}")
                    rec = replace(rec, pose2d_input=det.xy, pose2d_input_convention=det.convention,
                                  pose2d_input_valid=(det.score > opts.pose2d_score_thr).astype(np.float32))
                records.append(rec.validate(str(coco.path)))
        everyone[image_id] = people
    attach_others(records, everyone)
    flog.report(len(records))
    if opts.check_images:
        check_images_exist(records, opts.dataset)
    return records


def read_mscoco(root: str | Path, split: str, use_fits: bool = True, pose2d_file: str | Path | None = None,
                **options: Any) -> list[PersonRecord]:
    """MSCOCO ``split`` ('train' | 'val'; 'test' reads val2017 like 3DCrowdNet) -> records.

    ``options`` override :class:`CocoPeopleOptions` fields (e.g. ``min_keypoints=0``).
    """
    root = Path(root)
    year = {"train": "train2017", "val": "val2017", "test": "val2017"}.get(split)
    if year is None:
        raise AnnotationError(f"mscoco: unknown split '{split}' (train | val | test)")
    coco = read_coco_file(root / "annotations" / f"person_keypoints_{year}.json", num_keypoints=17)
    fits_path = root / "annotations" / "MSCOCO_train_SMPL_NeuralAnnot.json"
    fits = read_smpl_fits(fits_path) if use_fits and split == "train" and fits_path.is_file() else None
    if use_fits and split == "train" and fits is None:
        log.info("mscoco: %s not found; training without SMPL pseudo-GT", fits_path)
    opts = CocoPeopleOptions("mscoco", "coco17", "coco19", midpoints=(("Pelvis", "L_Hip", "R_Hip"),),
                             image_subdirs=(f"images/{year}", year, "images", ""))
    opts = replace(opts, **options)
    pose2d = read_pose2d_results(pose2d_file) if pose2d_file else None
    return coco_people_records(coco, root, opts, fits, pose2d)


def load_mscoco_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['mscoco']`` + optional ``data.adapter_options['mscoco']``."""
    return read_mscoco(dataset_root(cfg, "mscoco"), split, **adapter_options(cfg, "mscoco"))
