"""3DPW in 3DCrowdNet's COCO-style JSON (``3DPW_latest_{split}.json``) + HigherHRNet inputs -> PersonRecords.

The SMPL params in these files are already in the camera frame (``trans`` is the SMPL translation, so the
mesh is ``SMPL(pose, shape) + trans``). Input 2D poses: ``openpose_result`` (OpenPose-18, + pelvis = hip
midpoint with confidence product -> openpose19), or for pose_source='hhrnet' the HigherHRNet COCO-17 joints
(+ pelvis and neck midpoints -> coco19), falling back to OpenPose for people without a detection (3DCrowdNet
release behaviour; the count is logged). See :mod:`data.adapters.pw3d` for the crops.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from data.adapters.pw3d.shared import GENDERS, Pw3dError, add_midpoint, crop_box, input_pose
from data.records import PersonRecord

log = logging.getLogger(__name__)


def find_json(root: Path, name: str) -> Path | None:
    """``root/data/name`` (3DCrowdNet/SEFD layout) or ``root/name``; None when neither exists."""
    return next((p for p in (root / "data" / name, root / name) if p.is_file()), None)


def load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Pw3dError(f"{path}: invalid JSON (truncated? {err})") from None


def _array(path: Path, value, label: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise Pw3dError(f"{path}: field '{label}' is not numeric") from None
    if arr.size != int(np.prod(shape)):
        raise Pw3dError(f"{path}: field '{label}' has {arr.size} values, expected {int(np.prod(shape))} {shape}")
    if not np.all(np.isfinite(arr)):
        raise Pw3dError(f"{path}: field '{label}' contains NaN/inf")
    return arr.reshape(shape)


def _hhrnet_pose(path: Path, entry: dict, ann_id, conf_threshold: float):
    coco = _array(path, entry.get("coco_joints"), f"{ann_id}.coco_joints", (17, 3))
    coco19 = add_midpoint(add_midpoint(coco, 11, 12), 5, 6)  # + Pelvis (hips), + Neck (shoulders)
    return coco19[:, :2].astype(np.float32), (coco19[:, 2] > conf_threshold).astype(np.float32), coco19[:, 2]


def read_crowdnet_json(path: Path, image_root: Path, sequences: set[str] | None, crop: str = "pose2d",
                       hhrnet_path: Path | None = None, conf_threshold: float = 0.05, bbox_extend: float = 1.2,
                       check_images: bool = True, split: str = "", db: dict | None = None) -> list[PersonRecord]:
    """Records of the annotations of ``path`` whose image sequence is in ``sequences`` (None = all).

    ``db`` is the already-parsed file, to avoid reading a large JSON twice.
    """
    db = load_json(path) if db is None else db
    if not isinstance(db, dict) or "images" not in db or "annotations" not in db:
        raise Pw3dError(f"{path}: field 'images' or 'annotations' is missing (not a COCO-style 3DPW file)")
    hhrnet = load_json(hhrnet_path) if hhrnet_path is not None else None
    images = {img["id"]: img for img in db["images"]}
    by_image = defaultdict(list)
    for ann in db["annotations"]:
        img = images.get(ann.get("image_id"))
        if img is None:
            raise Pw3dError(f"{path}: annotation {ann.get('id')} field 'image_id' names no image")
        if sequences is None or img.get("sequence") in sequences:
            by_image[img["id"]].append(ann)
    records, fallback = [], 0
    for img_id, anns in by_image.items():
        img = images[img_id]
        image = image_root / img["sequence"] / img["file_name"]
        if check_images and not image.is_file():
            raise Pw3dError(f"{image}: image file not found ({path.name}, image {img_id})")
        hw = (int(img["height"]), int(img["width"]))
        cam = img.get("cam_param") or {}
        focal = _array(path, cam.get("focal"), f"images[{img_id}].cam_param.focal", (2,))
        princpt = _array(path, cam.get("princpt"), f"images[{img_id}].cam_param.princpt", (2,))
        people = []
        for ann in anns:
            sp, aid = ann.get("smpl_param") or {}, ann.get("id")
            gender = GENDERS.get(str(sp.get("gender")))
            if gender is None:
                raise Pw3dError(f"{path}: annotation {aid} field 'smpl_param.gender' is {sp.get('gender')!r}")
            people.append({
                "id": aid, "gender": gender, "bbox": _array(path, ann.get("bbox"), f"{aid}.bbox", (4,)),
                "pose": _array(path, sp.get("pose"), f"{aid}.smpl_param.pose", (72,)),
                "betas": _array(path, sp.get("shape"), f"{aid}.smpl_param.shape", (10,)),
                "transl": _array(path, sp.get("trans"), f"{aid}.smpl_param.trans", (3,)),
                "openpose": _array(path, ann.get("openpose_result"), f"{aid}.openpose_result", (18, 3)),
            })
        for me, person in enumerate(people):
            pose2d, valid = input_pose(person["openpose"], conf_threshold)
            conf, conv, source = add_midpoint(person["openpose"], 8, 11)[:, 2], "openpose19", "openpose"
            if hhrnet is not None:
                entry = hhrnet.get(str(person["id"]))
                if entry is None:
                    fallback += 1
                else:
                    pose2d, valid, conf = _hhrnet_pose(hhrnet_path, entry, person["id"], conf_threshold)
                    conv, source = "coco19", "hhrnet"
            box, crop_source = crop_box(crop, person["bbox"].astype(np.float32), pose2d, valid, hw, bbox_extend)
            others = [q for i, q in enumerate(people) if i != me]
            extra = {} if not others else {
                "others_smpl_pose": np.stack([q["pose"] for q in others]).astype(np.float32),
                "others_smpl_betas": np.stack([q["betas"] for q in others]).astype(np.float32),
                "others_smpl_transl": np.stack([q["transl"] for q in others]).astype(np.float32),
                "others_bbox": np.stack([q["bbox"] for q in others]).astype(np.float32)}
            records.append(PersonRecord(
                image_path=str(image), bbox=box, focal=focal.astype(np.float32), princpt=princpt.astype(np.float32),
                joints_convention="smpl24", smpl_pose=person["pose"].astype(np.float32),
                smpl_betas=person["betas"].astype(np.float32), smpl_transl=person["transl"].astype(np.float32),
                smpl_gender=person["gender"], pose2d_input=pose2d, pose2d_input_valid=valid,
                pose2d_input_convention=conv, image_hw=hw, dataset="3dpw", sequence=img["sequence"],
                image_id=img_id, person_id=person["id"],
                meta={"split": split, "ann_id": person["id"], "crop_source": crop_source,
                      "gt_bbox": person["bbox"].tolist(), "pose_source": source,
                      "pose2d_conf": np.asarray(conf).tolist()},
                **extra,
            ).validate(f"{path} annotation {person['id']}"))
    if fallback:
        log.info("3DPW %s: %d people without a HigherHRNet detection use OpenPose inputs", path.name, fallback)
    return records


def json_sequences(path: Path, db: dict) -> list[str]:
    """Sequence names present in the parsed COCO-style 3DPW file ``db`` (read from ``path``)."""
    if not isinstance(db, dict) or "images" not in db:
        raise Pw3dError(f"{path}: field 'images' is missing")
    return sorted({img.get("sequence", "") for img in db["images"]})
