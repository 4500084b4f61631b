"""MMHuman3D HumanData ``.npz`` files -> PersonRecords (and the name tables :mod:`tool.export_humandata` uses).

A HumanData file (``HumanData.dump``) holds, for N samples: ``image_path`` (N,) relative to the image folder,
``bbox_xywh`` (N, 5) (x, y, w, h, score; (N, 4) in old files), ``keypoints2d`` (N, K, 3) / ``keypoints3d``
(N, K, 4) with ``keypoints{2,3}d_mask`` (K,) and ``keypoints{2,3}d_convention`` (default 'human_data', 190
keypoints), ``smpl`` {body_pose (N, 69) or (N, 23, 3), global_orient (N, 3), betas (N, >=10), transl (N, 3)},
``smplx``, ``meta`` {gender}, ``misc``, ``config`` and the attributes ``__key_strict__``, ``__data_len__`` (older:
``__temporal_len__``) and ``__keypoints_compressed__`` (keypoints then store only the K' = mask.sum() valid
columns). Dicts and strings are 0-d object arrays (``np.load(..., allow_pickle=True)``).

Keypoints of the conventions in :data:`CONVENTIONS` are mapped by MMHuman3D name to ``crowdnet30`` (the 24 SMPL
joints, nose, eyes, ears, head top); with ``approximate`` (default) joints stored only in an MMHuman3D
'_extra'/'_openpose'/'_h36m' slot fill the plain one, as ``convert_kps(approximate=True)`` does. A joint is valid
when its mask is 1 and its confidence > 0. ``keypoints3d`` and SMPL params are taken as camera-frame metres.
Cameras come from ``misc['focal']`` / ``misc['princpt']`` (N, 2) when present (this project's exporter writes
them), else a virtual 5000 px camera. ``smplx`` params are not read (no SMPL-X records yet).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from data.adapters.coco_style import AnnotationError, FilterLog, attach_others, check_images_exist, virtual_camera
from data.adapters.options import adapter_options, dataset_root
from data.records import PersonRecord

HAS_3D_GT = True
HUMAN_DATA_LEN = 190
HUMAN_DATA_INDEX = {  # MMHuman3D 'human_data' name -> index (the body joints this project uses)
    "pelvis": 0, "left_hip": 1, "right_hip": 2, "spine_1": 3, "left_knee": 4, "right_knee": 5, "spine_2": 6,
    "left_ankle": 7, "right_ankle": 8, "spine_3": 9, "left_foot": 10, "right_foot": 11, "neck": 12,
    "left_collar": 13, "right_collar": 14, "head": 15, "left_shoulder": 16, "right_shoulder": 17,
    "left_elbow": 18, "right_elbow": 19, "left_wrist": 20, "right_wrist": 21, "nose": 55, "right_eye": 56,
    "left_eye": 57, "right_ear": 58, "left_ear": 59, "right_hip_extra": 144, "left_hip_extra": 145,
    "neck_extra": 146, "headtop": 147, "pelvis_extra": 148, "nose_openpose": 153, "neck_openpose": 154,
    "pelvis_openpose": 161, "right_eye_openpose": 168, "left_eye_openpose": 169, "right_ear_openpose": 170,
    "left_ear_openpose": 171, "left_hand_3dhp": 181, "right_hand_3dhp": 182, "headtop_h36m": 186,
    "left_hand": 188, "right_hand": 189,
}
SMPL24 = ("pelvis", "left_hip", "right_hip", "spine_1", "left_knee", "right_knee", "spine_2", "left_ankle",
          "right_ankle", "spine_3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
          "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hand", "right_hand")
CROWDNET30 = SMPL24 + ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "headtop")  # crowdnet30 order
_SMPL45 = SMPL24 + ("nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_bigtoe", "left_smalltoe",
                    "left_heel", "right_bigtoe", "right_smalltoe", "right_heel", "left_thumb", "left_index",
                    "left_middle", "left_ring", "left_pinky", "right_thumb", "right_index", "right_middle",
                    "right_ring", "right_pinky")
_COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
         "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
         "left_ankle", "right_ankle")
CONVENTIONS: dict[str, tuple[str, ...] | None] = {  # None: positions given by HUMAN_DATA_INDEX (190 slots)
    "human_data": None,
    "coco": _COCO,
    "smpl": SMPL24,
    "smpl_45": _SMPL45,
    "smpl_54": _SMPL45 + ("right_hip_extra", "left_hip_extra", "neck_extra", "headtop", "pelvis_extra",
                          "thorax_extra", "spine_extra", "jaw_extra", "head_extra"),
    "h36m": ("pelvis_extra", "left_hip_extra", "left_knee", "left_ankle", "right_hip_extra", "right_knee",
             "right_ankle", "spine_extra", "neck_extra", "head_extra", "headtop", "left_shoulder", "left_elbow",
             "left_wrist", "right_shoulder", "right_elbow", "right_wrist"),
    "crowdpose": ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                  "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"),
    "mpii": ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
             "neck", "headtop", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
             "left_wrist"),
}
APPROXIMATE = {  # MMHuman3D's approximate groups, restricted to crowdnet30 joints
    "pelvis": ("pelvis_extra", "pelvis_openpose"), "left_hip": ("left_hip_extra",),
    "right_hip": ("right_hip_extra",), "neck": ("neck_extra", "neck_openpose"), "headtop": ("headtop_h36m",),
    "left_hand": ("left_hand_3dhp",), "right_hand": ("right_hand_3dhp",), "nose": ("nose_openpose",),
    "left_eye": ("left_eye_openpose",), "right_eye": ("right_eye_openpose",), "left_ear": ("left_ear_openpose",),
    "right_ear": ("right_ear_openpose",),
}
_GENDERS = {"m": "male", "male": "male", "f": "female", "female": "female", "n": "neutral", "neutral": "neutral"}


def _names(convention: str, path: Path, key: str) -> dict[str, int]:
    if convention not in CONVENTIONS:
        raise AnnotationError(f"{path}: {key}_convention '{convention}' is not supported "
                              f"({', '.join(CONVENTIONS)})")
    names = CONVENTIONS[convention]
    return dict(HUMAN_DATA_INDEX) if names is None else {n: i for i, n in enumerate(names)}


def to_crowdnet30(kpts: np.ndarray, mask: np.ndarray, convention: str, approximate: bool, path: Path,
                  key: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, D) keypoints (last column confidence) + (K,) mask -> (N, 30, D-1) coordinates and (N, 30) validity."""
    index = _names(convention, path, key)
    size = HUMAN_DATA_LEN if CONVENTIONS[convention] is None else len(CONVENTIONS[convention])
    if kpts.shape[1] != size or mask.shape != (size,):
        raise AnnotationError(f"{path}: '{key}' has {kpts.shape[1]} keypoints and its mask {mask.shape[0]}, "
                              f"convention '{convention}' has {size}")
    coords = np.zeros((len(kpts), 30, kpts.shape[2] - 1))
    valid = np.zeros((len(kpts), 30), dtype=np.float32)
    for j, name in enumerate(CROWDNET30):
        for cand in (name,) + (APPROXIMATE.get(name, ()) if approximate else ()):
            src = index.get(cand)
            if src is not None and mask[src] > 0:
                coords[:, j] = kpts[:, src, :-1]
                valid[:, j] = (kpts[:, src, -1] > 0).astype(np.float32)
                break
    return coords, valid


def _array(data: dict, key: str, path: Path, n: int, tail: tuple[int, ...] = ()) -> np.ndarray:
    if key not in data:
        raise AnnotationError(f"{path}: HumanData has no '{key}'")
    arr = np.asarray(data[key], dtype=np.float64)
    if arr.shape[0] != n or (tail and arr.shape[1:] != tail):
        raise AnnotationError(f"{path}: '{key}' has shape {arr.shape}, expected ({n}, {', '.join(map(str, tail))})")
    if not np.all(np.isfinite(arr)):
        raise AnnotationError(f"{path}: '{key}' contains NaN/inf")
    return arr


def load_humandata(path: str | os.PathLike) -> dict[str, Any]:
    """Raw HumanData dict (0-d arrays unwrapped, keypoints decompressed, attributes under their names)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: HumanData file not found")
    try:
        with np.load(path, allow_pickle=True) as npz:
            data = {k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v) for k, v in npz.items()}
    except Exception as err:  # zipfile/pickle errors of a truncated or foreign file
        raise AnnotationError(f"{path}: not a readable HumanData .npz ({type(err).__name__}: {err})") from None
    if data.get("__keypoints_compressed__"):
        for key in [k for k in data if k.startswith("keypoints") and not k.endswith(("_mask", "_convention"))]:
            mask = np.asarray(data.get(f"{key}_mask", []))
            raw = np.asarray(data[key])
            if raw.ndim != 3 or raw.shape[1] != int((mask == 1).sum()):
                raise AnnotationError(f"{path}: compressed '{key}' has {raw.shape[1] if raw.ndim == 3 else '?'} "
                                      f"columns but its mask marks {int((mask == 1).sum())}")
            full = np.zeros((raw.shape[0], len(mask), raw.shape[2]), dtype=raw.dtype)
            full[:, np.flatnonzero(mask == 1)] = raw
            data[key] = full
    return data


def read_humandata(path: str | os.PathLike, image_dir: str | os.PathLike | None = None, approximate: bool = True,
                   min_bbox_size: float = 1.0, check_images: bool = True) -> list[PersonRecord]:
    """Records of a HumanData file; ``image_dir`` (default: the file's folder) prefixes ``image_path``."""
    path = Path(path)
    data = load_humandata(path)
    if "image_path" not in data:
        raise AnnotationError(f"{path}: HumanData has no 'image_path'")
    images = [str(p) for p in np.asarray(data["image_path"]).reshape(-1)]
    n = len(images)
    declared = data.get("__data_len__", data.get("__temporal_len__", n))
    if int(declared) not in (n, -1):
        raise AnnotationError(f"{path}: __data_len__ is {declared} but image_path has {n} entries")
    bbox = _array(data, "bbox_xywh", path, n)[:, :4]
    kp2d, valid2d = _keypoints(data, "keypoints2d", path, n, 3, approximate)
    kp3d, valid3d = _keypoints(data, "keypoints3d", path, n, 4, approximate)
    smpl, smpl_valid = _smpl(data, path, n)
    misc, meta = data.get("misc") or {}, data.get("meta") or {}
    genders = list(meta.get("gender", [])) if isinstance(meta, dict) else []
    root = Path(image_dir) if image_dir is not None else path.parent
    flog, records = FilterLog(f"humandata:{path.name}"), []
    for i in range(n):
        if min(bbox[i, 2:]) < min_bbox_size:
            flog.drop(f"bbox_side<{min_bbox_size:g}px")
            continue
        hw = tuple(int(v) for v in misc["image_hw"][i]) if "image_hw" in misc else None
        hw = hw if hw is not None and min(hw) > 0 else None  # the exporter writes -1 for unknown sizes
        focal, princpt = virtual_camera(bbox[i], hw)
        if "focal" in misc and "princpt" in misc:
            focal, princpt = np.asarray(misc["focal"][i], float), np.asarray(misc["princpt"][i], float)
        has_smpl = smpl is not None and smpl_valid[i]
        records.append(PersonRecord(
            image_path=str(root / images[i]), bbox=bbox[i], focal=focal, princpt=princpt,
            joints2d=None if kp2d is None else kp2d[i], joints2d_valid=None if kp2d is None else valid2d[i],
            joints3d=None if kp3d is None else kp3d[i], joints3d_valid=None if kp3d is None else valid3d[i],
            smpl_pose=smpl[0][i] if has_smpl else None, smpl_betas=smpl[1][i] if has_smpl else None,
            smpl_transl=smpl[2][i] if has_smpl else None,
            smpl_gender=_GENDERS.get(str(genders[i]).lower(), "neutral") if i < len(genders) else "neutral",
            image_hw=hw, occlusion=float(misc["occlusion"][i]) if "occlusion" in misc else -1.0,
            dataset="humandata", sequence=str(data.get("config", "")),
            image_id=_plain(misc["image_id"][i]) if "image_id" in misc else images[i],
            person_id=_plain(misc["person_id"][i]) if "person_id" in misc else i).validate(str(path)))
    attach_others(records)
    flog.report(len(records))
    if check_images:
        check_images_exist(records, f"HumanData {path.name}")
    return records


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (ids end up in JSON outputs)."""
    return value.item() if isinstance(value, np.generic) else value


def _keypoints(data: dict, key: str, path: Path, n: int, dim: int, approximate: bool):
    if key not in data:
        return None, None
    kpts = _array(data, key, path, n)
    if kpts.ndim != 3 or kpts.shape[2] != dim:
        raise AnnotationError(f"{path}: '{key}' has shape {kpts.shape}, expected (N, K, {dim})")
    mask = np.asarray(data.get(f"{key}_mask", np.ones(kpts.shape[1])), dtype=np.float64)
    convention = str(data.get(f"{key}_convention", "human_data"))
    coords, valid = to_crowdnet30(kpts, mask, convention, approximate, path, key)
    return coords, valid


def _smpl(data: dict, path: Path, n: int):
    smpl = data.get("smpl")
    if not isinstance(smpl, dict) or not smpl:
        return None, None
    body = _array(smpl, "body_pose", path, n).reshape(n, -1)
    if body.shape[1] != 69:
        raise AnnotationError(f"{path}: smpl['body_pose'] has {body.shape[1]} values per sample, expected 69")
    orient = _array(smpl, "global_orient", path, n, (3,))
    betas = _array(smpl, "betas", path, n)
    if betas.ndim != 2 or betas.shape[1] < 10:
        raise AnnotationError(f"{path}: smpl['betas'] has shape {betas.shape}, expected (N, >=10)")
    transl = _array(smpl, "transl", path, n, (3,)) if "transl" in smpl else np.zeros((n, 3))
    misc = data.get("misc") or {}
    valid = np.asarray(misc.get("smpl_valid", np.ones(n)), dtype=bool)
    return (np.concatenate([orient, body], 1), betas[:, :10], transl), valid


def load_humandata_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['humandata']`` is a .npz (any split) or a folder of ``<split>.npz``."""
    root = dataset_root(cfg, "humandata")
    path = root if root.is_file() else root / f"{split}.npz"
    return read_humandata(path, **adapter_options(cfg, "humandata"))
