"""SMPL linear blend skinning without pose blend shapes, for models whose ``posedirs`` are all zero.

The open body model has no pose-corrective blend shapes, yet smplx's ``lbs`` multiplies a (B, 207) pose
feature by the (207, 3V) zero matrix on every call (~half of a body-model forward for V = 13,718). This path
computes the same vertices and joints without that product (exact up to float rounding; tested against smplx).
"""
from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints
from torch import Tensor, nn


def has_zero_posedirs(layer: nn.Module) -> bool:
    """True when a smplx layer's pose blend shapes are all zero (the product can be skipped exactly)."""
    posedirs = getattr(layer, "posedirs", None)
    return posedirs is not None and not bool(posedirs.any())


def smpl_skin_without_pose_blend(layer: nn.Module, global_orient: Tensor, body_pose: Tensor, betas: Tensor,
                                 transl: Tensor) -> tuple[Tensor, Tensor]:
    """smplx SMPL layer buffers + params -> vertices (B, V, 3) and the 24 kinematic joints (B, 24, 3), metres.

    Args: global_orient (B, 3), body_pose (B, 69) axis-angle; betas (B, 10); transl (B, 3).
    """
    b = global_orient.shape[0]
    v_shaped = layer.v_template + blend_shapes(betas, layer.shapedirs)  # (B, V, 3)
    joints = vertices2joints(layer.J_regressor, v_shaped)  # (B, 24, 3)
    rot_mats = batch_rodrigues(torch.cat([global_orient, body_pose], 1).reshape(-1, 3)).reshape(b, -1, 3, 3)
    posed_joints, rel = batch_rigid_transform(rot_mats, joints, layer.parents, dtype=v_shaped.dtype)
    per_vertex = torch.matmul(layer.lbs_weights, rel[:, :, :3, :].reshape(b, -1, 12)).reshape(b, -1, 3, 4)
    verts = (per_vertex[..., :3] @ v_shaped[..., None])[..., 0] + per_vertex[..., 3]  # (B, V, 3)
    return verts + transl[:, None], posed_joints + transl[:, None]
