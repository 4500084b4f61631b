"""FreiHAND (ICCV 2019) right-hand images with MANO fits.

Layout under the root: ``{training,evaluation}_K.json`` ((N, 3, 3) intrinsics), ``*_mano.json`` ((N, 1, 61):
48 axis-angle pose values (global + 15 joints, relative to MANO's mean hand pose, i.e. ``flat_hand_mean=False``),
10 shape values, then 3 placement values), ``*_xyz.json`` ((N, 21, 3) camera-frame joints, m),
``*_verts.json`` ((N, 778, 3) camera-frame MANO vertices, m), ``*_scale.json`` ((N,) metric length of a
reference bone), images ``{training,evaluation}/rgb/%08d.jpg`` (224 x 224). The training images exist in 4
versions (green screen, homogenised, sample, auto): image ``idx + v * N``. The evaluation split's xyz/verts/
mano files were published after the challenge; without them the records have no 3D GT.

The last 3 MANO values: the official toolbox (``utils/model.py: split_theta``) reads them as the image
position (u, v) of the root keypoint 9 (middle-finger MCP) and a scale s with that keypoint at
``((u - cx) / s, (v - cy) / s, f / s)``, f = (fx + fy) / 2 (``mano_tail='uv_scale'``, default); several
re-distributions read them as a translation (``mano_tail='transl'``). Joint order: wrist, then thumb,
index, middle, ring, little (4 each, base to tip).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from data.adapters.ehf import keypoint_bbox
from data.records import PersonRecord

log = logging.getLogger(__name__)

FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")
FREIHAND_ROOT_KEYPOINT = 9  # middle-finger MCP, the keypoint the official toolbox places the hand by
FREIHAND_NUM_JOINTS, MANO_NUM_VERTICES = 21, 778


class FreiHANDError(UserError, ValueError):
    """A FreiHAND file is missing or malformed (the message names the file and field)."""


@dataclass
class FreiHANDSplit:
    """Annotation arrays of one split (N unique samples); absent files are ``None``."""

    K: np.ndarray  # (N, 3, 3) px
    mano: np.ndarray | None  # (N, 61)
    xyz: np.ndarray | None  # (N, 21, 3) m, camera frame
    verts: np.ndarray | None  # (N, 778 or V, 3) m, camera frame
    scale: np.ndarray | None  # (N,) m

    def __len__(self) -> int:
        return len(self.K)


def _load_array(path: Path, tail: tuple[int, ...], required: bool, n: int | None = None) -> np.ndarray | None:
    if not path.is_file():
        if required:
            raise FreiHANDError(f"{path}: file not found")
        return None
    try:
        arr = np.asarray(json.loads(path.read_text()), dtype=np.float64)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        raise FreiHANDError(f"{path}: invalid or ragged JSON ({str(err)[:80]})") from None
    if tail == (61,) and arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]  # the released mano file nests each sample: (N, 1, 61)
    if arr.ndim != 1 + len(tail) or tuple(arr.shape[1:]) != tail and -1 not in tail:
        raise FreiHANDError(f"{path}: array has shape {arr.shape}, expected (N, {', '.join(map(str, tail))})")
    if -1 in tail and (arr.ndim != 3 or arr.shape[2] != 3):
        raise FreiHANDError(f"{path}: array has shape {arr.shape}, expected (N, V, 3)")
    if n is not None and len(arr) != n:
        raise FreiHANDError(f"{path}: {len(arr)} samples but the K file has {n}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere((~np.isfinite(arr.reshape(len(arr), -1))).any(1))[0, 0])
        raise FreiHANDError(f"{path}: sample {bad} contains NaN/inf")
    return arr


def load_freihand_split(root: str | os.PathLike, split: str) -> FreiHANDSplit:
    """Read the annotation JSONs of ``split`` ('training' | 'evaluation') under ``root``."""
    if split not in ("training", "evaluation"):
        raise FreiHANDError(f"unknown FreiHAND split '{split}'; use 'training' or 'evaluation'")
    root = Path(root)
    k = _load_array(root / f"{split}_K.json", (3, 3), required=True)
    n = len(k)
    return FreiHANDSplit(
        K=k,
        mano=_load_array(root / f"{split}_mano.json", (61,), False, n),
        xyz=_load_array(root / f"{split}_xyz.json", (FREIHAND_NUM_JOINTS, 3), False, n),
        verts=_load_array(root / f"{split}_verts.json", (-1, 3), False, n),
        scale=_load_array(root / f"{split}_scale.json", (), False, n),
    )


def _check_image_count(folder: Path, expected: int, k_file: Path, n: int) -> None:
    """The rgb folder holds exactly the images the annotations describe (N, or 4 N for training)."""
    if not folder.is_dir():
        raise FreiHANDError(f"{folder}: image folder not found")
    found = {p.name for p in folder.iterdir() if len(p.stem) == 8 and p.stem.isdigit() and p.suffix == ".jpg"}
    missing = next((f"{i:08d}.jpg" for i in range(expected) if f"{i:08d}.jpg" not in found), None)
    if missing is not None:
        raise FreiHANDError(f"{folder / missing}: image file not found ({k_file.name} has {n} samples: "
                            f"{expected} images expected)")
    count = len(found)
    if count != expected:
        raise FreiHANDError(f"{folder}: {count} images but {k_file.name} has {n} samples ({expected} images "
                            "expected); the annotation files and images are from different releases or incomplete")


def mano_root_position(mano: np.ndarray, K: np.ndarray, mano_tail: str = "uv_scale") -> np.ndarray:
    """Camera-frame position (3,) m encoded by the last 3 MANO values (see the module docstring)."""
    tail = np.asarray(mano, dtype=np.float64)[58:61]
    if mano_tail == "transl":
        return tail
    if mano_tail != "uv_scale":
        raise FreiHANDError(f"unknown mano_tail '{mano_tail}'; use 'uv_scale' or 'transl'")
    focal = 0.5 * (K[0, 0] + K[1, 1])
    if tail[2] <= 0:
        raise FreiHANDError(f"MANO scale value {tail[2]} must be positive")
    return np.array([tail[0] - K[0, 2], tail[1] - K[1, 2], focal]) / tail[2]


def read_freihand(
    root: str | os.PathLike,
    split: str = "evaluation",
    versions: tuple[str, ...] = ("gs",),
    mano_tail: str = "uv_scale",
    bbox_extend: float = 1.2,
    check_images: bool = True,
) -> list[PersonRecord]:
    """One PersonRecord per (sample, image version).

    Hand GT does not fit the body fields of PersonRecord, so it lives in ``meta``: ``index`` (row in the
    split's arrays, for the evaluator), ``xyz`` (21, 3), ``mano_pose`` (48), ``mano_betas`` (10),
    ``mano_root`` (3,) camera-frame position of keypoint 9 (from the last 3 MANO values), ``version``.
    ``bbox`` is the projected joints' extent scaled by ``bbox_extend``, or the whole image without xyz.
    """
    for v in versions:
        if v not in FREIHAND_VERSIONS:
            raise FreiHANDError(f"unknown FreiHAND image version '{v}'; known: {', '.join(FREIHAND_VERSIONS)}")
    if split == "evaluation" and tuple(versions) != ("gs",):
        raise FreiHANDError("the FreiHAND evaluation split has only the 'gs' image version")
    root = Path(root)
    ann = load_freihand_split(root, split)
    n, records = len(ann), []
    if check_images:
        _check_image_count(root / split / "rgb", n * (len(FREIHAND_VERSIONS) if split == "training" else 1),
                           root / f"{split}_K.json", n)
    for v in versions:
        for idx in range(n):
            image = root / split / "rgb" / f"{idx + n * FREIHAND_VERSIONS.index(v):08d}.jpg"
            if check_images and not image.is_file():
                raise FreiHANDError(f"{image}: image file not found")
            K = ann.K[idx]
            meta = {"index": idx, "version": v, "split": split}
            bbox = np.array([0.0, 0.0, 224.0, 224.0])
            if ann.xyz is not None:
                xyz = ann.xyz[idx]
                if np.any(xyz[:, 2] <= 0):
                    raise FreiHANDError(f"{root / (split + '_xyz.json')}: sample {idx} has joints behind the camera")
                uv = xyz @ K.T
                uv = uv[:, :2] / uv[:, 2:]
                bbox = keypoint_bbox(uv, np.ones(len(uv)), bbox_extend)
                meta["xyz"] = xyz.tolist()
            if ann.mano is not None:
                meta["mano_pose"] = ann.mano[idx, :48].tolist()
                meta["mano_betas"] = ann.mano[idx, 48:58].tolist()
                meta["mano_root"] = mano_root_position(ann.mano[idx], K, mano_tail).tolist()
            records.append(PersonRecord(
                image_path=str(image), bbox=bbox.astype(np.float32),
                focal=np.array([K[0, 0], K[1, 1]], np.float32), princpt=np.array([K[0, 2], K[1, 2]], np.float32),
                image_hw=(224, 224), dataset="freihand", sequence=split, image_id=int(image.stem),
                person_id=0, meta=meta,
            ).validate(str(image)))
    log.info("FreiHAND %s: %d records (%d samples x versions %s)", split, len(records), n, ",".join(versions))
    return records


FREIHAND_SPLITS = {"train": "training", "training": "training", "test": "evaluation", "val": "evaluation",
                   "evaluation": "evaluation"}


def load_freihand_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['freihand']``; train -> 'training' (all 4 image versions), test/val ->
    'evaluation'; options of :func:`read_freihand` from ``data.adapter_options['freihand']``."""
    from data.adapters.options import adapter_options, dataset_root

    if split not in FREIHAND_SPLITS:
        raise FreiHANDError(f"unknown FreiHAND split '{split}'; use {', '.join(FREIHAND_SPLITS)}")
    name = FREIHAND_SPLITS[split]
    opts = adapter_options(cfg, "freihand")
    opts.setdefault("versions", FREIHAND_VERSIONS if name == "training" else ("gs",))
    return read_freihand(dataset_root(cfg, "freihand"), name, **opts)
