"""Names of the OpenPose-137 keypoints (BODY_25 + 2 x 21 hand + 70 face), the whole-body layout of the project.

Kept apart from common/wholebody/ so that common/joint_sets.py can name the set without importing the SMPL-X layer.
Where each point comes from in SMPL-X: common/wholebody/layout.py.
"""
from __future__ import annotations

import numpy as np

BODY25_NAMES = (
    "Nose", "Neck", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow", "L_Wrist", "Pelvis", "R_Hip",
    "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "R_Eye", "L_Eye", "R_Ear", "L_Ear", "L_BigToe",
    "L_SmallToe", "L_Heel", "R_BigToe", "R_SmallToe", "R_Heel",
)
FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")
HAND21_NAMES = ("Hand_Wrist",) + tuple(f"{f}{k}" for f in FINGERS for k in range(1, 5))


def _face_mirror() -> np.ndarray:
    """(70,) index of each OpenPose face point's mirror image (68-point convention + 2 pupils)."""
    pairs = [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67), (68, 69)]
    mirror = np.arange(70)
    for a, b in pairs:
        mirror[a], mirror[b] = b, a
    return mirror


FACE_MIRROR = _face_mirror()
# In the 68-point convention the lower index of a mirrored pair lies on the subject's right side.
FACE70_NAMES = tuple(f"Face{i}" if FACE_MIRROR[i] == i else
                     (f"R_Face{i}" if i < FACE_MIRROR[i] else f"L_Face{FACE_MIRROR[i]}") for i in range(70))
OPENPOSE137_NAMES = (BODY25_NAMES + tuple(f"L_{n}" for n in HAND21_NAMES) + tuple(f"R_{n}" for n in HAND21_NAMES)
                     + FACE70_NAMES)
