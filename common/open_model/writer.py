"""Writing the open model in the official SMPL / SMPL-X file layouts (plain numpy arrays, no chumpy).

``smplx.SMPL`` unpickles ``SMPL_NEUTRAL.pkl`` (a dict of arrays, latin-1 compatible); the ``.npz`` copy
holds the same arrays (load it with ``data_struct=smplx.utils.Struct(**np.load(p))``). ``smplx.SMPLX``
reads ``SMPLX_NEUTRAL.npz``. Pose-corrective blend shapes (``posedirs``) are all zero: anny has none.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class LayoutArrays:
    """Arrays shared by the SMPL and SMPL-X layouts (new vertex order, SMPL frame, metres)."""

    v_template: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    shapedirs: np.ndarray  # (V, 3, K) shape components (betas ~ N(0, 1))
    j_regressor: np.ndarray  # (J, V)
    weights: np.ndarray  # (V, J)
    parents: list[int]  # (J,)


def _kintree(parents: list[int]) -> np.ndarray:
    table = np.stack([np.array(parents, dtype=np.int64), np.arange(len(parents), dtype=np.int64)])
    return table


def smpl_dict(a: LayoutArrays) -> dict[str, np.ndarray]:
    """The official SMPL keys: v_template, f, shapedirs, posedirs (zero), J_regressor, weights, kintree_table, J."""
    num_joints = len(a.parents)
    return {
        "v_template": a.v_template.astype(np.float64),
        "f": a.faces.astype(np.uint32),
        "shapedirs": a.shapedirs.astype(np.float64),
        "posedirs": np.zeros((a.v_template.shape[0], 3, 9 * (num_joints - 1)), dtype=np.float32),
        "J_regressor": a.j_regressor.astype(np.float64),
        "weights": a.weights.astype(np.float64),
        "kintree_table": _kintree(a.parents),
        "J": (a.j_regressor @ a.v_template).astype(np.float64),
    }


def smplx_dict(a: LayoutArrays, expression_dirs: np.ndarray, hands_mean: dict[str, np.ndarray],
               hands_components: dict[str, np.ndarray], lmk_faces_idx: np.ndarray,
               lmk_bary_coords: np.ndarray) -> dict[str, np.ndarray]:
    """SMPL-X keys; shapedirs = [10 shape | 10 expression] components as smplx expects (< 400 -> [:10], [10:20])."""
    out = smpl_dict(a)
    out["shapedirs"] = np.concatenate([a.shapedirs, expression_dirs], axis=2).astype(np.float64)
    out["hands_meanl"] = hands_mean["left"].astype(np.float64)
    out["hands_meanr"] = hands_mean["right"].astype(np.float64)
    out["hands_componentsl"] = hands_components["left"].astype(np.float64)
    out["hands_componentsr"] = hands_components["right"].astype(np.float64)
    out["lmk_faces_idx"] = lmk_faces_idx.astype(np.int64)
    out["lmk_bary_coords"] = lmk_bary_coords.astype(np.float64)
    return out


def write_pickle(path: Path, data: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


def write_npz(path: Path, data: dict[str, np.ndarray]) -> None:
    np.savez_compressed(path, **data)
    if not os.path.exists(path):
        raise OSError(f"failed to write {path}")
