"""Errors of the part experts against GT, each part on its own (the EHF protocol's per-part Procrustes fit):

- body: PA-MPJPE (mm) over SMPL-X joints 0-21 (pelvis + 21 body joints), GT betas for both meshes (the body
  expert's betas are dropped by the conversion), and the global-orientation angle (deg);
- hands: PA-V2V (mm) over that hand's vertices of the GT mesh with only its fingers replaced;
- face: PA-V2V (mm) over the face vertices of the GT mesh with only jaw and expression replaced.
A constant predictor (an expert's start, a neutral face) goes through the same functions.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.geometry.procrustes import similarity_procrustes
from common.models.wholebody.losses import geodesic
from common.wholebody.params import SMPLXParams

M_TO_MM = 1000.0


def gt_params(pose: np.ndarray, betas: np.ndarray, expression: np.ndarray) -> SMPLXParams:
    """(N, 55, 3) axis-angle, (N, 10), (N, 10) -> SMPLXParams."""
    f32 = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    return SMPLXParams.from_axis_angle(f32(pose).reshape(-1, 55, 3), f32(betas), f32(expression))


def _pa_error(pred: Tensor, gt: Tensor) -> np.ndarray:
    """(N, K, 3) x 2 m -> (N,) mean point distance after a similarity Procrustes fit, mm."""
    aligned = similarity_procrustes(pred.double(), gt.double())
    return ((aligned - gt.double()).norm(dim=-1).mean(-1) * M_TO_MM).numpy()


@torch.no_grad()
def body_errors(layer: Any, gt: SMPLXParams, global_orient: Tensor, body_pose: Tensor) -> dict[str, np.ndarray]:
    """{'pa_mpjpe' (N,) mm over joints 0-21, 'orient_deg' (N,)} of predicted (N, 3, 3) / (N, 21, 3, 3)."""
    pred = layer(gt.replace(global_orient=global_orient.float(), body_pose=body_pose.float())).joints[:, :22]
    ref = layer(gt).joints[:, :22]
    angle = geodesic(global_orient.double(), gt.global_orient.double()) * (180.0 / math.pi)
    return {"pa_mpjpe": _pa_error(pred, ref), "orient_deg": angle.numpy()}


@torch.no_grad()
def hand_errors(layer: Any, gt: SMPLXParams, side: str, fingers: Tensor, vertex_ids: np.ndarray) -> np.ndarray:
    """(N,) PA-V2V mm of one side's hand vertices with predicted absolute fingers (N, 15, 3, 3) of that side."""
    pred = layer(gt.replace(**{f"{side}_hand_pose": fingers.float()})).vertices[:, vertex_ids]
    return _pa_error(pred, layer(gt).vertices[:, vertex_ids])


@torch.no_grad()
def face_errors(layer: Any, gt: SMPLXParams, jaw: Tensor, expression: Tensor, vertex_ids: np.ndarray) -> np.ndarray:
    """(N,) PA-V2V mm of the face vertices with a predicted jaw (N, 3, 3) and expression (N, 10)."""
    pred = layer(gt.replace(jaw_pose=jaw.float(), expression=expression.float())).vertices[:, vertex_ids]
    return _pa_error(pred, layer(gt).vertices[:, vertex_ids])


def part_vertex_ids(cfg: Any, num_vertices: int) -> dict[str, np.ndarray]:
    """{'l_hand', 'r_hand', 'face', ...} vertex sets as the EHF evaluator uses them (the open model's
    vertex_sets.json, or ``data.adapter_options['ehf']['part_vertex_ids']``)."""
    from data.evaluators import adapter_options, load_parts

    part_file = adapter_options(cfg, "ehf").get("part_vertex_ids")
    if not part_file:
        from common.open_model import ensure_open_model

        part_file = str(ensure_open_model().vertex_sets_path)
    return load_parts(part_file, num_vertices)
