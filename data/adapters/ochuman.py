"""OCHuman (CVPR 2019, heavily occluded people) -> PersonRecords, from its COCO-format or native files.

Layout under ``data.roots['ochuman']``: ``images/<file_name>``; COCO-format evaluation files
``ochuman_coco_format_{val,test}_range_0.00_1.00.json`` (17 COCO keypoints; splits 'val', 'test'); native
``ochuman.json`` (split 'all'): ``{"images": [{"image_id", "file_name", "width", "height", "annotations":
[{"bbox" [x1, y1, x2, y2], "keypoints" 19x3 or null, "segms", "max_iou"}]}], "keypoint_names" (19: AI
Challenger's 14 body joints incl. head top and neck, then ears, nose, eyes), "keypoint_visible" {missing 0,
vis 1, self_occluded 2, others_occluded 3}}``. Native people without keypoints are not records (counted) but
stay as ``others_*`` boxes of their image.

COCO-format records use ``coco19`` (+ 3DCrowdNet's hip-midpoint pelvis), native ones ``crowdnet30`` (keeps head
top and neck). ``meta`` holds ``max_iou`` (native) and the number of joints occluded by others.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from common.joint_sets import joint_names
from data.adapters.coco_style import AnnotationError, CocoFile, field, float_array, load_json, read_coco_file
from data.adapters.mscoco import CocoPeopleOptions, coco_people_records
from data.adapters.options import adapter_options, dataset_root
from data.adapters.side_files import read_pose2d_results
from data.records import PersonRecord

HAS_3D_GT = False
COCO_FORMAT_FILES = {s: f"ochuman_coco_format_{s}_range_0.00_1.00.json" for s in ("val", "test")}
NATIVE_FILE = "ochuman.json"
NATIVE_TO_CROWDNET = {  # OCHuman keypoint name -> crowdnet30 name
    "right_shoulder": "R_Shoulder", "right_elbow": "R_Elbow", "right_wrist": "R_Wrist",
    "left_shoulder": "L_Shoulder", "left_elbow": "L_Elbow", "left_wrist": "L_Wrist",
    "right_hip": "R_Hip", "right_knee": "R_Knee", "right_ankle": "R_Ankle",
    "left_hip": "L_Hip", "left_knee": "L_Knee", "left_ankle": "L_Ankle", "head": "Head_top", "neck": "Neck",
    "right_ear": "R_Ear", "left_ear": "L_Ear", "nose": "Nose", "right_eye": "R_Eye", "left_eye": "L_Eye",
}
OTHERS_OCCLUDED = 3
PELVIS = (("Pelvis", "L_Hip", "R_Hip"),)


def native_as_coco(path: Path) -> tuple[CocoFile, dict[Any, int]]:
    """Read ``ochuman.json`` into an in-memory COCO file with keypoints in crowdnet30 order (xywh boxes).

    Returns the file and, per annotation id, the number of joints marked occluded by others."""
    data = load_json(path)
    names = field(data, "keypoint_names", path, "the file")
    if len(names) != 19 or any(n not in NATIVE_TO_CROWDNET for n in names):
        raise AnnotationError(f"{path}: field 'keypoint_names' must list the 19 OCHuman keypoints, got {names}")
    target = joint_names("crowdnet30")
    order = [target.index(NATIVE_TO_CROWDNET[n]) for n in names]
    images, anns_by_image, occluded, next_id = {}, {}, {}, 0
    for i, img in enumerate(field(data, "images", path, "the file")):
        image_id = field(img, "image_id", path, f"images[{i}]")
        field(img, "file_name", path, f"images[{i}]")
        images[image_id] = {k: v for k, v in img.items() if k != "annotations"} | {"id": image_id}
        anns = []
        for j, ann in enumerate(field(img, "annotations", path, f"images[{i}]")):
            where = f"images[{i}].annotations[{j}]"
            x1, y1, x2, y2 = float_array(field(ann, "bbox", path, where), (4,), path, f"{where} field 'bbox'")
            kpts = np.zeros((len(target), 3))
            if ann.get("keypoints") is not None:
                kpts[order] = float_array(ann["keypoints"], (19, 3), path, f"{where} field 'keypoints'")
            occluded[next_id] = int((kpts[:, 2] == OTHERS_OCCLUDED).sum())
            anns.append({"id": next_id, "image_id": image_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0,
                         "keypoints": kpts.reshape(-1).tolist(), "max_iou": ann.get("max_iou")})
            next_id += 1
        anns_by_image[image_id] = anns
    return CocoFile(path, images, anns_by_image, next_id), occluded


def read_ochuman(root: str | Path, split: str, pose2d_file: str | Path | None = None,
                 **options: Any) -> list[PersonRecord]:
    """OCHuman ``split`` ('val' | 'test': COCO-format files; 'all': native ochuman.json) -> records."""
    root = Path(root)
    pose2d = read_pose2d_results(pose2d_file) if pose2d_file else None
    if split in COCO_FORMAT_FILES:
        coco = read_coco_file(root / COCO_FORMAT_FILES[split], num_keypoints=17)
        opts = replace(CocoPeopleOptions("ochuman", "coco17", "coco19", midpoints=PELVIS,
                                         image_subdirs=("images", "")), **options)
        records = coco_people_records(coco, root, opts, None, pose2d)
        for rec in records:
            rec.meta["num_others_occluded"] = -1  # the COCO-format files merge occlusion kinds
        return records
    if split != "all":
        raise AnnotationError(f"ochuman: unknown split '{split}' (val | test | all)")
    coco, occluded = native_as_coco(root / NATIVE_FILE)
    opts = replace(CocoPeopleOptions("ochuman", "crowdnet30", "crowdnet30", midpoints=PELVIS,
                                     image_subdirs=("images", "")), **options)
    records = coco_people_records(coco, root, opts, None, pose2d)
    max_iou = {a["id"]: a["max_iou"] for anns in coco.anns_by_image.values() for a in anns}
    for rec in records:
        rec.meta["num_others_occluded"] = occluded[rec.person_id]
        rec.meta["max_iou"] = max_iou[rec.person_id]
    return records


def load_ochuman_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['ochuman']`` + optional ``data.adapter_options['ochuman']``."""
    return read_ochuman(dataset_root(cfg, "ochuman"), split, **adapter_options(cfg, "ochuman"))
