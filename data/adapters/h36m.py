"""Human3.6M in the JSON layout 3DCrowdNet distributes -> PersonRecords (camera frame, metres).

Layout under ``data.roots['h36m']``: ``images/<file_name>`` and ``annotations/Human36M_subject{S}_data.json``
(COCO style; images carry ``subject``, ``action_idx``, ``subaction_idx``, ``frame_idx``, ``cam_idx``, ``width``,
``height``; annotations ``bbox``), ``_camera.json`` (``{cam_idx: {R (3x3), t (3, mm), f (2), c (2)}}``, world
-> camera ``x_c = R x_w + t``), ``_joint_3d.json`` (``{action: {subaction: {frame: 17 x 3 world mm}}}``, H36M
order) and SMPL fits ``_SMPL_NeuralAnnot.json`` (or SMPLify-X ``_smpl_param.json``) ``{action: {subaction:
{frame: {pose (72), shape (10), trans (3)}}}}`` in the world frame (m).

World SMPL params move into the camera: global orient ``R_c = R R_w`` and, as SMPL rotates about the rest pelvis
``J0(betas)``, ``t_c = R (J0 + t_w) + t / 1000 - J0`` (3DCrowdNet's compensation), with ``J0`` from the body
model. 3DCrowdNet defaults: train subjects 1, 5, 6, 7, 8 every 5th frame; test subjects 9, 11 every 64th frame of
the frontal camera 4; a fit is discarded (person kept) when its H36M joints are more than 25 mm (mean, after
translation alignment) from the GT. Records use ``h36m17``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.joint_sets import convert_joints
from data.adapters.coco_style import (
    AnnotationError,
    FilterLog,
    check_images_exist,
    field,
    float_array,
    load_json,
    read_coco_file,
)
from data.adapters.options import adapter_options, dataset_root
from data.records import PersonRecord

log = logging.getLogger(__name__)

HAS_3D_GT = True
RestPelvisFn = Callable[[np.ndarray], np.ndarray]  # betas (N,10) -> rest pelvis J0 (N,3) m
JointsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # pose, betas, transl -> (N,17,3) h36m m
SPLIT_DEFAULTS = {"train": ((1, 5, 6, 7, 8), 5, None), "test": ((9, 11), 64, (4,))}  # subjects, every, cams


def camera_frame_smpl(pose: np.ndarray, transl: np.ndarray, rot: np.ndarray, t_m: np.ndarray,
                      rest_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World SMPL (pose (N,72), transl (N,3)) -> camera frame of ``x_c = rot x_w + t_m`` (m).

    ``rest_pelvis`` (N,3) is J0(betas). Returns pose (N,72) with the rotated global orient, transl (N,3)."""
    rot = np.broadcast_to(rot, (len(pose), 3, 3))
    root = matrix_to_axis_angle(torch.as_tensor(rot @ axis_angle_to_matrix(torch.as_tensor(pose[:, :3]))
                                                .numpy())).numpy()
    t_cam = np.einsum("nij,nj->ni", rot, rest_pelvis + transl) + t_m - rest_pelvis
    return np.concatenate([root, pose[:, 3:]], 1), t_cam


def linear_rest_pelvis(body_model: Any) -> RestPelvisFn:
    """J0(betas) of a body model as ``a + B betas`` (exact for SMPL-like models, linear in betas), from 11
    zero-pose forward passes."""
    eye = torch.cat([torch.zeros(1, 10), torch.eye(10)])
    zeros = torch.zeros(11, 3)
    with torch.no_grad():
        out = body_model(global_orient=zeros, body_pose=torch.zeros(11, 69), betas=eye)
    j0 = out.joints[:, 0].double().cpu().numpy()
    a, basis = j0[0], (j0[1:] - j0[0]).T  # (3,), (3, 10)
    return lambda betas: a + np.asarray(betas, np.float64) @ basis.T


def regressed_joints_fn(body_model: Any, regressor: str = "h36m17", chunk: int = 512) -> JointsFn:
    """(pose (N,72), betas (N,10), transl (N,3)) -> (N,J,3) m joints of ``regressor`` from the model's mesh."""
    def joints(pose: np.ndarray, betas: np.ndarray, transl: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for s in range(0, len(pose), chunk):
                p = torch.as_tensor(pose[s:s + chunk], dtype=torch.float32)
                o = body_model(global_orient=p[:, :3], body_pose=p[:, 3:],
                               betas=torch.as_tensor(betas[s:s + chunk], dtype=torch.float32),
                               transl=torch.as_tensor(transl[s:s + chunk], dtype=torch.float32))
                out.append(body_model.regress(o.vertices, regressor).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 17, 3))
    return joints


def fit_errors_mm(pred_h36m: np.ndarray, gt: np.ndarray, gt_convention: str) -> np.ndarray:
    """(N,) mean distance (mm) between fitted H36M joints (N,17,3) m and GT (N,J,3) m on the joints both have,
    after aligning the means (3DCrowdNet's fitting error)."""
    gt17, mask = convert_joints(gt, gt_convention, "h36m17")
    keep = mask > 0
    a, b = pred_h36m[:, keep], gt17[:, keep]
    a = a - a.mean(1, keepdims=True) + b.mean(1, keepdims=True)
    return np.linalg.norm(a - b, axis=-1).mean(1) * 1000.0


def body_model_tools(cfg: Any) -> tuple[RestPelvisFn, JointsFn]:
    """Rest-pelvis and H36M-joint functions of the configured SMPL body model (``cfg.body_model``)."""
    from common.body_models import body_model_from_config

    model = body_model_from_config(cfg, "smpl")
    return linear_rest_pelvis(model), regressed_joints_fn(model)


def _nested(table: dict, keys: Sequence[Any]) -> Any:
    for key in keys:
        if not isinstance(table, dict) or str(key) not in table:
            return None
        table = table[str(key)]
    return table


def read_h36m(root: str | Path, split: str, rest_pelvis: RestPelvisFn | None, joints_fn: JointsFn | None = None,
              subjects: Sequence[int] | None = None, sample_every: int | None = None,
              cameras: Sequence[int] | None = None, smpl_file: str = "auto", max_fit_err_mm: float | None = 25.0,
              min_bbox_size: float = 1.0, check_images: bool = True) -> list[PersonRecord]:
    """H36M ``split`` -> records. ``rest_pelvis`` is required when fits are read (``smpl_file`` 'auto' =
    NeuralAnnot if present, else ``_smpl_param.json``; 'none' = no fits); ``joints_fn`` enables the fit-error
    filter (``max_fit_err_mm``). ``subjects`` / ``sample_every`` / ``cameras`` default to 3DCrowdNet's."""
    if split not in SPLIT_DEFAULTS:
        raise AnnotationError(f"h36m: unknown split '{split}' (train | test)")
    d_subj, d_every, d_cams = SPLIT_DEFAULTS[split]
    subjects, every = subjects or d_subj, sample_every or d_every
    cameras = d_cams if cameras is None else cameras
    ann_dir, flog = Path(root) / "annotations", FilterLog("h36m")
    records, fitted = [], []
    for subject in subjects:
        stem = ann_dir / f"Human36M_subject{subject}"
        coco = read_coco_file(f"{stem}_data.json", image_fields=("id", "file_name", "subject", "action_idx",
                                                                 "subaction_idx", "frame_idx", "cam_idx"))
        cams_path, joints_path = Path(f"{stem}_camera.json"), Path(f"{stem}_joint_3d.json")
        cams, joints_world = load_json(cams_path, "camera file"), load_json(joints_path, "joint file")
        smpl_path = _smpl_path(stem, smpl_file)
        fits = load_json(smpl_path, "SMPL fit file") if smpl_path else {}
        if fits and rest_pelvis is None:
            raise AnnotationError(f"{smpl_path}: reading SMPL fits needs a body model (rest_pelvis)")
        for image_id, anns in coco.anns_by_image.items():
            img = coco.images[image_id]
            key = (img["action_idx"], img["subaction_idx"], img["frame_idx"])
            if img["frame_idx"] % every:
                flog.drop(f"frame_not_multiple_of_{every}")
                continue
            if cameras and int(img["cam_idx"]) not in cameras:
                flog.drop("camera_not_selected")
                continue
            cam = field(cams, str(img["cam_idx"]), cams_path, "the camera file")
            rot = float_array(field(cam, "R", cams_path, f"camera {img['cam_idx']}"), (3, 3), cams_path, "R")
            t_m = float_array(field(cam, "t", cams_path, f"camera {img['cam_idx']}"), (3,), cams_path, "t") / 1000
            focal = float_array(field(cam, "f", cams_path, f"camera {img['cam_idx']}"), (2,), cams_path, "f")
            princpt = float_array(field(cam, "c", cams_path, f"camera {img['cam_idx']}"), (2,), cams_path, "c")
            world = _nested(joints_world, key)
            if world is None:
                raise AnnotationError(f"{joints_path}: no joints for action/subaction/frame {key}")
            j3d = float_array(world, (17, 3), joints_path, f"joints of {key}") @ rot.T / 1000.0 + t_m
            j2d = j3d[:, :2] / j3d[:, 2:] * focal + princpt
            for ann in anns:
                bbox = float_array(ann["bbox"], (4,), coco.path, f"annotation {ann['id']} field 'bbox'")
                if min(bbox[2:]) < min_bbox_size:
                    flog.drop(f"bbox_side<{min_bbox_size:g}px")
                    continue
                rec = PersonRecord(
                    image_path=str(Path(root) / "images" / img["file_name"]), bbox=bbox, focal=focal,
                    princpt=princpt, joints_convention="h36m17", joints2d=j2d, joints2d_valid=np.ones(17),
                    joints3d=j3d, joints3d_valid=np.ones(17),
                    image_hw=(int(img["height"]), int(img["width"])) if "height" in img else None,
                    dataset="h36m", sequence=f"s{subject}_a{key[0]}_sa{key[1]}_c{img['cam_idx']}",
                    image_id=image_id, person_id=ann["id"],
                    meta={"subject": subject, "action": key[0], "subaction": key[1], "frame": key[2],
                          "camera": int(img["cam_idx"])})
                fit = _nested(fits, key)
                if fit is not None:
                    where = f"fit of {key}"
                    fitted.append((rec, rot, t_m, *(float_array(field(fit, k, smpl_path, where), (n,), smpl_path,
                                                                f"{where} '{k}'")
                                                    for k, n in (("pose", 72), ("shape", 10), ("trans", 3)))))
                records.append(rec)
    _attach_fits(fitted, rest_pelvis, joints_fn, max_fit_err_mm, flog)
    flog.report(len(records))
    records = [r.validate() for r in records]
    if check_images:
        check_images_exist(records, "h36m")
    return records


def _smpl_path(stem: Path, smpl_file: str) -> Path | None:
    options = {"neuralannot": [f"{stem}_SMPL_NeuralAnnot.json"], "smplify": [f"{stem}_smpl_param.json"],
               "auto": [f"{stem}_SMPL_NeuralAnnot.json", f"{stem}_smpl_param.json"], "none": []}
    if smpl_file not in options:
        raise AnnotationError(f"h36m: smpl_file must be one of {', '.join(options)}, got '{smpl_file}'")
    found = [Path(p) for p in options[smpl_file] if Path(p).is_file()]
    if smpl_file in ("neuralannot", "smplify") and not found:
        raise AnnotationError(f"{options[smpl_file][0]}: SMPL fit file not found")
    return found[0] if found else None


def _attach_fits(fitted: list, rest_pelvis: RestPelvisFn | None, joints_fn: JointsFn | None,
                 max_err: float | None, flog: FilterLog) -> None:
    """Move world fits into each record's camera (batched) and drop fits too far from the GT joints."""
    if not fitted:
        return
    recs, rots, ts, poses, betas, transl = zip(*fitted)
    betas = np.stack(betas)
    pose, t_cam = camera_frame_smpl(np.stack(poses), np.stack(transl), np.stack(rots), np.stack(ts),
                                    rest_pelvis(betas))
    keep = np.ones(len(recs), bool)
    if joints_fn is not None and max_err is not None:
        gt = np.stack([r.joints3d for r in recs])
        keep = fit_errors_mm(joints_fn(pose, betas, t_cam), gt, "h36m17") <= max_err
        for _ in range(int((~keep).sum())):
            flog.drop(f"smpl_fit_discarded_err>{max_err:g}mm")
    for i, rec in enumerate(recs):
        if keep[i]:
            rec.smpl_pose, rec.smpl_betas, rec.smpl_transl = pose[i], betas[i], t_cam[i]


def load_h36m_records(split: str, cfg: Any, subset: str = "") -> list[PersonRecord]:
    """Registry entry: ``data.roots['h36m']``, the configured body model, ``data.adapter_options['h36m']``."""
    rest_pelvis, joints_fn = body_model_tools(cfg)
    return read_h36m(dataset_root(cfg, "h36m"), split, rest_pelvis, joints_fn, **adapter_options(cfg, "h36m"))
