"""Flat parameter vectors of the body, hand and head regressors, and the weak-perspective camera.

Body vector (341, ExPose's layout): global orientation 6 | 21 body joints x 6 | left hand 15 x 6 | right hand
15 x 6 | jaw 6 | betas 10 | expression 10 | camera 3. Rotations are 6D (``common.geometry.rotations``,
Gram-Schmidt); finger rotations are absolute (the SMPL-X core's flat-hand convention).
Hand vector (109): wrist 6 (GLOBAL rotation of the wrist in the camera frame) | 15 fingers x 6 | betas 10 |
camera 3. Head vector (25): head 6 (global rotation of SMPL-X joint 15) | jaw 6 | expression 10 | camera 3.

Camera: raw (s_raw, tx, ty) -> decoded (s, tx, ty) with s = softplus(s_raw); a point X (metres) projects to
s * (X_xy + t) in [-1, 1] crop units, i.e. px = (s * (X_xy + t) + 1) / 2 * crop_side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from common.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from common.wholebody.params import SMPLXParams


@dataclass(frozen=True)
class ParamLayout:
    """Named consecutive slices of a flat parameter vector (``fields``: (name, size) pairs)."""

    fields: tuple[tuple[str, int], ...]

    @property
    def size(self) -> int:
        return sum(n for _, n in self.fields)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, n in self.fields:
            out[name] = slice(start, start + n)
            start += n
        return out

    def split(self, vec: Tensor) -> dict[str, Tensor]:
        """(B, size) -> {name: (B, n)}."""
        if vec.shape[-1] != self.size:
            raise ValueError(f"common/models/wholebody/param_vector.py: expected (..., {self.size}), "
                             f"got {tuple(vec.shape)}")
        return {name: vec[..., s] for name, s in self.slices().items()}

    def join(self, parts: dict[str, Tensor]) -> Tensor:
        """{name: (B, n)} (every field) -> (B, size)."""
        return torch.cat([parts[name].flatten(1) for name, _ in self.fields], dim=-1)


BODY_LAYOUT = ParamLayout((("global_orient", 6), ("body_pose", 21 * 6), ("left_hand_pose", 15 * 6),
                           ("right_hand_pose", 15 * 6), ("jaw_pose", 6), ("betas", 10), ("expression", 10),
                           ("camera", 3)))
HAND_LAYOUT = ParamLayout((("wrist", 6), ("hand_pose", 15 * 6), ("betas", 10), ("camera", 3)))
HEAD_LAYOUT = ParamLayout((("head_pose", 6), ("jaw_pose", 6), ("expression", 10), ("camera", 3)))
assert BODY_LAYOUT.size == 341 and HAND_LAYOUT.size == 109 and HEAD_LAYOUT.size == 25


def inverse_softplus(x: Tensor | float) -> Tensor:
    """softplus^-1(x) = log(exp(x) - 1) for x > 0 (stable: x + log(1 - exp(-x)))."""
    x = torch.as_tensor(x, dtype=torch.float32).clamp_min(1e-4)
    return x + torch.log(-torch.expm1(-x))


def decode_camera(raw: Tensor) -> Tensor:
    """(..., 3) raw (s_raw, tx, ty) -> (..., 3) (s = softplus(s_raw), tx, ty)."""
    return torch.cat([F.softplus(raw[..., :1]), raw[..., 1:]], dim=-1)


def encode_camera(camera: Tensor) -> Tensor:
    """Inverse of :func:`decode_camera`."""
    return torch.cat([inverse_softplus(camera[..., :1]).to(camera), camera[..., 1:]], dim=-1)


def weak_perspective(points: Tensor, camera: Tensor) -> Tensor:
    """(B, N, 3) metres, (B, 3) decoded camera -> (B, N, 2) crop units in [-1, 1]: s * (X_xy + t)."""
    return camera[:, None, :1] * (points[..., :2] + camera[:, None, 1:])


def units_to_px(points: Tensor, side: float) -> Tensor:
    """[-1, 1] crop units -> crop px (0 .. side, continuous pixel coordinates)."""
    return (points + 1.0) * (side / 2.0)


def px_to_units(points: Tensor, side: float) -> Tensor:
    """Crop px -> [-1, 1] crop units."""
    return points * (2.0 / side) - 1.0


def _rotmats(rot6d: Tensor, joints: int | None) -> Tensor:
    if joints is None:
        return rot6d_to_matrix(rot6d)
    return rot6d_to_matrix(rot6d.reshape(rot6d.shape[0], joints, 6))


def body_vector_to_params(vec: Tensor) -> tuple[SMPLXParams, Tensor]:
    """(B, 341) -> (SMPLXParams with rotation matrices, (B, 3) decoded camera)."""
    p = BODY_LAYOUT.split(vec)
    params = SMPLXParams(global_orient=_rotmats(p["global_orient"], None), body_pose=_rotmats(p["body_pose"], 21),
                         left_hand_pose=_rotmats(p["left_hand_pose"], 15),
                         right_hand_pose=_rotmats(p["right_hand_pose"], 15), jaw_pose=_rotmats(p["jaw_pose"], None),
                         betas=p["betas"], expression=p["expression"])
    return params, decode_camera(p["camera"])


def params_to_body_vector(params: SMPLXParams, camera: Tensor) -> Tensor:
    """Inverse of :func:`body_vector_to_params` (camera decoded, (B, 3)) -> (B, 341)."""
    return BODY_LAYOUT.join({"global_orient": matrix_to_rot6d(params.global_orient),
                             "body_pose": matrix_to_rot6d(params.body_pose),
                             "left_hand_pose": matrix_to_rot6d(params.left_hand_pose),
                             "right_hand_pose": matrix_to_rot6d(params.right_hand_pose),
                             "jaw_pose": matrix_to_rot6d(params.jaw_pose), "betas": params.betas,
                             "expression": params.expression, "camera": encode_camera(camera)})


def hand_vector_to_dict(vec: Tensor) -> dict[str, Tensor]:
    """(B, 109) -> wrist (B, 3, 3) global, hand_pose (B, 15, 3, 3), betas (B, 10), camera (B, 3) decoded."""
    p = HAND_LAYOUT.split(vec)
    return {"wrist": _rotmats(p["wrist"], None), "hand_pose": _rotmats(p["hand_pose"], 15), "betas": p["betas"],
            "camera": decode_camera(p["camera"])}


def hand_dict_to_vector(d: dict[str, Tensor]) -> Tensor:
    """Inverse of :func:`hand_vector_to_dict` -> (B, 109)."""
    return HAND_LAYOUT.join({"wrist": matrix_to_rot6d(d["wrist"]), "hand_pose": matrix_to_rot6d(d["hand_pose"]),
                             "betas": d["betas"], "camera": encode_camera(d["camera"])})


def head_vector_to_dict(vec: Tensor) -> dict[str, Tensor]:
    """(B, 25) -> head_pose (B, 3, 3) global, jaw_pose (B, 3, 3), expression (B, 10), camera (B, 3) decoded."""
    p = HEAD_LAYOUT.split(vec)
    return {"head_pose": _rotmats(p["head_pose"], None), "jaw_pose": _rotmats(p["jaw_pose"], None),
            "expression": p["expression"], "camera": decode_camera(p["camera"])}


def head_dict_to_vector(d: dict[str, Tensor]) -> Tensor:
    """Inverse of :func:`head_vector_to_dict` -> (B, 25)."""
    return HEAD_LAYOUT.join({"head_pose": matrix_to_rot6d(d["head_pose"]), "jaw_pose": matrix_to_rot6d(d["jaw_pose"]),
                             "expression": d["expression"], "camera": encode_camera(d["camera"])})


# SMPL's Y-up, +Z-front body seen upright, facing the camera in the x-right, y-down, z-forward camera frame: a
# half-turn about x (tool/make_mean_params.py, UPRIGHT_FACING_CAMERA, for the SMPL regressor).
UPRIGHT_FACING_CAMERA = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
assert math.isclose(float(torch.det(UPRIGHT_FACING_CAMERA)), 1.0)
