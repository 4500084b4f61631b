"""EHF (SMPLify-X, CVPR 2019): 100 frames of one person with a registered SMPL-X GT mesh.

Layout under the root: ``NN_img.jpg`` (or ``.png``), ``NN_2Djnt.json`` (OpenPose: ``people[0]`` with
``pose_keypoints_2d`` (BODY_25, 75 values), ``hand_left/right_keypoints_2d`` (63 each), ``face_keypoints_2d``
(210)), ``NN_align.ply`` (GT mesh, 10,475 vertices for the official SMPL-X, in the capture frame), NN = 01..100.
The GT mesh moves into the camera by a fixed rotation (axis-angle) and translation, and the camera has fixed
intrinsics (``EHF_camera.txt``; values below). Records carry no SMPL params (EHF has only the GT mesh); the
evaluator reads the mesh through :func:`load_ehf_gt_vertices` from ``meta['mesh_gt_path']``.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from data.adapters.ply import read_ply_vertices
from data.records import PersonRecord

log = logging.getLogger(__name__)

EHF_FOCAL = (1498.22426237, 1498.22426237)  # px
EHF_PRINCPT = (790.263706, 578.90334)  # px
EHF_CAM_ROTVEC = (-2.98747896, 0.01172457, -0.05704687)  # capture frame -> camera, axis-angle (rad)
EHF_CAM_TRANSL = (-0.03609917, 0.43416458, 2.37101226)  # m, applied after the rotation
EHF_IMAGE_HW = (1200, 1600)
EHF_NUM_VERTICES = 10475  # official SMPL-X topology
# BODY_25 index of each openpose19 joint (openpose18 order + Pelvis = BODY_25 MidHip).
BODY25_TO_OPENPOSE19 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 8)
_KEYPOINT_FIELDS = {  # field -> (number of keypoints, legacy OpenPose field name)
    "pose_keypoints_2d": (25, "pose_keypoints"),
    "hand_left_keypoints_2d": (21, "hand_left_keypoints"),
    "hand_right_keypoints_2d": (21, "hand_right_keypoints"),
    "face_keypoints_2d": (70, "face_keypoints"),
}


class EHFError(UserError, ValueError):
    """An EHF file is missing or malformed (the message names the file and field)."""


def ehf_camera_rotation() -> np.ndarray:
    """(3, 3) rotation of the fixed EHF capture->camera transform (Rodrigues of EHF_CAM_ROTVEC)."""
    r = np.asarray(EHF_CAM_ROTVEC, dtype=np.float64)
    theta = np.linalg.norm(r)
    k = r / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def capture_to_camera(vertices: np.ndarray) -> np.ndarray:
    """(V, 3) capture-frame points -> camera frame: R v + t (metres)."""
    return vertices @ ehf_camera_rotation().T + np.asarray(EHF_CAM_TRANSL)


def camera_to_capture(vertices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`capture_to_camera` (used by the fixture writer)."""
    return (vertices - np.asarray(EHF_CAM_TRANSL)) @ ehf_camera_rotation()


def load_ehf_gt_vertices(path: str | os.PathLike, num_vertices: int | None = EHF_NUM_VERTICES) -> np.ndarray:
    """GT mesh (V, 3) in the EHF camera frame, metres; checks the vertex count when ``num_vertices`` is set."""
    verts = read_ply_vertices(path)
    if num_vertices is not None and len(verts) != num_vertices:
        raise EHFError(f"{path}: GT mesh has {len(verts)} vertices, expected {num_vertices} "
                       f"(pass num_vertices to match your body model)")
    return capture_to_camera(verts)


def read_openpose_json(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """OpenPose keypoints of ``people[0]``: {field: (K, 3) x, y, conf} for body25/hands/face (missing -> zeros)."""
    path = Path(path)
    if not path.is_file():
        raise EHFError(f"{path}: OpenPose JSON not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EHFError(f"{path}: invalid JSON ({err})") from None
    people = data.get("people") if isinstance(data, dict) else None
    if not people:
        raise EHFError(f"{path}: field 'people' is missing or empty")
    person, out = people[0], {}
    for name, (count, legacy) in _KEYPOINT_FIELDS.items():
        values = person.get(name, person.get(legacy))
        if values is None:
            if name == "pose_keypoints_2d":
                raise EHFError(f"{path}: field 'people[0].{name}' is missing")
            out[name] = np.zeros((count, 3))
            continue
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        if arr.size != count * 3:
            raise EHFError(f"{path}: field 'people[0].{name}' has {arr.size} values, expected {count * 3}")
        if not np.all(np.isfinite(arr)):
            raise EHFError(f"{path}: field 'people[0].{name}' contains NaN/inf")
        out[name] = arr.reshape(count, 3)
    return out


def keypoint_bbox(xy: np.ndarray, valid: np.ndarray, extend: float = 1.2) -> np.ndarray | None:
    """Box (4,) xywh around the valid keypoints, each side scaled by ``extend`` about the centre (3DCrowdNet)."""
    pts = xy[valid > 0]
    if len(pts) < 2:
        return None
    lo, hi = pts.min(0), pts.max(0)
    centre, size = (lo + hi) / 2, (hi - lo) * extend
    if np.any(size <= 0):
        return None
    return np.array([*(centre - size / 2), *size])


def _frame_ids(root: Path) -> list[str]:
    """Frame ids of every GT mesh, OpenPose JSON or image; a frame with a JSON or image but no mesh is an error
    (EHF scores every frame: silently dropping one would change the numbers)."""
    names = {p.name for p in root.iterdir()}
    ids = sorted({m.group(1) for n in names if (m := re.fullmatch(r"(\d+)_align\.ply", n))}, key=int)
    if not ids:
        raise EHFError(f"{root}: no 'NN_align.ply' files found (is data.roots.ehf the EHF folder?)")
    others = sorted({m.group(1) for n in names if (m := re.fullmatch(r"(\d+)_(?:2Djnt\.json|img\.jpg|img\.png)", n))},
                    key=int)
    for fid in others:
        if f"{fid}_align.ply" not in names:
            raise EHFError(f"{root / (fid + '_align.ply')}: GT mesh not found (frame {fid} has an image or "
                           f"OpenPose JSON)")
    return ids


def read_ehf(
    root: str | os.PathLike,
    num_vertices: int | None = EHF_NUM_VERTICES,
    conf_threshold: float = 0.05,
    bbox_extend: float = 1.2,
) -> list[PersonRecord]:
    """One PersonRecord per EHF frame.

    Args:
        root: EHF folder. num_vertices: expected GT vertex count (None: do not check).
        conf_threshold: OpenPose confidence above which a body keypoint is valid (3DCrowdNet: 0.05).
        bbox_extend: box = valid body keypoints' extent scaled by this (3DCrowdNet ``get_bbox``: 1.2).
    Returns:
        records with ``pose2d_input`` (openpose19 from BODY_25), camera intrinsics, and ``meta`` holding
        ``mesh_gt_path``, ``num_vertices``, ``frame`` and the hand/face keypoints ((21|70, 3) lists).
    """
    root = Path(root)
    if not root.is_dir():
        raise EHFError(f"{root}: EHF folder not found (set data.roots.ehf)")
    records = []
    for fid in _frame_ids(root):
        image = next((root / f"{fid}_img{ext}" for ext in (".jpg", ".png") if (root / f"{fid}_img{ext}").is_file()),
                     None)
        if image is None:
            raise EHFError(f"{root / (fid + '_img.jpg')}: image file not found (nor .png)")
        ply = root / f"{fid}_align.ply"
        if num_vertices is not None:
            load_ehf_gt_vertices(ply, num_vertices)  # fail early on a truncated or wrong-sized mesh
        kp = read_openpose_json(root / f"{fid}_2Djnt.json")
        body = kp["pose_keypoints_2d"][list(BODY25_TO_OPENPOSE19)]
        valid = (body[:, 2] > conf_threshold).astype(np.float32)
        bbox = keypoint_bbox(body[:, :2], valid, bbox_extend)
        if bbox is None:
            raise EHFError(f"{root / (fid + '_2Djnt.json')}: fewer than 2 body keypoints above confidence "
                           f"{conf_threshold}; cannot build a person box")
        # every detection in the OpenPose-137 layout (body 25, left hand, right hand, face 70): what
        # wholebody.test_crops=keypoints2d places the part crops from (detections, not GT)
        detected = np.concatenate([kp[name] for name in _KEYPOINT_FIELDS])
        records.append(PersonRecord(
            image_path=str(image), bbox=bbox.astype(np.float32),
            focal=np.asarray(EHF_FOCAL, np.float32), princpt=np.asarray(EHF_PRINCPT, np.float32),
            joints_convention="openpose137", joints2d=detected[:, :2].astype(np.float32),
            joints2d_valid=(detected[:, 2] > conf_threshold).astype(np.float32),
            pose2d_input=body[:, :2].astype(np.float32), pose2d_input_valid=valid,
            pose2d_input_convention="openpose19", image_hw=EHF_IMAGE_HW, dataset="ehf",
            image_id=int(fid), person_id=0,
            meta={"mesh_gt_path": str(ply), "num_vertices": num_vertices, "frame": fid,
                  "pose2d_conf": body[:, 2].tolist(),
                  **{k: v.tolist() for k, v in kp.items() if k != "pose_keypoints_2d"}},
        ).validate(str(root / f"{fid}_2Djnt.json")))
    log.info("EHF: %d frames from %s", len(records), root)
    return records


def load_ehf_records(split: str, cfg: Any, subset: str = "",
                     root: str | os.PathLike | None = None) -> list[PersonRecord]:
    """Registry entry (EHF is test-only; every split reads the 100 frames): ``data.roots['ehf']`` and options of
    :func:`read_ehf` from ``data.adapter_options['ehf']``. The vertex count is checked (10,475) only with the
    official body model; with the open one the evaluator compares topologies instead. ``root`` overrides
    ``data.roots.ehf`` (the dataset table's adapter passes the whole-body world's export for ``embedded``:
    data/synthetic_wholebody/ehf_export.py)."""
    from data.adapters.options import adapter_options, dataset_root

    opts = adapter_options(cfg, "ehf")
    opts = {k: v for k, v in opts.items() if k in ("num_vertices", "conf_threshold", "bbox_extend")}
    opts.setdefault("num_vertices", EHF_NUM_VERTICES if cfg.body_model.source == "official" else None)
    return read_ehf(root if root is not None else dataset_root(cfg, "ehf"), **opts)
