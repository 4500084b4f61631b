"""The named joint regressors of the open model (``joint_regressors.npz``), all (J, V) over the open mesh.

Rows are linear combinations of vertices that every consumer applies the same way: ``joints = R @ vertices``.
"""
from __future__ import annotations

import numpy as np

from common.joint_sets import joint_names

CROWDNET30_NAMES = list(joint_names("crowdnet30"))
GRAPH15_NAMES = list(joint_names("graph15"))
H36M17_NAMES = list(joint_names("h36m17"))
COCO17_NAMES = list(joint_names("coco17"))
REGRESSOR_NAMES = {"crowdnet30": CROWDNET30_NAMES, "graph15": GRAPH15_NAMES, "h36m17": H36M17_NAMES,
                   "coco17": COCO17_NAMES}


def one_hot_rows(vertex_ids: list[int], num_vertices: int) -> np.ndarray:
    rows = np.zeros((len(vertex_ids), num_vertices))
    rows[np.arange(len(vertex_ids)), vertex_ids] = 1.0
    return rows


def crowdnet30(j_regressor: np.ndarray, face_ids: list[int], head_top_row: np.ndarray) -> np.ndarray:
    """24 SMPL joints, one-hot rows of the face vertices (Nose, L_Eye, R_Eye, L_Ear, R_Ear), head top."""
    face = one_hot_rows(face_ids, j_regressor.shape[1])
    return np.vstack([j_regressor, face, head_top_row[None]])


def graph15(crowdnet: np.ndarray) -> np.ndarray:
    return crowdnet[[CROWDNET30_NAMES.index(n) for n in GRAPH15_NAMES]]


def h36m17(crowdnet: np.ndarray) -> np.ndarray:
    """An H36M-like 17-joint set from the open mesh.

    Pelvis = midpoint of the hips (H36M's pelvis marker centre); Torso = midpoint of that pelvis and the
    neck; Nose = midpoint of the head joint and the nose tip (H36M's 'Neck/Nose' point lies inside the head
    at nose height); the rest are the SMPL joints / head top of the same name.
    """
    row = {n: crowdnet[i] for i, n in enumerate(CROWDNET30_NAMES)}
    pelvis = 0.5 * (row["L_Hip"] + row["R_Hip"])
    derived = {"Pelvis": pelvis, "Torso": 0.5 * (pelvis + row["Neck"]), "Nose": 0.5 * (row["Head"] + row["Nose"])}
    return np.stack([derived[n] if n in derived else row[n] for n in H36M17_NAMES])
