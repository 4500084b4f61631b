"""CrowdPose (CVPR 2019) -> PersonRecords, optionally with NeuralAnnot SMPL fits and matched detector poses.

Layout under ``data.roots['crowdpose']`` (3DCrowdNet's): ``annotations/crowdpose_{train,val,test,trainval}.json``
(COCO style, 14 keypoints: L/R shoulder, elbow, wrist, hip, knee, ankle, head (top), neck; images carry
``crowdIndex``), ``annotations/CrowdPose_{split}_SMPL_NeuralAnnot.json`` (optional fits) and ``images/<file_name>``.

Records use ``crowdnet30`` (every CrowdPose joint exists there by name) so that 3DCrowdNet's added pelvis (hip
midpoint, valid when both hips are) can be stored; the ``crowdIndex`` goes to ``meta['crowdIndex']``.
3DCrowdNet swaps width/height of the train file's images ("correct reversed img width,height info"); so do we
(``hw_swapped``, train split only). Its release keeps a fit only when ``fit_err >= 5`` (an inverted test); here
fits are kept unless ``max_fit_err`` is set.
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
SPLITS = ("train", "val", "test", "trainval")
# OKS sigmas of the 14 CrowdPose keypoints (crowdposetools), file order.
CROWDPOSE_SIGMAS = (.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79)


def read_crowdpose(root: str | Path, split: str, use_fits: bool = True, pose2d_file: str | Path | None = None,
                   **options: Any) -> list[PersonRecord]:
    """CrowdPose ``split`` -> records; ``options`` override :class:`CocoPeopleOptions` fields."""
    if split not in SPLITS:
        raise AnnotationError(f"crowdpose: unknown split '{split}' ({' | '.join(SPLITS)})")
    root = Path(root)
    coco = read_coco_file(root / "annotations" / f"crowdpose_{split}.json", num_keypoints=14)
    fits_path = root / "annotations" / f"CrowdPose_{split}_SMPL_NeuralAnnot.json"
    fits = read_smpl_fits(fits_path) if use_fits and fits_path.is_file() else None
    if use_fits and fits is None and split == "train":
        log.info("crowdpose: %s not found; training without SMPL pseudo-GT", fits_path)
    opts = CocoPeopleOptions("crowdpose", "crowdpose14", "crowdnet30", midpoints=(("Pelvis", "L_Hip", "R_Hip"),),
                             hw_swapped=split == "train", image_subdirs=("images", ""),
                             image_meta=("crowdIndex",))
    opts = replace(opts, **options)
    pose2d = read_pose2d_results(pose2d_file) if pose2d_file else None
    return coco_people_records(coco, root, opts, fits, pose2d)


def load_crowdpose_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['crowdpose']`` + optional ``data.adapter_options['crowdpose']``."""
    return read_crowdpose(dataset_root(cfg, "crowdpose"), split, **adapter_options(cfg, "crowdpose"))
