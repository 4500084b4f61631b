"""3DPW entry points: :func:`read_pw3d` (a subset in either format) and the dataset table's adapter."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from data.adapters.options import adapter_options, dataset_root
from data.adapters.pw3d.crowdnet_json import find_json, json_sequences, load_json, read_crowdnet_json
from data.adapters.pw3d.official import official_available, read_official_sequence, rest_pelvis_from_models
from data.adapters.pw3d.shared import Pw3dError, RestPelvisFn
from data.adapters.subsets import PW3D_SPLITS, PW3D_SUBSETS, Pw3dSubset, resolve_pw3d_subset
from data.records import PersonRecord

log = logging.getLogger(__name__)


def read_pw3d(root: str | os.PathLike, subset: str = "test", fmt: str = "auto",
              rest_pelvis: RestPelvisFn | None = None, crop: str = "pose2d", pose_source: str = "",
              hhrnet_path: str | os.PathLike | None = None, conf_threshold: float = 0.05,
              bbox_extend: float = 1.2, check_images: bool = True) -> list[PersonRecord]:
    """PersonRecords of a 3DPW subset (see :mod:`data.adapters.subsets`).

    Args:
        root: 3DPW folder holding ``imageFiles/`` and ``sequenceFiles/`` and/or ``[data/]3DPW_latest_*.json``.
        subset: named subset or sequence list ('' = 'test').
        fmt: 'official' (pickles), 'crowdnet' (JSON) or 'auto' (JSON when present for every needed split).
        rest_pelvis: J0(betas, gender) for the official format's world->camera conversion (required there).
        crop: 'pose2d' (3DCrowdNet) or 'gt' (SEFD release).
        pose_source: 'openpose' | 'hhrnet' | '' (the subset's default); 'hhrnet' needs the JSON format.
        hhrnet_path: HigherHRNet results file (default: ``[data/]3DPW_{split}_crowd_hhrnet_result.json``).
    """
    root = Path(root)
    if crop not in ("pose2d", "gt"):
        raise Pw3dError(f"unknown 3DPW crop '{crop}'; use 'pose2d' (3DCrowdNet) or 'gt' (SEFD release)")
    if fmt not in ("auto", "official", "crowdnet"):
        raise Pw3dError(f"unknown 3DPW format '{fmt}'; use 'auto', 'official' or 'crowdnet'")
    jsons = {s: find_json(root, f"3DPW_latest_{s}.json") for s in PW3D_SPLITS}
    if fmt == "auto":  # the JSON when it exists for every split the subset names, else the pickles
        key = subset.strip() or "test"
        needed = ({s for s, _ in PW3D_SUBSETS[key].sequences} if key in PW3D_SUBSETS else
                  {item.split("/")[0] for item in key.split(",") if "/" in item})
        has_json = all(jsons.get(s) for s in needed) if needed else any(jsons.values())
        fmt = "crowdnet" if has_json or not (root / "sequenceFiles").is_dir() else "official"
    if fmt == "crowdnet":
        dbs = {s: load_json(p) for s, p in jsons.items() if p is not None}
        available = {s: json_sequences(jsons[s], db) for s, db in dbs.items()}
    else:
        available = official_available(root)
    if not available:
        raise Pw3dError(f"{root}: no 3DPW annotations found (sequenceFiles/<split>/*.pkl or 3DPW_latest_<split>.json)")
    subset_spec: Pw3dSubset = resolve_pw3d_subset(subset, available)
    source = pose_source or subset_spec.pose_source
    records: list[PersonRecord] = []
    for split in dict.fromkeys(s for s, _ in subset_spec.sequences):
        seqs = [q for s, q in subset_spec.sequences if s == split]
        wanted = None if None in seqs else set(seqs)
        if fmt == "crowdnet":
            hh = None
            if source == "hhrnet":
                hh = Path(hhrnet_path) if hhrnet_path else find_json(root, f"3DPW_{split}_crowd_hhrnet_result.json")
                if hh is None:
                    log.info("3DPW %s: no HigherHRNet results for this split; OpenPose inputs are used", split)
            records += read_crowdnet_json(jsons[split], root / "imageFiles", wanted, crop, hh, conf_threshold,
                                          bbox_extend, check_images, split, dbs[split])
        else:
            if source == "hhrnet":
                log.info("3DPW %s: HigherHRNet inputs need the JSON format; OpenPose (poses2d) is used", split)
            if rest_pelvis is None:
                raise Pw3dError("the official 3DPW format needs rest_pelvis (J0 of the gendered body model)")
            for seq in sorted(wanted or available[split]):
                recs = read_official_sequence(root / "sequenceFiles" / split / f"{seq}.pkl", root / "imageFiles",
                                              rest_pelvis, crop, conf_threshold, bbox_extend, check_images)
                for r in recs:
                    r.meta["split"] = split
                records += recs
    log.info("3DPW subset '%s' (%s format, %s inputs, %s crops): %d records",
             subset_spec.name, fmt, source, crop, len(records))
    return records


def lazy_rest_pelvis(cfg: Any) -> RestPelvisFn:
    """J0 from the gendered SMPL models of ``cfg.body_model`` (neutral fallback), built on first use only."""
    state: dict[str, RestPelvisFn] = {}

    def rest_pelvis(betas: np.ndarray, gender: str) -> np.ndarray:
        if "fn" not in state:
            from common.body_models import gendered_gt_models, neutral_smpl

            state["fn"] = rest_pelvis_from_models({"neutral": neutral_smpl(cfg), **gendered_gt_models(cfg)})
        return state["fn"](betas, gender)

    return rest_pelvis


def load_pw3d_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['3dpw']``; ``subset`` (else the split) names the sequences; keyword options
    of :func:`read_pw3d` (fmt, crop, pose_source, hhrnet_path, ...) from ``data.adapter_options['3dpw']``."""
    name = subset or {"val": "validation"}.get(split, split)
    opts = adapter_options(cfg, "3dpw")
    opts.pop("smplx_j14_regressor", None)  # an evaluator option (data/evaluators.py), not the adapter's
    return read_pw3d(dataset_root(cfg, "3dpw"), name, rest_pelvis=lazy_rest_pelvis(cfg), **opts)
