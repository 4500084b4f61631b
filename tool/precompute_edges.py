"""Precompute SEFD SMPL edge images (teacher channel) for one dataset split.

Renders every image's people (the record's SMPL params plus ``others_smpl_*``) at the image's full
resolution, exactly as the SEFD release did, and writes one 8-bit PNG per person record, aligned with the
original image (``common/edges/precomputed.py`` for the layout). The mapper crops and augments it with the
same affine as the RGB image. The dilation kernel follows each record's tight-bbox area (the adaptive rule).
People without SMPL parameters are not drawn; records without SMPL get no file (counted and reported).

Usage::

    python -m tool.precompute_edges --cfg configs/sefd_teacher.yaml --dataset synthetic --split train \\
        [--kind smpl_overlap|smpl_edge] [--out DIR (default sefd.edge_dir)] [--limit N] [--overwrite]
        [--device cpu|cuda] [--opts section.key=value ...]
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from common.edges.precomputed import EDGE_KINDS, edge_file, record_key, update_manifest, write_edge_png
from common.edges.smpl_edges import (
    edge_kernel_size,
    edge_magnitudes,
    overlap_from_magnitudes,
    people_vertices,
    shade_people,
    visible_from_magnitudes,
)
from data.edge_maps import record_smpl_people

log = logging.getLogger("precompute_edges")


def record_image_hw(record) -> tuple[int, int]:
    """(height, width) of the record's image: ``record.image_hw`` or read from the file."""
    if record.image_hw is not None:
        return int(record.image_hw[0]), int(record.image_hw[1])
    from data.image_io import load_image

    image = load_image(record.image_path)
    return int(image.shape[0]), int(image.shape[1])


def image_edges(records: list, body_model, kind: str, device: torch.device) -> list[np.ndarray]:
    """Edge maps (H,W) for records sharing one image and one set of people (rendered once)."""
    people = record_smpl_people(records[0])
    pose, betas, transl = (torch.as_tensor(a, device=device) for a in people)
    vertices = people_vertices(body_model, pose, betas, transl)
    first = records[0]
    scene, each = shade_people(vertices, body_model.faces, first.focal, first.princpt, record_image_hw(first))
    magnitudes = edge_magnitudes(scene, each)
    maps = []
    for record in records:
        kernel = edge_kernel_size(float(record.bbox[2] * record.bbox[3]))
        edge = overlap_from_magnitudes(magnitudes, kernel) if kind == "smpl_overlap" else \
            visible_from_magnitudes(magnitudes, kernel)
        maps.append(edge.cpu().numpy())
    return maps


def group_by_image(indexed_records: list[tuple[int, object]]) -> list[list[tuple[int, object]]]:
    """Records of the same image with the same number of SMPL people share one rendering."""
    groups: OrderedDict = OrderedDict()
    for index, record in indexed_records:
        n_people = 1 + (0 if record.others_smpl_pose is None else len(record.others_smpl_pose))
        groups.setdefault((str(record.image_path), n_people), []).append((index, record))
    return list(groups.values())


def precompute(cfg, dataset: str, split: str, kind: str, out_dir: Path, limit: int = 0, overwrite: bool = False,
               device: str = "cpu", progress: bool = True, records: list | None = None,
               body_model=None) -> dict[str, int]:
    """Write the edge PNGs of ``dataset``/``split``; returns counts (written, existing, no_smpl).

    ``records`` / ``body_model`` default to the registered adapter's records and the configured SMPL model.
    """
    if kind not in EDGE_KINDS:
        raise ValueError(f"--kind must be one of {EDGE_KINDS}, got {kind!r}")
    if records is None:
        from data.registry import adapter

        records = adapter(dataset)(split, cfg)
    if body_model is None:
        from common.body_models import body_model_from_config

        body_model = body_model_from_config(cfg, kind="smpl")
    todo, counts = [], {"written": 0, "existing": 0, "no_smpl": 0}
    for index, record in enumerate(records[: limit or None]):
        if not record.has_smpl:
            counts["no_smpl"] += 1
        elif not overwrite and edge_file(out_dir, dataset, split, kind, index).is_file():
            counts["existing"] += 1
        else:
            todo.append((index, record))
    body_model = body_model.to(device)
    groups = group_by_image(todo)
    if progress:
        from tqdm import tqdm

        groups = tqdm(groups, desc=f"{dataset}/{split} {kind}", unit="image")
    with torch.no_grad():
        for group in groups:
            maps = image_edges([r for _, r in group], body_model, kind, torch.device(device))
            for (index, _), edge in zip(group, maps):
                write_edge_png(edge_file(out_dir, dataset, split, kind, index), edge)
                counts["written"] += 1
            update_manifest(out_dir, dataset, split, kind, {i: record_key(r) for i, r in group})
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", default=None, help="experiment YAML (defaults + overrides if omitted)")
    parser.add_argument("--dataset", required=True, help="dataset name registered in data/datasets.py")
    parser.add_argument("--split", default="train")
    parser.add_argument("--kind", default="smpl_overlap", choices=EDGE_KINDS)
    parser.add_argument("--out", default="", help="output root (default: sefd.edge_dir)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N records (0 = all)")
    parser.add_argument("--overwrite", action="store_true", help="recompute existing files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides section.key=value")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from common.config import load_config

    try:
        cfg = load_config(args.cfg, args.opts)
        if not (args.out or cfg.sefd.edge_dir):
            raise ValueError("no output folder: pass --out or set sefd.edge_dir")
        out_dir = Path(args.out or cfg.sefd.edge_dir)
        counts = precompute(cfg, args.dataset, args.split, args.kind, out_dir, args.limit, args.overwrite,
                            args.device)
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"precompute_edges: {err}", file=sys.stderr)
        return 2
    log.info("%s/%s %s -> %s: %d written, %d already there, %d records without SMPL (no file)", args.dataset,
             args.split, args.kind, out_dir / args.dataset / args.split / args.kind, counts["written"],
             counts["existing"], counts["no_smpl"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
