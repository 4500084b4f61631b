"""The OpenPose-137 keypoint layout (BODY_25 + 2 x 21 hand + 70 face) and where each point comes from in SMPL-X.

Order: body 0-24 (OpenPose BODY_25), left hand 25-45, right hand 46-66, face 67-136 (OpenPose face: contour 0-16,
51 landmarks 17-67, pupils 68-69). This is the layout of OpenPose JSON files (EHF, the curated fits) and of every
whole-body 2D/3D keypoint in the project. Names follow common/joint_sets.py (``L_``/``R_`` prefixes give the flip
pairs; the OpenPose MidHip is ``Pelvis`` as in 3DCrowdNet's openpose19), so conversion to other sets is by name.

Sources (:data:`SOURCES`): ('joint', j) = SMPL-X kinematic joint j; ('vertex', key) = the mesh vertex smplx's
``vertex_ids['smplx'][key]`` names (the open model's vertices are ordered so these ids land on the same anatomy,
common/open_model/vertex_order.py); ('landmark', k) = face landmark k of the model's 51-point embedding;
None = not defined by SMPL-X (face contour, pupils: always invalid).
"""
from __future__ import annotations

import numpy as np

from common.openpose137 import (  # noqa: F401  (re-exported: the layout's names)
    BODY25_NAMES,
    FACE70_NAMES,
    FACE_MIRROR,
    FINGERS,
    HAND21_NAMES,
    OPENPOSE137_NAMES,
)

BODY = slice(0, 25)
LEFT_HAND = slice(25, 46)
RIGHT_HAND = slice(46, 67)
FACE = slice(67, 137)
FACE_LANDMARKS = slice(67 + 17, 67 + 68)  # the 51 landmarks SMPL-X defines
NUM_KEYPOINTS = 137

# SMPL-X kinematic joint indices (common/open_model/joint_maps.py SMPLX_JOINT_NAMES order)
_BODY_JOINTS = {"Neck": 12, "R_Shoulder": 17, "R_Elbow": 19, "R_Wrist": 21, "L_Shoulder": 16, "L_Elbow": 18,
                "L_Wrist": 20, "Pelvis": 0, "R_Hip": 2, "R_Knee": 5, "R_Ankle": 8, "L_Hip": 1, "L_Knee": 4,
                "L_Ankle": 7}
_BODY_VERTICES = {"Nose": "nose", "R_Eye": "reye", "L_Eye": "leye", "R_Ear": "rear", "L_Ear": "lear",
                  "L_BigToe": "LBigToe", "L_SmallToe": "LSmallToe", "L_Heel": "LHeel", "R_BigToe": "RBigToe",
                  "R_SmallToe": "RSmallToe", "R_Heel": "RHeel"}
# first SMPL-X joint of each finger's three (left hand; the right hand is +15)
_FINGER_FIRST_JOINT = {"Index": 25, "Middle": 28, "Pinky": 31, "Ring": 34, "Thumb": 37}


def _sources() -> tuple:
    out = []
    for name in BODY25_NAMES:
        out.append(("joint", _BODY_JOINTS[name]) if name in _BODY_JOINTS else ("vertex", _BODY_VERTICES[name]))
    for side, wrist, offset in (("l", 20, 0), ("r", 21, 15)):
        out.append(("joint", wrist))
        for finger in FINGERS:
            first = _FINGER_FIRST_JOINT[finger] + offset
            out += [("joint", first), ("joint", first + 1), ("joint", first + 2), ("vertex", side + finger.lower())]
    out += [None] * 17 + [("landmark", k) for k in range(51)] + [None, None]
    return tuple(out)


SOURCES = _sources()
HEAD_IDS = tuple([BODY25_NAMES.index(n) for n in ("Nose", "R_Eye", "L_Eye", "R_Ear", "L_Ear")]
                 + list(range(FACE_LANDMARKS.start, FACE_LANDMARKS.stop)))


def _flip_permutation(names: tuple[str, ...]) -> np.ndarray:
    perm = np.arange(len(names))
    for i, name in enumerate(names):
        if name.startswith(("L_", "R_")):
            perm[i] = names.index(("R_" if name.startswith("L_") else "L_") + name[2:])
    perm.setflags(write=False)
    return perm


OPENPOSE137_FLIP = _flip_permutation(OPENPOSE137_NAMES)


def _smplx_flip() -> np.ndarray:
    """(55,) flip permutation of the SMPL-X kinematic joints (left/right pairs of the SMPL-X joint order)."""
    perm = np.arange(55)
    pairs = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (23, 24)]
    for a, b in pairs + [(25 + k, 40 + k) for k in range(15)]:
        perm[a], perm[b] = b, a
    perm.setflags(write=False)
    return perm


SMPLX_FLIP = _smplx_flip()
