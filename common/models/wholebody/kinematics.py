"""Global (camera-frame) rotations of the SMPL-X joints the part networks work with.

The hand network predicts the wrist as a global rotation and the head network the head (joint 15) as a global
rotation (ExPose); the merge turns the wrist back into a relative pose with the parent (elbow) chain.
"""
from __future__ import annotations

from torch import Tensor

from common.wholebody.params import SMPLXParams

# SMPL-X kinematic parents of the first 23 joints (the standard SMPL tree; joint 22 = jaw, parent head 15).
# Checked against the body model's own ``parents`` in tests/test_wholebody_model_parts.py.
SMPLX_PARENTS_23 = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15)
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, HEAD, JAW = 18, 19, 20, 21, 15, 22


def global_rotations(params: SMPLXParams, upto: int = 23) -> list[Tensor]:
    """Global rotations (B, 3, 3) of SMPL-X joints 0 .. upto-1: R_j = R_parent(j) @ local_j."""
    local = [params.global_orient] + [params.body_pose[:, i] for i in range(21)] + [params.jaw_pose]
    out: list[Tensor] = []
    for j in range(upto):
        parent = SMPLX_PARENTS_23[j]
        out.append(local[j] if parent < 0 else out[parent] @ local[j])
    return out


def wrist_to_relative(parent_global: Tensor, wrist_global: Tensor) -> Tensor:
    """(B, 3, 3) elbow global, (B, 3, 3) wrist global -> (B, 3, 3) wrist relative to the elbow: P^T W."""
    return parent_global.transpose(-1, -2) @ wrist_global
