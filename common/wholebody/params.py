"""SMPL-X parameters as rotation matrices, and the horizontal flip of a person.

Finger rotations are **absolute** (the "flat hand mean" convention: all-identity fingers = a flat hand); the model
file's ``hands_mean`` is never added behind the caller's back (:class:`~common.wholebody.layer.WholeBodyLayer`
passes the rotations as they are). GT, predictions and mean initialisations all use this convention; the file's
mean hand is available as ``WholeBodyLayer.hands_mean_rotmats``.

Axis-angle layout (B, 55, 3) in SMPL-X joint order: global orient, 21 body joints, jaw, left eye, right eye,
15 left-hand joints, 15 right-hand joints (eyes are not parameters here: zero / identity).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.wholebody.layout import SMPLX_FLIP

_MIRROR = (-1.0, 1.0, 1.0)  # reflection x -> -x (a horizontal image flip in the camera frame)


@dataclass
class SMPLXParams:
    """One batch of SMPL-X parameters (B people)."""

    global_orient: Tensor  # (B, 3, 3)
    body_pose: Tensor  # (B, 21, 3, 3)
    left_hand_pose: Tensor  # (B, 15, 3, 3), absolute finger rotations
    right_hand_pose: Tensor  # (B, 15, 3, 3)
    jaw_pose: Tensor  # (B, 3, 3)
    betas: Tensor  # (B, 10)
    expression: Tensor  # (B, 10)

    @property
    def batch_size(self) -> int:
        return self.global_orient.shape[0]

    @classmethod
    def from_axis_angle(cls, pose: Tensor, betas: Tensor, expression: Tensor) -> "SMPLXParams":
        """``pose`` (B, 55, 3) or (B, 165) axis-angle in SMPL-X joint order; eye rotations are ignored."""
        b = pose.shape[0]
        rot = axis_angle_to_matrix(pose.reshape(b, 55, 3))
        return cls(rot[:, 0], rot[:, 1:22], rot[:, 25:40], rot[:, 40:55], rot[:, 22], betas, expression)

    def rotmats(self) -> Tensor:
        """(B, 55, 3, 3) every joint's rotation (eyes identity), SMPL-X joint order."""
        eye = torch.eye(3, dtype=self.global_orient.dtype, device=self.global_orient.device)
        eyes = eye.expand(self.batch_size, 2, 3, 3)
        return torch.cat([self.global_orient[:, None], self.body_pose, self.jaw_pose[:, None], eyes,
                          self.left_hand_pose, self.right_hand_pose], 1)

    def to_axis_angle(self) -> Tensor:
        """(B, 55, 3) axis-angle (eyes zero)."""
        return matrix_to_axis_angle(self.rotmats())

    def replace(self, **fields: Tensor) -> "SMPLXParams":
        return dataclasses.replace(self, **fields)

    def map(self, fn) -> "SMPLXParams":
        """Apply ``fn`` to every tensor (e.g. ``lambda t: t.detach()`` or ``.to(device)``)."""
        return SMPLXParams(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})


def mirror_rotmats(rot: Tensor) -> Tensor:
    """(..., 3, 3) -> M R M with M = diag(-1, 1, 1): the same joint rotation seen in a mirrored world."""
    m = rot.new_tensor(_MIRROR)
    return rot * m[:, None] * m[None, :]


def mirror_axis_angle(aa: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (x, -y, -z), the axis-angle of :func:`mirror_rotmats`."""
    return aa * aa.new_tensor((1.0, -1.0, -1.0))


def flip_params(p: SMPLXParams) -> SMPLXParams:
    """The person of a horizontally flipped image: every rotation mirrored, left/right joints and hands swapped.

    Shape and expression are unchanged (the flip of a face is approximated by the same expression: the expression
    space is not guaranteed to be mirror-symmetric).
    """
    rot = mirror_rotmats(p.rotmats())[:, torch.as_tensor(SMPLX_FLIP.copy(), device=p.global_orient.device)]
    return SMPLXParams(rot[:, 0], rot[:, 1:22], rot[:, 25:40], rot[:, 40:55], rot[:, 22], p.betas, p.expression)
