"""Rendering the SMPL world into the cache once: ``cache_dir()/synthetic/<key>/<split>/`` (``images/NNNNNN.jpg`` +
``annotations.json``), atomically (temporary folder renamed into place) under a file lock, with a progress bar;
later calls only read. The key hashes every parameter, the split sizes, the seed, the body-model fingerprint and
``GENERATOR_VERSION``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import torch

from common.cache_folder import build_once, marker
from common.paths import cache_dir
from data.synthetic.generator import GENERATOR_VERSION, SPLIT_CODES, GeneratorParams, generate_scene, vertex_segments
from data.world_cache import content_key, mesh_fingerprint

log = logging.getLogger(__name__)


def body_model_id(body_model) -> str:
    """Fingerprint of an SMPL body model: its faces and its mesh for a fixed random pose and shape."""
    gen = torch.Generator().manual_seed(0)
    pose = torch.randn(1, 72, generator=gen, dtype=torch.float64).float() * 0.2
    betas = torch.randn(1, 10, generator=gen, dtype=torch.float64).float()
    with torch.no_grad():
        out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas)
    return mesh_fingerprint("smpl", body_model.faces.cpu().numpy(), out.vertices[0].double().cpu().numpy())


def cache_key(params: GeneratorParams, counts: dict[str, int], seed: int, body_model_id: str) -> str:
    """Hex key of everything that determines the data: parameters, split sizes, seed, body model, version."""
    return content_key({"params": dataclasses.asdict(params), "counts": counts, "seed": seed,
                        "body_model": body_model_id, "version": GENERATOR_VERSION})


def split_dir(key: str, split: str) -> Path:
    return cache_dir() / "synthetic" / key / split


def ensure_split(split: str, params: GeneratorParams, counts: dict[str, int], seed: int, body_model_id: str,
                 make_body_model, progress: bool = True, device: str = "cpu", workers: int = 0) -> Path:
    """Folder of a generated split (``images/``, ``annotations.json``); renders it first if absent.

    ``make_body_model()`` is only called when rendering is needed. Rendering happens in a temporary folder
    renamed into place at the end, under an exclusive file lock, so concurrent processes render once; ``workers``
    processes render it (``data.scene_pool.render_workers``; not part of the cache key).
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"synthetic split must be one of {', '.join(SPLIT_CODES)}, got '{split}'")
    final = split_dir(cache_key(params, counts, seed, body_model_id), split)

    def build(tmp: Path) -> None:
        (final.parent / "params.json").write_text(json.dumps(
            {"params": dataclasses.asdict(params), "counts": counts, "seed": seed, "body_model": body_model_id,
             "version": GENERATOR_VERSION}, indent=1))
        render_split(tmp, split, params, counts[split], seed, make_body_model(), body_model_id, progress, device,
                     workers)

    return build_once(final, marker("annotations.json"), build)


def render_split(folder: Path, split: str, params: GeneratorParams, count: int, seed: int, body_model,
                 body_model_id: str, progress: bool = True, device: str = "cpu", workers: int = 0) -> dict:
    """Render ``count`` scenes into ``folder`` and write ``annotations.json``; returns its stats."""
    from data.scene_pool import render_scene_files

    faces = body_model.faces.to(torch.long).cpu()
    segments = vertex_segments(body_model)
    start = time.perf_counter()
    images = render_scene_files(
        folder, count, lambda i: generate_scene(i, split, seed, params, body_model, faces, segments, device),
        params.jpeg_quality, workers if device == "cpu" else 0, progress, f"synthetic {split}")
    seconds = time.perf_counter() - start
    people = [p for a in images for p in a["people"]]
    skipped = {r: sum(p["skip_reason"] == r for p in people) for r in ("outside", "hidden")}
    stats = {"images": count, "people": len(people), "kept": sum(p["kept"] for p in people),
             "skipped": skipped, "seconds": round(seconds, 2),
             "images_per_second": round(count / max(seconds, 1e-9), 3)}
    log.info("synthetic %s: %d images, %d people, %d kept; skipped %s (thresholds: max_occlusion %.2f, "
             "min_joints_inside %.2f, min_area_px %d); %.2f img/s", split, count, stats["people"], stats["kept"],
             skipped, params.max_occlusion, params.min_joints_inside, params.min_area_px,
             stats["images_per_second"])
    payload = {"version": GENERATOR_VERSION, "split": split, "seed": seed, "body_model": body_model_id,
               "params": dataclasses.asdict(params), "stats": stats, "images": images}
    tmp = folder / "annotations.json.tmp"
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, folder / "annotations.json")
    return stats
