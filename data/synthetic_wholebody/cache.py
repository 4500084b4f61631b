"""Rendering the whole-body world into the cache once: ``cache_dir()/synthetic_wholebody/<key>/<split>/``
(``images/NNNNNN.jpg`` + ``annotations.json``), atomically (temporary folder renamed into place) under a file
lock, with a progress bar; later calls only read. The key hashes every parameter, the split sizes, the seed,
the body-model fingerprint and ``GENERATOR_VERSION``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common.paths import cache_dir
from data.synthetic_wholebody.generator import GENERATOR_VERSION, SPLIT_CODES, WorldParams, generate_scene

log = logging.getLogger(__name__)


def layer_id(layer) -> str:
    """Fingerprint of a WholeBodyLayer: SHA-1 of its faces and of its mesh for a fixed random pose, shape and
    expression (rounded, robust to float noise)."""
    from common.wholebody.params import SMPLXParams

    gen = torch.Generator().manual_seed(0)
    pose = torch.randn(1, 55, 3, generator=gen, dtype=torch.float64).float() * 0.2
    betas, expr = (torch.randn(1, 10, generator=gen, dtype=torch.float64).float() for _ in range(2))
    with torch.no_grad():
        out = layer(SMPLXParams.from_axis_angle(pose, betas, expr))
    digest = hashlib.sha1(layer.faces.cpu().numpy().astype(np.int64).tobytes())
    digest.update(np.round(out.vertices.double().cpu().numpy(), 4).tobytes())
    return f"smplx-{out.vertices.shape[1]}v-{digest.hexdigest()[:16]}"


def world_key(payload: dict) -> str:
    blob = json.dumps({**payload, "version": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def locked_build(final: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``final`` once ``final/marker`` exists; else ``build(tmp)`` under an exclusive lock, then rename."""
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / marker).is_file():  # another process finished meanwhile
            return final
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    return final


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
    return locked_build(final, "annotations.json", lambda tmp: render_split(
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
