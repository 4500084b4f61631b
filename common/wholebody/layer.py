"""The one place SMPL-X parameters become a mesh, kinematic joints and OpenPose-137 keypoints.

Linear blend skinning on the buffers of the ``smplx`` layer inside a :class:`~common.body_models.BodyModel`
(open or official file), taking rotation matrices directly (no axis-angle round trip, so gradients have no jump at
pi) and skipping the pose-corrective product exactly when the file has none (the open model; common/body_lbs.py).
Finger rotations are absolute (common/wholebody/params.py): the file's hand mean is not added.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform, vertices2landmarks
from torch import Tensor, nn

from common.geometry.rotations import axis_angle_to_matrix
from common.wholebody.layout import NUM_KEYPOINTS, SOURCES
from common.wholebody.params import SMPLXParams


@dataclass
class WholeBodyOutput:
    vertices: Tensor  # (B, V, 3) m
    joints: Tensor  # (B, 55, 3) m, SMPL-X kinematic joints
    keypoints: Tensor  # (B, 137, 3) m, OpenPose-137 layout (undefined points are 0; see keypoints_valid)


def _keypoint_plan(vertex_ids: dict[str, int]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(extra vertex ids, (137,) index into [55 joints | extra vertices | 51 landmarks], (137,) validity)."""
    extra = sorted({key for src in SOURCES if src and src[0] == "vertex" for key in [src[1]]})
    index, valid = np.zeros(NUM_KEYPOINTS, np.int64), np.zeros(NUM_KEYPOINTS, np.float32)
    for k, src in enumerate(SOURCES):
        if src is None:
            continue
        kind, what = src
        index[k] = what if kind == "joint" else (55 + extra.index(what) if kind == "vertex" else 55 + len(extra) + what)
        valid[k] = 1.0
    return [vertex_ids[key] for key in extra], index, valid


class WholeBodyLayer(nn.Module):
    """SMPL-X parameters (:class:`SMPLXParams`) -> :class:`WholeBodyOutput`. Build with :meth:`from_body_model`."""

    def __init__(self, layer: nn.Module, vertex_ids: dict[str, int]):
        super().__init__()
        num_betas, num_expr = layer.shapedirs.shape[-1], layer.expr_dirs.shape[-1]
        if num_betas < 10 or num_expr < 10:
            raise ValueError(f"SMPL-X file has {num_betas} shape and {num_expr} expression components; need 10 each")
        self.register_buffer("v_template", layer.v_template.detach().clone(), persistent=False)
        dirs = torch.cat([layer.shapedirs[..., :10], layer.expr_dirs[..., :10]], -1)
        self.register_buffer("shape_dirs", dirs.detach().clone(), persistent=False)  # (V, 3, 20)
        posedirs = layer.posedirs.detach()
        self.has_pose_blend = bool(posedirs.any())
        self.register_buffer("posedirs", posedirs.clone() if self.has_pose_blend else posedirs.new_zeros(0),
                             persistent=False)
        self.register_buffer("j_regressor", layer.J_regressor.detach().clone(), persistent=False)
        self.register_buffer("parents", layer.parents.detach().clone(), persistent=False)
        self.register_buffer("lbs_weights", layer.lbs_weights.detach().clone(), persistent=False)
        self.register_buffer("faces", layer.faces_tensor.detach().long().clone(), persistent=False)
        self.register_buffer("lmk_faces_idx", layer.lmk_faces_idx.detach().long().clone(), persistent=False)
        self.register_buffer("lmk_bary_coords", layer.lmk_bary_coords.detach().clone(), persistent=False)
        if self.lmk_faces_idx.numel() != 51:
            raise ValueError(f"SMPL-X file has {self.lmk_faces_idx.numel()} face landmarks; expected 51")
        extra, index, valid = _keypoint_plan(vertex_ids)
        self.register_buffer("extra_vertex_ids", torch.as_tensor(extra, dtype=torch.long), persistent=False)
        self.register_buffer("keypoint_index", torch.as_tensor(index), persistent=False)
        self.register_buffer("keypoints_valid", torch.as_tensor(valid), persistent=False)
        for side in ("left", "right"):
            mean = getattr(layer, f"{side}_hand_mean", None)
            mean = torch.zeros(45) if mean is None else mean.detach().float().reshape(45)
            self.register_buffer(f"{side}_hand_mean_aa", mean.clone(), persistent=False)

    @classmethod
    def from_body_model(cls, body_model: Any) -> "WholeBodyLayer":
        """From a :class:`~common.body_models.BodyModel` of kind 'smplx' (open or official file)."""
        from smplx.vertex_ids import vertex_ids

        if getattr(body_model, "kind", None) != "smplx":
            kind = getattr(body_model, "kind", None)
            raise ValueError(f"WholeBodyLayer needs an SMPL-X body model, got kind {kind!r}")
        return cls(body_model.layer, dict(vertex_ids["smplx"]))

    @classmethod
    def from_config(cls, cfg: Any) -> "WholeBodyLayer":
        """The SMPL-X model of ``cfg.body_model`` (``source``, ``smplx_path``)."""
        from common.body_models import body_model_from_config

        return cls.from_body_model(body_model_from_config(cfg, kind="smplx"))

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def hands_mean_rotmats(self, side: str) -> Tensor:
        """(15, 3, 3) the file's mean hand pose of ``side`` ('left' | 'right') in the absolute convention."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        return axis_angle_to_matrix(getattr(self, f"{side}_hand_mean_aa").reshape(15, 3))

    def forward(self, params: SMPLXParams, transl: Tensor | None = None) -> WholeBodyOutput:
        rot = params.rotmats()  # (B, 55, 3, 3)
        b, dtype = rot.shape[0], self.v_template.dtype
        rot = rot.to(dtype)
        coeffs = torch.cat([params.betas, params.expression], 1).to(dtype)  # (B, 20)
        v_shaped = self.v_template + torch.einsum("bl,vcl->bvc", coeffs, self.shape_dirs)
        joints = torch.einsum("jv,bvc->bjc", self.j_regressor, v_shaped)
        if self.has_pose_blend:
            eye = torch.eye(3, dtype=dtype, device=rot.device)
            feature = (rot[:, 1:] - eye).reshape(b, -1)
            v_shaped = v_shaped + (feature @ self.posedirs).reshape(b, -1, 3)
        posed_joints, rel = batch_rigid_transform(rot, joints, self.parents, dtype=dtype)
        per_vertex = torch.matmul(self.lbs_weights, rel[:, :, :3, :].reshape(b, -1, 12)).reshape(b, -1, 3, 4)
        verts = (per_vertex[..., :3] @ v_shaped[..., None])[..., 0] + per_vertex[..., 3]
        landmarks = vertices2landmarks(verts, self.faces, self.lmk_faces_idx.expand(b, -1).contiguous(),
                                       self.lmk_bary_coords.to(dtype).expand(b, -1, -1).contiguous())
        pool = torch.cat([posed_joints, verts[:, self.extra_vertex_ids], landmarks], 1)
        keypoints = pool[:, self.keypoint_index] * self.keypoints_valid[:, None].to(dtype)
        if transl is not None:
            shift = transl.to(dtype)[:, None]
            verts, posed_joints = verts + shift, posed_joints + shift
            keypoints = keypoints + shift * self.keypoints_valid[:, None].to(dtype)
        return WholeBodyOutput(vertices=verts, joints=posed_joints, keypoints=keypoints)
