"""The whole-body world as PersonRecords (adapter of the ``synthetic_wholebody`` dataset)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from common.config import ConfigError
from data.records import PersonRecord
from data.scene_pool import read_annotations
from data.synthetic_wholebody.cache import ensure_split, layer_id
from data.synthetic_wholebody.generator import WorldParams

log = logging.getLogger(__name__)

CONVENTION = "openpose137"


def world_counts(cfg) -> dict[str, int]:
    w = cfg.data.wholebody_world
    return {"train": w.num_train_images, "test": w.num_test_images}


def build_world(cfg) -> tuple:
    """(WholeBodyLayer, HandSpace) of ``cfg.body_model`` on the CPU."""
    from common.wholebody.layer import WholeBodyLayer
    from data.synthetic_wholebody.parts import HandSpace

    return WholeBodyLayer.from_config(cfg), HandSpace.from_config(cfg)


def wholebody_split_dir(split: str, cfg, progress: bool = True, world: tuple | None = None) -> Path:
    """Folder of the generated ``split`` for this config (rendered on first use)."""
    world = world or build_world(cfg)
    w = cfg.data.wholebody_world
    return ensure_split(split, WorldParams.from_config(w), world_counts(cfg), w.seed, lambda: world,
                        layer_id(world[0]), progress, workers=cfg.data.render_workers)


def records_from_annotations(folder: Path, split: str) -> list[PersonRecord]:
    """PersonRecords of the kept people of a generated split.

    joints2d_valid = the keypoint is defined by the model, projects inside the image and is not hidden by another
    person (the SMPL world's visibility test); joints3d_valid = defined. bbox = the person's full (amodal)
    silhouette box clipped to the image.
    """
    path, data = folder / "annotations.json", read_annotations(folder, "whole-body world")
    defined = np.asarray(data["keypoints_defined"], np.float32)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    records = []
    for image in data["images"]:
        for person in image["people"]:
            if not person["kept"]:
                continue
            records.append(PersonRecord(
                image_path=str(folder / image["file"]), bbox=f32(person["bbox"]), focal=f32(image["focal"]),
                princpt=f32(image["princpt"]), joints_convention=CONVENTION, joints2d=f32(person["keypoints2d"]),
                joints2d_valid=f32(person["keypoints_visible"]), joints3d=f32(person["keypoints3d"]),
                joints3d_valid=defined.copy(), smplx_pose=f32(person["smplx_pose"]),
                smplx_betas=f32(person["smplx_betas"]), smplx_expression=f32(person["smplx_expression"]),
                smplx_transl=f32(person["smplx_transl"]), left_hand_valid=float(person["left_hand_valid"]),
                right_hand_valid=float(person["right_hand_valid"]), face_valid=float(person["face_valid"]),
                image_hw=(image["height"], image["width"]), occlusion=float(person["occlusion"]),
                dataset="synthetic_wholebody", sequence=split, image_id=image["index"], person_id=person["person_id"],
                meta={"primitive": person["primitive"], "hand_modes": person["hand_modes"],
                      "keypoints_inside": person["keypoints_inside"]},
            ).validate(str(path)))
    return records


def load_synthetic_wholebody_records(split: str, cfg, subset: str = "") -> list[PersonRecord]:
    """Adapter: records of the whole-body world's ``split`` ('train' | 'test'; no subsets)."""
    if subset:
        raise ConfigError(f"data.test_subset: the whole-body world has no subsets, got '{subset}'")
    records = records_from_annotations(wholebody_split_dir(split, cfg), split)
    log.info("whole-body world %s: %d records", split, len(records))
    return records
