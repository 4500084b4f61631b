"""3DPW's official format (``sequenceFiles/<split>/<seq>.pkl``) -> PersonRecords in the camera frame.

World SMPL params move into each frame's camera: R_c = R R_w and, as SMPL rotates about the rest pelvis
J0(betas), t_c = R (J0 + t_w) + T - J0 (``rest_pelvis`` supplies J0). Formats and crops: :mod:`data.adapters.pw3d`.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from data.adapters.ehf import keypoint_bbox
from data.adapters.pw3d.shared import GENDERS, Pw3dError, RestPelvisFn, crop_box, input_pose
from data.adapters.subsets import PW3D_SPLITS
from data.records import PersonRecord

log = logging.getLogger(__name__)
_OFFICIAL_FIELDS = ("sequence", "genders", "betas", "poses", "trans", "poses2d", "jointPositions",
                    "cam_poses", "cam_intrinsics", "campose_valid", "img_frame_ids")


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


def _joint_box(uv: np.ndarray, in_front: np.ndarray, extend: float, hw: tuple[int, int]) -> np.ndarray:
    """GT box: projected joints in front of the camera, sides x``extend``; the whole image if none are."""
    box = keypoint_bbox(uv, in_front.astype(np.float32), extend)
    return np.array([0.0, 0.0, hw[1], hw[0]]) if box is None else box


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
    genders = [GENDERS.get(str(g), None) for g in data["genders"]]
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
            pose2d, pvalid = input_pose(arr["kp"][i, p], conf_threshold)
            box, source = crop_box(crop, boxes[p], pose2d, pvalid, hw, bbox_extend)
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


def official_available(root: Path) -> dict[str, list[str]]:
    """Split -> sequence names of the pickles under ``root/sequenceFiles``."""
    base = root / "sequenceFiles"
    return {s: sorted(p.stem for p in (base / s).glob("*.pkl")) for s in PW3D_SPLITS if (base / s).is_dir()}
