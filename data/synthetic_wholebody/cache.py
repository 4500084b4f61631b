"""Rendering the whole-body world into the cache once: ``cache_dir()/synthetic_wholebody/<key>/<split>/``
(``images/NNNNNN.jpg`` + ``annotations.json``), atomically (temporary folder renamed into place) under a file
lock, with a progress bar; later calls only read. The key hashes every parameter, the split sizes, the seed,
the body-model fingerprint and ``GENERATOR_VERSION``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Callable

import torch

from common.cache_folder import build_once, marker
from common.paths import cache_dir
from data.synthetic_wholebody.generator import GENERATOR_VERSION, SPLIT_CODES, WorldParams, generate_scene
from data.world_cache import content_key, mesh_fingerprint

log = logging.getLogger(__name__)


def layer_id(layer) -> str:
    """Fingerprint of a WholeBodyLayer: its faces and its mesh for a fixed random pose, shape and expression."""
    from common.wholebody.params import SMPLXParams

    gen = torch.Generator().manual_seed(0)
    pose = torch.randn(1, 55, 3, generator=gen, dtype=torch.float64).float() * 0.2
    betas, expr = (torch.randn(1, 10, generator=gen, dtype=torch.float64).float() for _ in range(2))
    with torch.no_grad():
        out = layer(SMPLXParams.from_axis_angle(pose, betas, expr))
    return mesh_fingerprint("smplx", layer.faces.cpu().numpy(), out.vertices[0].double().cpu().numpy())


def world_key(payload: dict) -> str:
    return content_key({**payload, "version": GENERATOR_VERSION})


def ensure_split(split: str, params: WorldParams, counts: dict[str, int], seed: int, make_world: Callable[[], tuple],
                 model_id: str, progress: bool = True, device: str = "cpu", workers: int = 0) -> Path:
    """Folder of the generated ``split`` ('train' | 'test'); renders it first if absent.

    ``make_world()`` -> (WholeBodyLayer, HandSpace) is only called when rendering is needed; ``workers`` processes
    render it (``data.scene_pool.render_workers``; not part of the cache key).
    """
    if split not in ("train", "test"):
        raise ValueError(f"whole-body world split must be 'train' or 'test', got '{split}'")
    key = world_key({"params": dataclasses.asdict(params), "counts": counts, "seed": seed, "model": model_id})
    final = cache_dir() / "synthetic_wholebody" / key / split
    return build_once(final, marker("annotations.json"), lambda tmp: render_split(
        tmp, split, params, counts[split], seed, *make_world(), model_id, progress, device, workers))


def render_split(folder: Path, split: str, params: WorldParams, count: int, seed: int, layer, space,
                 model_id: str, progress: bool = True, device: str = "cpu", workers: int = 0) -> dict:
    """Render ``count`` scenes into ``folder`` and write ``annotations.json``; returns its stats."""
    from data.scene_pool import render_scene_files
    from data.synthetic_wholebody.generator import vertex_segments

    faces, segments = layer.faces.to(torch.long).cpu(), vertex_segments(layer)
    start = time.perf_counter()
    images = render_scene_files(
        folder, count, lambda i: generate_scene(i, split, seed, params, layer, space, faces, segments, device),
        params.jpeg_quality, workers if device == "cpu" else 0, progress, f"whole-body world {split}")
    seconds = time.perf_counter() - start
    people = [p for a in images for p in a["people"]]
    stats = {"images": count, "people": len(people), "kept": sum(p["kept"] for p in people),
             "skipped": {r: sum(p["skip_reason"] == r for p in people) for r in ("outside", "hidden")},
             **{f"{part}_valid": sum(p[f"{part}_valid"] for p in people if p["kept"])
                for part in ("left_hand", "right_hand", "face")},
             "seconds": round(seconds, 2), "images_per_second": round(count / max(seconds, 1e-9), 3)}
    log.info("whole-body world %s: %s", split, stats)
    payload = {"version": GENERATOR_VERSION, "split": split, "split_code": SPLIT_CODES[split], "seed": seed,
               "model": model_id, "params": dataclasses.asdict(params), "stats": stats,
               "keypoints_defined": layer.keypoints_valid.cpu().numpy().astype(int).tolist(), "images": images}
    (folder / "annotations.json").write_text(json.dumps(payload))
    return stats
