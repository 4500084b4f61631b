"""Precomputed edge images: file naming, writing and size-checked reading.

Layout written by ``tool/precompute_edges.py``::

    <edge_dir>/<dataset>/<split>/<kind>/<record index, 8 digits>.png

One 8-bit grey PNG per person record, aligned with the record's ORIGINAL image (same height and width), so
the shared mapper crops and augments it with the same affine as the RGB image. Values are edge * 255.
``<kind>/manifest.json`` maps each index to its record's image path and person id, so a reader can check that
the adapter still lists the same records in the same order (:func:`check_edge_manifest`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

EDGE_KINDS = ("smpl_overlap", "smpl_edge")  # the teacher channels; student edges are computed from the crop


def edge_file(edge_dir: str | Path, dataset: str, split: str, kind: str, index: int) -> Path:
    """Path of the edge image of record ``index`` (see the module docstring for the layout)."""
    if kind not in EDGE_KINDS:
        raise ValueError(f"unknown edge kind {kind!r}; expected one of {EDGE_KINDS}")
    return Path(edge_dir) / dataset / split / kind / f"{int(index):08d}.png"


def write_edge_png(path: str | Path, edge: np.ndarray) -> None:
    """Write an (H,W) edge map in [0, 1] as an 8-bit PNG (values outside [0, 1] are clipped)."""
    edge = np.asarray(edge, dtype=np.float32)
    if edge.ndim != 2:
        raise ValueError(f"{path}: edge map must be (H,W), got shape {edge.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(np.clip(edge, 0.0, 1.0) * 255.0).astype(np.uint8)
    tmp = path.with_name(path.stem + ".tmp.png")  # write then rename: no half-written file on interruption
    if not cv2.imwrite(str(tmp), pixels):
        raise OSError(f"{path}: could not write the edge image")
    tmp.replace(path)


def read_edge_png(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read an edge image as float32 (H,W) in [0, 1].

    Args:
        path: the PNG file.
        expected_hw: (height, width) it must have (the record's image size); None skips the check.
    Raises:
        FileNotFoundError / ValueError naming the file when it is missing, unreadable or of the wrong size.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: precomputed edge image not found (run tool/precompute_edges.py)")
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError(f"{path}: not a readable image")
    if pixels.ndim == 3:
        raise ValueError(f"{path}: edge image must be single-channel grey, got {pixels.shape[2]} channels")
    if expected_hw is not None and tuple(pixels.shape) != tuple(int(v) for v in expected_hw):
        raise ValueError(
            f"{path}: edge image is {pixels.shape[0]}x{pixels.shape[1]} (HxW) but its image is "
            f"{int(expected_hw[0])}x{int(expected_hw[1])}; recompute the edges for this dataset"
        )
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    return pixels.astype(np.float32) / scale


def manifest_file(edge_dir: str | Path, dataset: str, split: str, kind: str) -> Path:
    return edge_file(edge_dir, dataset, split, kind, 0).parent / "manifest.json"


def record_key(record) -> list[str]:
    """What identifies a record in the manifest: [image path, person id]."""
    return [str(record.image_path), str(record.person_id)]


def update_manifest(edge_dir: str | Path, dataset: str, split: str, kind: str, entries: dict[int, list[str]]) -> None:
    """Merge {index: record_key} into the manifest (written atomically)."""
    path = manifest_file(edge_dir, dataset, split, kind)
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest.update({str(int(i)): key for i, key in entries.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".manifest.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=0, sort_keys=True))
    tmp.replace(path)


def check_edge_manifest(edge_dir: str | Path, dataset: str, split: str, kind: str, records) -> None:
    """Raise ValueError naming the manifest if a precomputed index belongs to another record than now."""
    path = manifest_file(edge_dir, dataset, split, kind)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no edge manifest (run tool/precompute_edges.py for {dataset}/{split})")
    manifest = json.loads(path.read_text())
    for index, key in manifest.items():
        i = int(index)
        if i >= len(records) or record_key(records[i]) != list(key):
            now = record_key(records[i]) if i < len(records) else "no record"
            raise ValueError(f"{path}: edge image {i} was made for {key}, but record {i} is now {now}; the "
                             "adapter's records changed: recompute the edges (--overwrite)")
