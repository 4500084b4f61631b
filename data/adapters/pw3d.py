"""3DPW (ECCV 2018) in its two public formats -> PersonRecords in the camera frame.

Official: ``sequenceFiles/{train,validation,test}/<seq>.pkl`` (latin-1 pickles; per person: ``poses`` (N,72)
world axis-angle, ``trans`` (N,3), ``betas`` (10,) [or more; the first 10 are used], ``poses2d`` (N,3,18)
OpenPose-18 x/y/conf, ``jointPositions`` (N,72) world, ``campose_valid`` (N,), ``genders`` 'm'/'f'; per frame:
``cam_poses`` (N,4,4) world->camera, ``img_frame_ids`` (N,); ``cam_intrinsics`` (3,3)), images
``imageFiles/<seq>/image_%05d.jpg``. World SMPL params move into each frame's camera: R_c = R R_w and, as SMPL
rotates about the rest pelvis J0(betas), t_c = R (J0 + t_w) + T - J0 (``rest_pelvis`` supplies J0).

3DCrowdNet (COCO style): ``[data/]3DPW_latest_{split}.json`` (images: ``file_name``, ``sequence``, ``width``,
``height``, ``cam_param{focal, princpt}``; annotations: ``image_id``, ``bbox``, ``smpl_param{pose, shape,
trans, gender}`` already in the camera frame, ``openpose_result`` 18x3) and HigherHRNet inputs
``3DPW_{split}_crowd_hhrnet_result.json`` (``{ann_id: {coco_joints 17x3, img_id}}``).

Crops (``crop``): 'pose2d' (3DCrowdNet test: box of the input 2D joints with confidence > 0.05, sides x1.2,
sanitised to the image; GT box when fewer than 2 joints) or 'gt' (the annotated box: SEFD's edge models).
"""
from __future__ import annotations

from common.errors import UserError
import logging
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from data.adapters.ehf import keypoint_bbox
from data.adapters.subsets import PW3D_SPLITS, PW3D_SUBSETS, Pw3dSubset, resolve_pw3d_subset
from data.records import PersonRecord

log = logging.getLogger(__name__)
RestPelvisFn = Callable[[np.ndarray, str], np.ndarray]  # (betas (P,10), gender) -> J0 (P,3) m
_GENDERS = {"m": "male", "f": "female", "male": "male", "female": "female", "neutral": "neutral"}
_OFFICIAL_FIELDS = ("sequence", "genders", "betas", "poses", "trans", "poses2d", "jointPositions",
                    "cam_poses", "cam_intrinsics", "campose_valid", "img_frame_ids")


class Pw3dError(UserError, ValueError):
    """A 3DPW file is missing or malformed (the message names the file and field)."""


def sanitize_bbox(bbox: np.ndarray, width: int, height: int) -> np.ndarray:
    """3DCrowdNet ``process_bbox(..., is_3dpw_test=True)`` clipping: x1 = max(0, x), x2 = min(W-1, x1 + w - 1).

    Note x2 uses the clipped x1, so a box sticking out on the left is shifted, not cut (release behaviour).
    """
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1)), min(height - 1.0, y1 + max(0.0, h - 1))
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def add_midpoint(joints: np.ndarray, a: int, b: int) -> np.ndarray:
    """Append the midpoint of joints a, b (K,3 x/y/conf) with confidence conf_a * conf_b (3DCrowdNet)."""
    mid = (joints[a] + joints[b]) / 2
    mid[2] = joints[a, 2] * joints[b, 2]
    return np.concatenate([joints, mid[None]], 0)


def _rot(aa: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(torch.as_tensor(aa, dtype=torch.float64)).numpy()


def world_to_camera_smpl(pose: np.ndarray, transl: np.ndarray, extrinsic: np.ndarray,
                         rest_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World SMPL (pose (N,72), transl (N,3)) -> camera frame with world->camera ``extrinsic`` (N,4,4).

    ``rest_pelvis`` (3,) or (N,3) is J0(betas) of the person's model. Returns (pose (N,72), transl (N,3)).
    """
    R, T = extrinsic[:, :3, :3], extrinsic[:, :3, 3]
    root = matrix_to_axis_angle(torch.as_tensor(R @ _rot(pose[:, :3]))).numpy()
    j0 = np.broadcast_to(rest_pelvis, transl.shape)
    t_cam = np.einsum("nij,nj->ni", R, j0 + transl) + T - j0
    return np.concatenate([root, pose[:, 3:]], 1), t_cam


def rest_pelvis_from_models(models: Any) -> RestPelvisFn:
    """J0(betas, gender) from a BodyModel, or from {'male'|'female'|'neutral': BodyModel} (missing -> neutral).

    J0 is joint 0 of the model at zero pose and zero translation: the point SMPL's root rotation turns about.
    """
    def rest_pelvis(betas: np.ndarray, gender: str) -> np.ndarray:
        model = models.get(gender, models.get("neutral")) if isinstance(models, Mapping) else models
        if model is None:
            raise Pw3dError(f"no body model for gender '{gender}' (and no 'neutral' one) to compute J0")
        b = torch.as_tensor(np.asarray(betas, np.float64).reshape(-1, 10), dtype=torch.float32)
        zeros = torch.zeros(len(b), 3)
        with torch.no_grad():
            out = model(global_orient=zeros, body_pose=torch.zeros(len(b), 69), betas=b, transl=zeros)
        return out.joints[:, 0].double().cpu().numpy()

    return rest_pelvis


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise Pw3dError(f"{path}: cannot read the pickle (truncated or not a 3DPW file: {err})") from None
    missing = [k for k in _OFFICIAL_FIELDS if not isinstance(data, dict) or k not in data]
    if missing:
        raise Pw3dError(f"{path}: field '{missing[0]}' is missing")
    return data


def _field(path: Path, data: dict, name: str, person: int | None, shape: tuple) -> np.ndarray:
    """Array ``data[name][person]`` checked against ``shape`` (-1 = any) and finiteness."""
    label = name if person is None else f"{name}[{person}]"
    try:
        arr = np.asarray(data[name] if person is None else data[name][person], dtype=np.float64)
    except (IndexError, ValueError, TypeError) as err:
        raise Pw3dError(f"{path}: field '{label}' unreadable ({err})") from None
    if arr.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, arr.shape)):
        raise Pw3dError(f"{path}: field '{label}' has shape {arr.shape}, expected {shape} (-1 = any)")
    if not np.all(np.isfinite(arr)):
        raise Pw3dError(f"{path}: field '{label}' contains NaN/inf")
    return arr


def _image_hw(path: Path) -> tuple[int, int]:
    from PIL import Image  # header only; cheap

    if not path.is_file():
        raise Pw3dError(f"{path}: image file not found")
    with Image.open(path) as im:
        return im.height, im.width


def _input_pose(kp18: np.ndarray, conf_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """OpenPose-18 (18,3) -> openpose19 (19,2) and validity (conf > threshold)."""
    op19 = add_midpoint(kp18, 8, 11)  # R_Hip, L_Hip -> Pelvis
    return op19[:, :2].astype(np.float32), (op19[:, 2] > conf_threshold).astype(np.float32)


def _joint_box(uv: np.ndarray, in_front: np.ndarray, extend: float, hw: tuple[int, int]) -> np.ndarray:
    """GT box: projected joints in front of the camera, sides x``extend``; the whole image if none are."""
    box = keypoint_bbox(uv, in_front.astype(np.float32), extend)
    return np.array([0.0, 0.0, hw[1], hw[0]]) if box is None else box


def _crop_box(crop: str, gt_box: np.ndarray, pose: np.ndarray, valid: np.ndarray, hw, extend: float):
    if crop == "gt":
        return gt_box, "gt"
    box = keypoint_bbox(pose, valid, extend)
    return (gt_box, "gt_fallback") if box is None else (sanitize_bbox(box, hw[1], hw[0]), "pose2d")


def _frame_people(pose, transl, betas, j2d, boxes, valid_people, me):
    others = [q for q in valid_people if q != me]
    if not others:
        return {}
    return {"others_smpl_pose": pose[others].astype(np.float32), "others_smpl_betas": betas[others].astype(np.float32),
            "others_smpl_transl": transl[others].astype(np.float32), "others_bbox": boxes[others].astype(np.float32),
            "others_joints2d": j2d[others].astype(np.float32),
            "others_joints2d_valid": np.ones(j2d[others].shape[:2], np.float32)}


def read_official_sequence(path: Path, image_root: Path, rest_pelvis: RestPelvisFn, crop: str = "pose2d",
                           conf_threshold: float = 0.05, bbox_extend: float = 1.2,
                           check_images: bool = True) -> list[PersonRecord]:
    """Records of one official 3DPW sequence pickle (person-frames with ``campose_valid`` = 0 are dropped)."""
    data = _load_pickle(path)
    seq, n_people = str(data["sequence"]), len(data["poses"])
    cam = _field(path, data, "cam_poses", None, (-1, 4, 4))
    n = len(cam)
    K = _field(path, data, "cam_intrinsics", None, (3, 3))
    frame_ids = _field(path, data, "img_frame_ids", None, (n,)).astype(int)
    genders = [_GENDERS.get(str(g), None) for g in data["genders"]]
    if None in genders or len(genders) != n_people:
        raise Pw3dError(f"{path}: field 'genders' must hold 'm'/'f' per person, got {data['genders']!r}")
    per = {k: [] for k in ("pose", "transl", "betas", "j3d", "kp", "valid")}
    for p in range(n_people):
        betas = _field(path, data, "betas", p, (-1,))[:10]
        j0 = rest_pelvis(betas[None], genders[p])[0]
        pose, transl = world_to_camera_smpl(_field(path, data, "poses", p, (n, 72)),
                                            _field(path, data, "trans", p, (n, 3)), cam, j0)
        jw = _field(path, data, "jointPositions", p, (n, 72)).reshape(n, 24, 3)
        per["pose"].append(pose), per["transl"].append(transl), per["betas"].append(np.tile(betas, (n, 1)))
        per["j3d"].append(np.einsum("nij,nkj->nki", cam[:, :3, :3], jw) + cam[:, None, :3, 3])
        per["kp"].append(_field(path, data, "poses2d", p, (n, 3, 18)).transpose(0, 2, 1))
        per["valid"].append(_field(path, data, "campose_valid", p, (n,)) > 0)
    arr = {k: np.stack(v, 1) for k, v in per.items()}  # (N, P, ...)
    j2d = arr["j3d"] @ K.T
    j2d = j2d[..., :2] / np.clip(j2d[..., 2:], 1e-6, None)
    hw = _image_hw(image_root / seq / f"image_{frame_ids[0]:05d}.jpg")
    records, dropped = [], 0
    for i in range(n):
        image = image_root / seq / f"image_{frame_ids[i]:05d}.jpg"
        if check_images and not image.is_file():
            raise Pw3dError(f"{image}: image file not found ({path.name}, frame {i})")
        people = [p for p in range(n_people) if arr["valid"][i, p]]
        dropped += n_people - len(people)
        boxes = np.stack([_joint_box(j2d[i, p], arr["j3d"][i, p, :, 2] > 0, bbox_extend, hw) for p in range(n_people)])
        for p in people:
            pose2d, pvalid = _input_pose(arr["kp"][i, p], conf_threshold)
            box, source = _crop_box(crop, boxes[p], pose2d, pvalid, hw, bbox_extend)
            in_front = (arr["j3d"][i, p, :, 2] > 0).astype(np.float32)
            records.append(PersonRecord(
                image_path=str(image), bbox=box, focal=np.array([K[0, 0], K[1, 1]], np.float32),
                princpt=np.array([K[0, 2], K[1, 2]], np.float32), joints_convention="smpl24",
                joints2d=j2d[i, p].astype(np.float32), joints2d_valid=in_front,
                joints3d=arr["j3d"][i, p].astype(np.float32), joints3d_valid=np.ones(24, np.float32),
                smpl_pose=arr["pose"][i, p].astype(np.float32), smpl_betas=arr["betas"][i, p].astype(np.float32),
                smpl_transl=arr["transl"][i, p].astype(np.float32), smpl_gender=genders[p],
                pose2d_input=pose2d, pose2d_input_valid=pvalid, pose2d_input_convention="openpose19",
                image_hw=hw, dataset="3dpw", sequence=seq, image_id=f"{seq}/{int(frame_ids[i])}", person_id=p,
                meta={"frame": int(frame_ids[i]), "crop_source": source, "gt_bbox": boxes[p].tolist(),
                      "pose_source": "openpose", "pose2d_conf": arr["kp"][i, p, :, 2].tolist()},
                **_frame_people(arr["pose"][i], arr["transl"][i], arr["betas"][i], j2d[i], boxes, people, p),
            ).validate(f"{path} frame {i}"))
    if dropped:
        log.info("3DPW %s: dropped %d person-frames with campose_valid = 0", seq, dropped)
    return records


def _official_available(root: Path) -> dict[str, list[str]]:
    base = root / "sequenceFiles"
    return {s: sorted(p.stem for p in (base / s).glob("*.pkl")) for s in PW3D_SPLITS if (base / s).is_dir()}


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
    from data.adapters.pw3d_json import find_json, json_sequences, load_json, read_crowdnet_json

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
        available = _official_available(root)
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


def _lazy_rest_pelvis(cfg: Any) -> RestPelvisFn:
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
    from data.adapters.options import adapter_options, dataset_root

    name = subset or {"val": "validation"}.get(split, split)
    opts = adapter_options(cfg, "3dpw")
    return read_pw3d(dataset_root(cfg, "3dpw"), name, rest_pelvis=_lazy_rest_pelvis(cfg), **opts)
