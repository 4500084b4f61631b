"""Named joint conventions, flip pairs and skeletons, and conversion between them by joint name.

The SMPL joints carry the SMPL names (``Spine1``, ``Spine2``, ``Spine3``, ``L_Foot``, ``L_Collar``; the one SMPL
joint-name table of the project, also used by the open body model). Other sets keep their dataset's names. Joints
with the same name in two sets are treated as the same point, and so are the pairs in :data:`SAME_POINT`:
approximations that 3DCrowdNet also makes (H36M 'Torso' (mid spine) -> SMPL 'Spine1', MuCo 'Spine' -> SMPL
'Spine2', MuCo 'L_Toe' -> SMPL 'L_Foot'). H36M 'Nose' (neck/nose) -> the SMPL nose vertex and MPII/CrowdPose
'Neck' (upper neck) -> SMPL 'Neck' share a name. Joints that only one set has (MuCo/MPII 'Thorax', SMPL
'L_Collar') are never matched.

Flip pairs are derived from names (``L_x`` <-> ``R_x``). Skeletons are given as name pairs.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from common.openpose137 import FINGERS, OPENPOSE137_NAMES

SMPL24 = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
    "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand",
)
FACE6 = ("Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "Head_top")
COCO17 = (
    "Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
    "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle",
)
OPENPOSE18 = (
    "Nose", "Neck", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Hip",
    "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "R_Eye", "L_Eye", "R_Ear", "L_Ear",
)

JOINT_SETS: dict[str, tuple[str, ...]] = {
    "smpl24": SMPL24,
    "3dpw_smpl24": SMPL24,  # 3DPW GT is SMPL; joints regressed from its meshes follow the SMPL order
    "crowdnet30": SMPL24 + FACE6,  # 3DCrowdNet input set: SMPL joints + nose/eyes/ears vertices + head top
    "graph15": (
        "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "Head_top",
        "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
    ),
    "h36m17": (
        "Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck", "Nose",
        "Head_top", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
    ),
    "coco17": COCO17,
    "coco19": COCO17 + ("Pelvis", "Neck"),  # 3DCrowdNet's COCO with hip / shoulder midpoints added
    "crowdpose14": (
        "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hip", "R_Hip",
        "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Head_top", "Neck",
    ),
    "openpose18": OPENPOSE18,  # OpenPose BODY_18 (COCO-like) order as read by 3DCrowdNet
    "openpose19": OPENPOSE18 + ("Pelvis",),  # 3DCrowdNet appends the hip midpoint
    "openpose137": OPENPOSE137_NAMES,  # whole body: BODY_25 + 2 x 21 hand + 70 face (common/wholebody/layout.py)
    "mpii16": (
        "R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Thorax", "Neck", "Head_top",
        "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist",
    ),
    "muco21": (
        "Head_top", "Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow", "L_Wrist",
        "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Spine", "Head", "R_Hand",
        "L_Hand", "R_Toe", "L_Toe",
    ),
}

# dataset joint name -> the SMPL joint it is matched to (3DCrowdNet's approximations; see the module docstring)
SAME_POINT: dict[str, str] = {"Torso": "Spine1", "Spine": "Spine2", "L_Toe": "L_Foot", "R_Toe": "R_Foot"}

_LIMBS = (
    ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"), ("L_Ankle", "L_Foot"),
    ("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle"), ("R_Ankle", "R_Foot"),
    ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"), ("L_Wrist", "L_Hand"),
    ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_Wrist"), ("R_Wrist", "R_Hand"),
)
SKELETONS: dict[str, tuple[tuple[str, str], ...]] = {
    "smpl24": _LIMBS + (
        ("Pelvis", "L_Hip"), ("Pelvis", "R_Hip"), ("Pelvis", "Spine1"), ("Spine1", "Spine2"),
        ("Spine2", "Spine3"), ("Spine3", "Neck"), ("Neck", "Head"), ("Spine3", "L_Collar"),
        ("L_Collar", "L_Shoulder"), ("Spine3", "R_Collar"), ("R_Collar", "R_Shoulder"),
    ),
    "graph15": (  # the PositionNet/RotationNet graph of the official release (see official-checkpoints.md)
        ("Pelvis", "L_Hip"), ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"), ("Pelvis", "R_Hip"),
        ("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle"), ("Pelvis", "Neck"), ("Neck", "Head_top"),
        ("Neck", "L_Shoulder"), ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"), ("Neck", "R_Shoulder"),
        ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_Wrist"),
    ),
    "coco17": (
        ("Nose", "L_Eye"), ("Nose", "R_Eye"), ("L_Eye", "L_Ear"), ("R_Eye", "R_Ear"),
        ("L_Shoulder", "R_Shoulder"), ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"),
        ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_Wrist"), ("L_Shoulder", "L_Hip"), ("R_Shoulder", "R_Hip"),
        ("L_Hip", "R_Hip"), ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"), ("R_Hip", "R_Knee"),
        ("R_Knee", "R_Ankle"),
    ),
}
SKELETONS["3dpw_smpl24"] = SKELETONS["smpl24"]
_BODY25_BONES = (
    ("Nose", "Neck"), ("Neck", "Pelvis"), ("Nose", "L_Eye"), ("Nose", "R_Eye"), ("L_Eye", "L_Ear"),
    ("R_Eye", "R_Ear"), ("L_Ankle", "L_Heel"), ("L_Ankle", "L_BigToe"), ("L_BigToe", "L_SmallToe"),
    ("R_Ankle", "R_Heel"), ("R_Ankle", "R_BigToe"), ("R_BigToe", "R_SmallToe"),
) + tuple((f"{s}_{a}", f"{s}_{b}") for s in "LR" for a, b in (
    ("Hip", "Knee"), ("Knee", "Ankle"), ("Shoulder", "Elbow"), ("Elbow", "Wrist"))) + (
    ("Neck", "L_Shoulder"), ("Neck", "R_Shoulder"), ("Pelvis", "L_Hip"), ("Pelvis", "R_Hip"))
_HAND_BONES = tuple((f"{s}_{a}", f"{s}_{b}") for s in "LR" for finger in FINGERS for a, b in zip(
    ("Hand_Wrist", f"{finger}1", f"{finger}2", f"{finger}3"), (f"{finger}1", f"{finger}2", f"{finger}3", f"{finger}4")))
SKELETONS["openpose137"] = _BODY25_BONES + _HAND_BONES  # face points are drawn as dots
SKELETONS["crowdnet30"] = SKELETONS["smpl24"] + (
    ("Head", "Nose"), ("Nose", "L_Eye"), ("Nose", "R_Eye"), ("L_Eye", "L_Ear"), ("R_Eye", "R_Ear"),
    ("Head", "Head_top"),
)


class JointSetError(KeyError):
    """An unknown joint-set name."""


def joint_names(name: str) -> tuple[str, ...]:
    """Joint names of the convention ``name`` in order; raises JointSetError naming the valid sets."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise JointSetError(f"unknown joint set '{name}'; known: {', '.join(sorted(JOINT_SETS))}") from None


def num_joints(name: str) -> int:
    return len(joint_names(name))


def joint_index(name: str, joint: str) -> int:
    """Index of ``joint`` in set ``name`` (raises JointSetError when the set lacks it)."""
    names = joint_names(name)
    if joint not in names:
        raise JointSetError(f"joint set '{name}' has no joint '{joint}'")
    return names.index(joint)


def _matched_names(name: str) -> list[str]:
    """Joint names of set ``name`` with the :data:`SAME_POINT` approximations applied (what conversion matches)."""
    return [SAME_POINT.get(joint, joint) for joint in joint_names(name)]


def _mirror_name(joint: str) -> str | None:
    if joint.startswith("L_"):
        return "R_" + joint[2:]
    if joint.startswith("R_"):
        return "L_" + joint[2:]
    return None


@lru_cache(maxsize=None)
def flip_pairs(name: str) -> tuple[tuple[int, int], ...]:
    """Index pairs (left, right) of set ``name`` that swap under a horizontal flip."""
    names = joint_names(name)
    pairs = []
    for i, joint in enumerate(names):
        mirror = _mirror_name(joint)
        if joint.startswith("L_") and mirror in names:
            pairs.append((i, names.index(mirror)))
    return tuple(pairs)


@lru_cache(maxsize=None)
def flip_permutation(name: str) -> np.ndarray:
    """(J,) int64: ``x[perm]`` swaps every left/right pair of set ``name``."""
    perm = np.arange(num_joints(name))
    for a, b in flip_pairs(name):
        perm[a], perm[b] = b, a
    perm.setflags(write=False)
    return perm


def skeleton(name: str) -> tuple[tuple[int, int], ...]:
    """Bones of set ``name`` as index pairs (sets without a drawn skeleton: the SMPL-24 bones they share)."""
    names = _matched_names(name)
    bones = SKELETONS.get(name) or SKELETONS["crowdnet30"]
    return tuple((names.index(a), names.index(b)) for a, b in bones if a in names and b in names)


@lru_cache(maxsize=None)
def _index_map(src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    src_names, dst_names = _matched_names(src), _matched_names(dst)
    dst_idx = [j for j, n in enumerate(dst_names) if n in src_names]
    src_idx = [src_names.index(dst_names[j]) for j in dst_idx]
    return np.asarray(src_idx, dtype=np.int64), np.asarray(dst_idx, dtype=np.int64)


def conversion_mask(src: str, dst: str) -> np.ndarray:
    """(J_dst,) float32: 1 where set ``src`` provides joint j of ``dst`` (by name), else 0."""
    mask = np.zeros(num_joints(dst), dtype=np.float32)
    mask[_index_map(src, dst)[1]] = 1.0
    return mask


def convert_joints(x, src: str, dst: str):
    """Reorder joints from convention ``src`` to ``dst`` by name.

    Args:
        x: (..., J_src, D) numpy array or torch tensor (any D: coordinates, scores, validity).
    Returns:
        y: (..., J_dst, D) same type/dtype/device; joints that ``src`` lacks are zero.
        mask: (J_dst,) float32 numpy, 1 for joints provided by ``src``.
    """
    n_src = num_joints(src)
    if x.shape[-2] != n_src:
        raise ValueError(f"convert_joints: '{src}' has {n_src} joints but the array has shape {tuple(x.shape)}")
    src_idx, dst_idx = _index_map(src, dst)
    shape = (*x.shape[:-2], num_joints(dst), x.shape[-1])
    if isinstance(x, np.ndarray):
        y = np.zeros(shape, dtype=x.dtype)
        y[..., dst_idx, :] = x[..., src_idx, :]
    else:  # torch tensor; imported lazily so numpy-only users do not pay for torch
        import torch

        y = x.new_zeros(shape)
        y[..., torch.as_tensor(dst_idx, device=x.device), :] = x[..., torch.as_tensor(src_idx, device=x.device), :]
    return y, conversion_mask(src, dst)


def convert_validity(valid: np.ndarray, src: str, dst: str) -> np.ndarray:
    """(..., J_src) validity -> (..., J_dst) validity (0 where ``src`` lacks the joint)."""
    y, _ = convert_joints(np.asarray(valid, dtype=np.float32)[..., None], src, dst)
    return y[..., 0]
