"""SMPL / SMPL-X joint layouts and how anny's bones map onto them.

Each layout joint sits at the head of one anny bone (or the mean of a few heads). Every anny bone belongs to
one layout segment: the joint whose rotation moves it. That is the nearest ancestor-or-self anchor bone,
except for the explicit rules in ``_segment_override`` (toes, and the SMPL hand joint that drives all
fingers). Rig facts: anny's ``finger1`` is the thumb, ``finger2..5`` index, middle, ring and little finger;
``fingerN-1`` heads are the knuckles (the thumb's ``finger1-1`` head is its carpometacarpal joint).
"""
from __future__ import annotations

import re

import numpy as np
import torch

from common.joint_sets import SMPL24

SMPL_JOINT_NAMES = list(SMPL24)  # the project's one SMPL joint-name table (common.joint_sets)
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]

_FINGER_NAMES = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order within a hand
_ANNY_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
SMPLX_JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
    "left_eye_smplhf", "right_eye_smplhf",
] + [f"{side}_{finger}{k}" for side in ("left", "right") for finger in _FINGER_NAMES for k in (1, 2, 3)]
SMPLX_PARENTS = SMPL_PARENTS[:22] + [15, 15, 15] + [
    (wrist if k == 1 else base + 3 * f + k - 2)
    for base, wrist in ((25, 20), (40, 21)) for f in range(5) for k in (1, 2, 3)
]

_SIDES = (("L", "L_", "left_"), ("R", "R_", "right_"))
# anny's root bone head lies ~8 cm behind the hip line in adults; spine05's head is the pelvis centre
# between the hip joints, so it is the Pelvis joint, while the root bone still belongs to the Pelvis segment.
_BODY_ANCHORS = {  # SMPL joint -> anny bone whose head is the joint ({s}: side letter)
    "Pelvis": "spine05", "Spine1": "spine03", "Spine2": "spine02", "Spine3": "spine01", "Neck": "neck01",
    "Head": "head", "{S}Hip": "upperleg01.{s}", "{S}Knee": "lowerleg01.{s}", "{S}Ankle": "foot.{s}",
    "{S}Collar": "clavicle.{s}", "{S}Shoulder": "upperarm01.{s}", "{S}Elbow": "lowerarm01.{s}",
    "{S}Wrist": "wrist.{s}",
}


def _anchors(layout: str) -> dict[str, list[str]]:
    """Layout joint name -> anny bones whose heads average to the joint."""
    anchors: dict[str, list[str]] = {}
    for joint, bone in _BODY_ANCHORS.items():
        for s, smpl_prefix, _ in (_SIDES if "{S}" in joint else (("", "", ""),)):
            anchors[joint.format(S=smpl_prefix)] = [bone.format(s=s)]
    for s, smpl_prefix, _ in _SIDES:
        anchors[f"{smpl_prefix}Foot"] = [f"toe{t}-1.{s}" for t in range(1, 6)]
        anchors[f"{smpl_prefix}Hand"] = [f"finger{f}-1.{s}" for f in range(2, 6)]
    if layout == "smpl":
        return anchors
    if layout != "smplx":
        raise ValueError(f"unknown layout {layout!r} (expected 'smpl' or 'smplx')")
    named = {SMPL_JOINT_NAMES[i]: SMPLX_JOINT_NAMES[i] for i in range(22)}
    out = {named[k]: v for k, v in anchors.items() if k in named}
    out.update(jaw=["jaw"], left_eye_smplhf=["eye.L"], right_eye_smplhf=["eye.R"])
    for s, _, prefix in _SIDES:
        for finger in _FINGER_NAMES:
            for k in (1, 2, 3):
                out[f"{prefix}{finger}{k}"] = [f"finger{_ANNY_FINGER[finger]}-{k}.{s}"]
    return out


def layout_joint_names(layout: str) -> list[str]:
    return SMPL_JOINT_NAMES if layout == "smpl" else SMPLX_JOINT_NAMES


def layout_parents(layout: str) -> list[int]:
    return SMPL_PARENTS if layout == "smpl" else SMPLX_PARENTS


def joint_positions(heads: torch.Tensor, labels: list[str], layout: str) -> torch.Tensor:
    """(N, B, 3) anny bone heads -> (N, J, 3) layout joint centres."""
    anchors = _anchors(layout)
    index = {name: i for i, name in enumerate(labels)}
    cols = []
    for joint in layout_joint_names(layout):
        missing = [b for b in anchors[joint] if b not in index]
        if missing:
            raise KeyError(f"anny rig lacks bones {missing} needed for {layout} joint {joint}")
        cols.append(heads[:, [index[b] for b in anchors[joint]]].mean(1))
    return torch.stack(cols, 1)


def _segment_override(bone: str, layout: str) -> str | None:
    side = bone.rsplit(".", 1)[-1] if "." in bone else ""
    prefix = {"L": ("L_", "left_"), "R": ("R_", "right_")}.get(side)
    if prefix is None:
        return None
    if bone.startswith("toe"):
        return f"{prefix[0]}Foot" if layout == "smpl" else f"{prefix[1]}foot"
    if layout == "smpl" and re.match(r"finger([2-5]-\d|1-[23])\.", bone):
        return f"{prefix[0]}Hand"
    return None


def bone_segments(labels: list[str], parents: list[int], layout: str) -> np.ndarray:
    """(B,) index of the layout joint that moves each anny bone."""
    names = layout_joint_names(layout)
    anchor_of = {bones[0]: names.index(j) for j, bones in _anchors(layout).items() if len(bones) == 1}
    anchor_of["root"] = 0  # the root bone moves with the pelvis
    segments = np.full(len(labels), -1, dtype=np.int64)
    for i, bone in enumerate(labels):
        override = _segment_override(bone, layout)
        if override is not None:
            segments[i] = names.index(override)
            continue
        j = i
        while j >= 0 and labels[j] not in anchor_of:
            j = parents[j]
        if j < 0:
            raise ValueError(f"anny bone {bone} has no ancestor mapped to a {layout} joint")
        segments[i] = anchor_of[labels[j]]
    return segments
