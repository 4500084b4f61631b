"""MPII Human Pose in 3DCrowdNet's COCO-style form (+ optional NeuralAnnot fits) -> PersonRecords.

Layout under ``data.roots['mpii']`` (3DCrowdNet's): ``data/annotations/train.json`` (COCO style, 16 keypoints in
MPII order: R ankle, R knee, R hip, L hip, L knee, L ankle, pelvis, thorax, upper neck, head top, R wrist,
R elbow, R shoulder, L shoulder, L elbow, L wrist), ``data/annotations/MPII_train_SMPL_NeuralAnnot.json``
(optional) and images ``data/<file_name>`` (``data/images/<file_name>`` is tried too). ``data/annotations/
test.json`` is read for split 'test' when present. Records keep ``mpii16``. 3DCrowdNet applies no keypoint
filter to MPII (``min_keypoints=0``); only degenerate boxes are dropped.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from data.adapters.coco_style import AnnotationError, read_coco_file
from data.adapters.mscoco import CocoPeopleOptions, coco_people_records
from data.adapters.options import adapter_options, dataset_root
from data.adapters.side_files import read_pose2d_results, read_smpl_fits
from data.records import PersonRecord

log = logging.getLogger(__name__)

HAS_3D_GT = False


def _data_dir(root: Path) -> Path:
    return root / "data" if (root / "data" / "annotations").is_dir() else root


def read_mpii(root: str | Path, split: str, use_fits: bool = True, pose2d_file: str | Path | None = None,
              **options: Any) -> list[PersonRecord]:
    """MPII ``split`` ('train' | 'test') -> records; ``options`` override :class:`CocoPeopleOptions` fields."""
    if split not in ("train", "test"):
        raise AnnotationError(f"mpii: unknown split '{split}' (train | test)")
    data_dir = _data_dir(Path(root))
    coco = read_coco_file(data_dir / "annotations" / f"{split}.json", num_keypoints=16)
    fits_path = data_dir / "annotations" / f"MPII_{split}_SMPL_NeuralAnnot.json"
    fits = read_smpl_fits(fits_path) if use_fits and fits_path.is_file() else None
    if use_fits and fits is None and split == "train":
        log.info("mpii: %s not found; training without SMPL pseudo-GT", fits_path)
    opts = CocoPeopleOptions("mpii", "mpii16", "mpii16", min_keypoints=0, image_subdirs=("", "images"))
    opts = replace(opts, **options)
    pose2d = read_pose2d_results(pose2d_file) if pose2d_file else None
    return coco_people_records(coco, data_dir, opts, fits, pose2d)


def load_mpii_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['mpii']`` + optional ``data.adapter_options['mpii']``."""
    return read_mpii(dataset_root(cfg, "mpii"), split, **adapter_options(cfg, "mpii"))
