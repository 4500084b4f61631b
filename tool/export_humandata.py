"""Export any registered dataset's records to an MMHuman3D HumanData ``.npz`` (read back by the humandata adapter).

Written keys: ``image_path`` (relative to ``--image-root``, default the images' common folder), ``bbox_xywh``
(N, 5) with score 1, ``keypoints2d`` (N, 190, 3) / ``keypoints3d`` (N, 190, 4) in the 'human_data' convention
(the 30 ``crowdnet30`` joints in their MMHuman3D slots, confidence = validity; joints a record's convention has
but crowdnet30 lacks, e.g. MPII 'Thorax', are not exported) with their masks, compressed by mask unless
``--no-compress``; ``smpl`` {body_pose (N, 23, 3), global_orient, betas, transl} when any record has SMPL params;
``meta`` {gender}; ``misc`` {focal, princpt, image_hw, occlusion, image_id, person_id, dataset, smpl_valid}
(records without SMPL hold zeros and ``smpl_valid`` 0); ``config``; ``__key_strict__``, ``__data_len__``,
``__keypoints_compressed__``. Detector input poses and ``others_*`` are not stored (the adapter rebuilds the
others from the images).

    python -m tool.export_humandata --dataset crowdpose --split train --opts "data.roots={crowdpose: /data/cp}" \\
        --out crowdpose_train.npz
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from common.joint_sets import convert_joints, convert_validity
from data.adapters.humandata import CROWDNET30, HUMAN_DATA_INDEX, HUMAN_DATA_LEN
from data.records import PersonRecord

SLOTS = np.array([HUMAN_DATA_INDEX[name] for name in CROWDNET30])


def _joints(records: Sequence[PersonRecord], coords: str, valid: str, dim: int) -> np.ndarray | None:
    """(N, 190, dim + 1) human_data keypoints (confidence = validity) of one records field, or None."""
    if all(getattr(r, coords) is None for r in records):
        return None
    out = np.zeros((len(records), HUMAN_DATA_LEN, dim + 1), dtype=np.float32)
    for i, rec in enumerate(records):
        if getattr(rec, coords) is None:
            continue
        xyz, mask = convert_joints(np.asarray(getattr(rec, coords), np.float64), rec.joints_convention, "crowdnet30")
        out[i, SLOTS, :dim] = xyz
        out[i, SLOTS, dim] = mask * convert_validity(getattr(rec, valid), rec.joints_convention, "crowdnet30")
    return out


def records_to_humandata(records: Sequence[PersonRecord], image_root: str | os.PathLike | None = None,
                         compress: bool = True, config: str = "") -> dict:
    """The HumanData dict (values as ``HumanData.dump`` stores them) of ``records``."""
    if not records:
        raise ValueError("export_humandata: no records to export")
    paths = [os.path.abspath(r.image_path) for r in records]
    root = os.path.abspath(image_root) if image_root else os.path.commonpath([os.path.dirname(p) for p in paths])
    n = len(records)
    data: dict = {"image_path": [os.path.relpath(p, root) for p in paths],
                  "bbox_xywh": np.concatenate([np.stack([r.bbox for r in records]), np.ones((n, 1))], 1),
                  "config": config or records[0].dataset,
                  "meta": {"gender": [r.smpl_gender for r in records]},
                  "misc": {"focal": np.stack([r.focal for r in records]),
                           "princpt": np.stack([r.princpt for r in records]),
                           "image_hw": np.array([r.image_hw or (-1, -1) for r in records]),
                           "occlusion": np.array([r.occlusion for r in records]),
                           "image_id": [r.image_id for r in records], "person_id": [r.person_id for r in records],
                           "dataset": [r.dataset for r in records]}}
    mask = np.zeros(HUMAN_DATA_LEN, dtype=np.float32)
    mask[SLOTS] = 1
    for key, coords, valid, dim in (("keypoints2d", "joints2d", "joints2d_valid", 2),
                                    ("keypoints3d", "joints3d", "joints3d_valid", 3)):
        kpts = _joints(records, coords, valid, dim)
        if kpts is not None:
            data[key] = kpts[:, np.flatnonzero(mask)] if compress else kpts  # compressed: ascending slots
            data[f"{key}_mask"] = mask.copy()
            data[f"{key}_convention"] = "human_data"
    if any(r.has_smpl for r in records):
        pose = np.stack([np.asarray(r.smpl_pose) if r.has_smpl else np.zeros(72) for r in records])
        data["smpl"] = {"global_orient": pose[:, :3], "body_pose": pose[:, 3:].reshape(n, 23, 3),
                        "betas": np.stack([np.asarray(r.smpl_betas) if r.has_smpl else np.zeros(10) for r in records]),
                        "transl": np.stack([np.asarray(r.smpl_transl) if r.has_smpl and r.smpl_transl is not None
                                            else np.zeros(3) for r in records])}
        data["misc"]["smpl_valid"] = np.array([r.has_smpl for r in records], dtype=np.float32)
    data["__key_strict__"] = False
    data["__data_len__"] = n
    data["__keypoints_compressed__"] = bool(compress)
    return data


def write_humandata(path: str | os.PathLike, data: dict) -> Path:
    """``np.savez_compressed`` like ``HumanData.dump`` (dicts and strings become 0-d object arrays)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: HumanData files end with .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = {k: (np.array(v, dtype=object) if isinstance(v, (dict, str)) else v) for k, v in data.items()}
    np.savez_compressed(path, **packed)
    return path


def main(argv: list[str] | None = None) -> Path:
    from common.config import load_config
    from data.registry import adapter

    parser = argparse.ArgumentParser(description="Export a registered dataset's records to HumanData .npz.")
    parser.add_argument("--dataset", required=True, help="registered dataset name (data/datasets.py)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--cfg", default=None, help="experiment YAML (for data.roots etc.)")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides section.key=value")
    parser.add_argument("--out", required=True, type=Path, help="output .npz")
    parser.add_argument("--image-root", default=None, help="folder image_path is relative to")
    parser.add_argument("--no-compress", action="store_true", help="store all 190 keypoint slots")
    args = parser.parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    records = adapter(args.dataset)(args.split, cfg)
    path = write_humandata(args.out, records_to_humandata(records, args.image_root, not args.no_compress,
                                                          f"{args.dataset}_{args.split}"))
    print(f"wrote {len(records)} records of {args.dataset}/{args.split} to {path}")
    return path


if __name__ == "__main__":
    main()
