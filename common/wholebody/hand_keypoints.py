"""MANO-layout hand output -> the 21 FreiHAND / OpenPose hand keypoints (used by the hand-only model and the
FreiHAND evaluator)."""
from __future__ import annotations

from typing import Sequence

import torch

# FreiHAND / OpenPose hand order (wrist; thumb, index, middle, ring, little: base to tip) from MANO's 16 joints
# (wrist, index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3) followed by the 5 tips (thumb, index, middle, ring,
# pinky) at smplx's MANO tip vertices.
MANO_TIP_VERTICES = (744, 320, 443, 554, 671)
MANO_TO_FREIHAND = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)


def freihand_keypoints(joints: torch.Tensor, vertices: torch.Tensor,
                       tip_vertices: Sequence[int] = MANO_TIP_VERTICES) -> torch.Tensor:
    """MANO-layout output -> (B, 21, 3) keypoints in FreiHAND order (same units as the input).

    joints: (B, 16, 3) MANO kinematic joints; vertices: (B, V, 3) with the finger tips at ``tip_vertices``
    (official MANO and the open MANO-layout hand share those indices).
    """
    tips = vertices[:, list(tip_vertices)]
    return torch.cat([joints[:, :16], tips], dim=1)[:, list(MANO_TO_FREIHAND)]
