"""Render the scenes of an embedded world in worker processes (first use only).

Every scene is a pure function of (seed, split, index), so the scenes can be rendered in any order by any process;
the annotations come back in index order. Workers are forked (they inherit the body model) and run torch with one
thread each, as does rendering in this process, so the files do not depend on the number of workers (torch's
reductions differ in the last bits between thread counts). Where ``fork`` is unavailable (Windows, some macOS
setups) rendering stays in this process.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import torch

AUTO_MIN_SCENES = 64  # smaller worlds (tests, tiny configs) render in-process: a pool costs more than it saves
AUTO_MAX_WORKERS = 8

_RENDER_ONE: Callable[[int], dict] | None = None  # set in the parent just before forking; read by the workers


def render_workers(requested: int, count: int) -> int:
    """Worker processes for ``count`` scenes: ``requested`` >= 0 as given (0 and 1 = in this process); -1 = one per
    CPU core, at most 8, for worlds of 64+ scenes."""
    if requested >= 0:
        return requested
    if count < AUTO_MIN_SCENES:
        return 0
    return min(os.cpu_count() or 1, AUTO_MAX_WORKERS)


def _worker_init() -> None:
    torch.set_num_threads(1)


def _render(index: int) -> dict:
    assert _RENDER_ONE is not None
    return _RENDER_ONE(index)


def render_scenes(render_one: Callable[[int], dict], count: int, workers: int, progress: bool = True,
                  desc: str = "scenes") -> list[dict]:
    """``[render_one(i) for i in range(count)]`` (each call writes its image and returns its annotation), in
    ``render_workers(workers, count)`` processes."""
    from tqdm import tqdm

    global _RENDER_ONE
    workers = render_workers(workers, count)
    bar = dict(total=count, desc=desc, disable=not progress, unit="img")
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the workers: a world's floats do not depend on where it was rendered
        try:
            return [render_one(i) for i in tqdm(range(count), **bar)]
        finally:
            torch.set_num_threads(threads)
    _RENDER_ONE = render_one
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init) as pool:
            return list(tqdm(pool.imap(_render, range(count), chunksize=4), **bar))
    finally:
        _RENDER_ONE = None


def render_scene_files(folder: Path, count: int, generate: Callable[[int], tuple], jpeg_quality: int, workers: int,
                       progress: bool = True, desc: str = "scenes") -> list[dict]:
    """Render scenes 0..count-1 with ``generate(index) -> (image (H, W, 3) uint8, annotation dict)`` into
    ``folder/images/<index:06d>.jpg``; returns the annotations (with their ``file``) in index order."""
    from data.image_io import save_jpeg

    (folder / "images").mkdir(parents=True, exist_ok=True)

    def render_one(index: int) -> dict:
        image, annotation = generate(index)
        annotation["file"] = f"images/{index:06d}.jpg"
        save_jpeg(folder / annotation["file"], image, jpeg_quality)
        return annotation

    return render_scenes(render_one, count, workers, progress, desc)


def read_annotations(folder: Path, what: str) -> dict:
    """``folder/annotations.json`` of a generated world split; a broken file is a ValueError naming it."""
    path = folder / "annotations.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read {what} annotations ({err}); delete the folder to regenerate") from None
