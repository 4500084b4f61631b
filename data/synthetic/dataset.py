"""Synthetic crowds as PersonRecords (the adapter of the ``synthetic`` dataset)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from common.config import ConfigError
from data.adapters.subsets import SYNTHETIC_SUBSETS as SUBSETS
from data.records import PersonRecord
from data.scene_pool import read_annotations
from data.synthetic.cache import body_model_id, ensure_split
from data.synthetic.generator import GeneratorParams

log = logging.getLogger(__name__)



def _counts(cfg) -> dict[str, int]:
    syn = cfg.data.synthetic
    return {"train": syn.num_train_images, "test": syn.num_test_images}


def synthetic_split_dir(split: str, cfg, body_model=None, progress: bool = True) -> Path:
    """Folder of the generated ``split`` for this config (rendered on first use with the config's body model)."""
    model = body_model
    if model is None:
        from common.body_models import body_model_from_config

        model = body_model_from_config(cfg, kind="smpl")
    return ensure_split(split, GeneratorParams.from_config(cfg.data.synthetic), _counts(cfg), cfg.data.synthetic.seed,
                        body_model_id(model), lambda: model, progress, workers=cfg.data.render_workers)


def records_from_annotations(folder: Path, split: str) -> list[PersonRecord]:
    """PersonRecords of the kept people of a generated split (all people of an image are each other's 'others')."""
    path, data = folder / "annotations.json", read_annotations(folder, "synthetic")
    records = []
    for image in data["images"]:
        people = image["people"]
        arr = {k: np.asarray([p[k] for p in people], dtype=np.float32)
               for k in ("smpl_pose", "smpl_betas", "smpl_transl", "joints2d", "joints_inside", "bbox")}
        for i, person in enumerate(people):
            if not person["kept"]:
                continue
            rest = [j for j in range(len(people)) if j != i]
            records.append(PersonRecord(
                image_path=str(folder / image["file"]), bbox=arr["bbox"][i],
                focal=np.asarray(image["focal"], np.float32), princpt=np.asarray(image["princpt"], np.float32),
                joints_convention="crowdnet30", joints2d=arr["joints2d"][i], joints2d_valid=arr["joints_inside"][i],
                joints3d=np.asarray(person["joints3d"], np.float32), joints3d_valid=np.ones(30, np.float32),
                smpl_pose=arr["smpl_pose"][i], smpl_betas=arr["smpl_betas"][i], smpl_transl=arr["smpl_transl"][i],
                others_smpl_pose=arr["smpl_pose"][rest], others_smpl_betas=arr["smpl_betas"][rest],
                others_smpl_transl=arr["smpl_transl"][rest], others_joints2d=arr["joints2d"][rest],
                others_joints2d_valid=arr["joints_inside"][rest], others_bbox=arr["bbox"][rest],
                image_hw=(image["height"], image["width"]), occlusion=float(person["occlusion"]),
                dataset="synthetic", sequence=split, image_id=image["index"], person_id=person["person_id"],
                meta={"stratum": person["stratum"], "primitive": person["primitive"],
                      "joints_visible": person["joints_visible"]},
            ).validate(str(path)))
    return records


def load_synthetic_records(split: str, cfg, subset: str = "", body_model=None) -> list[PersonRecord]:
    """Adapter: records of the synthetic ``split`` ('train' | 'test'); ``subset`` selects an occlusion stratum
    ('low_occlusion' | 'mid_occlusion' | 'high_occlusion'; '' = all)."""
    if subset not in SUBSETS:
        raise ConfigError(f"data.test_subset: unknown synthetic subset '{subset}'; known: "
                          f"{', '.join(s or repr('') for s in SUBSETS)}")
    records = records_from_annotations(synthetic_split_dir(split, cfg, body_model), split)
    if subset:
        stratum = subset.split("_")[0]
        records = [r for r in records if r.meta["stratum"] == stratum]
        log.info("synthetic %s/%s: %d records in the stratum", split, subset, len(records))
    return records
