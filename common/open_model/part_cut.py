"""Cutting MANO- and FLAME-layout part models out of an SMPL-X-layout model (pure numpy, no files).

A part model keeps the part's vertices (in a fixed order: ``vertex_ids[i]`` is the SMPL-X vertex of part
vertex i, the meaning of the official ``MANO_SMPLX_vertex_ids.pkl`` / ``SMPL-X__FLAME_vertex_ids.npy``), the
faces whose three corners lie in the part, the part's joints with the SMPL-X kinematic tree, and the SMPL-X
shape (and expression) directions restricted to the part. So part parameters paste into the whole body:

- skinning weights: the part joints' columns; weight on joints outside the part (forearm at the wrist seam,
  spine/collars under the chin) is folded into the part's root joint, which is exact whenever those joints
  move rigidly with the root (finger-only / face-only poses, any global orientation);
- joint regressor: each row restricted to the part and corrected (least-norm) so that it regresses the same
  joint as the full SMPL-X row for every shape / expression vector of the space (exact, not a fit);
- posedirs: zero (the open model has none).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

# SMPL-X joint ids of the MANO joints (wrist, index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3: MANO's order).
MANO_FROM_SMPLX = {"right": [21] + list(range(40, 55)), "left": [20] + list(range(25, 40))}
# FLAME joints: root (SMPL-X neck), neck (SMPL-X head), jaw, left eye, right eye.
FLAME_FROM_SMPLX = [12, 15, 22, 23, 24]
MANO_TIP_IDS = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "pinky": 671}  # smplx vertex_ids['mano']
SMPLX_TIP_IDS = {"right": {"thumb": 8079, "index": 7669, "middle": 7794, "ring": 7905, "pinky": 8022},
                 "left": {"thumb": 5361, "index": 4933, "middle": 5058, "ring": 5169, "pinky": 5286}}


def part_faces(faces: np.ndarray, vertex_ids: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces (F, 3) whose corners are all part vertices, re-indexed into the part -> (part faces, face ids)."""
    new_index = np.full(num_vertices, -1, dtype=np.int64)
    new_index[vertex_ids] = np.arange(len(vertex_ids))
    mapped = new_index[np.asarray(faces, dtype=np.int64)]
    keep = np.nonzero((mapped >= 0).all(1))[0]
    return mapped[keep], keep


def exact_part_regressor(rows: np.ndarray, vertex_ids: np.ndarray, v_template: np.ndarray,
                         shapedirs: np.ndarray) -> np.ndarray:
    """(J, V) full regressor rows -> (J, n) rows on the part giving the same joints for every shape vector.

    Constraints per row: r . v_template[:, c] and r . shapedirs[:, c, k] equal the full row's values (c = x, y,
    z; k over the directions) and the weights keep the full row's sum. Least-norm correction of the restricted
    row (renormalised to that sum); raises if the part cannot reproduce the joints.
    """
    basis_full = np.concatenate([v_template, shapedirs.reshape(len(v_template), -1),
                                 np.ones((len(v_template), 1))], axis=1)  # (V, 3 + 3K + 1)
    basis = basis_full[vertex_ids]
    out = np.zeros((len(rows), len(vertex_ids)))
    for j, row in enumerate(np.asarray(rows, dtype=np.float64)):
        target = row @ basis_full
        r0 = row[vertex_ids].copy()
        if abs(r0.sum()) > 1e-8:
            r0 *= row.sum() / r0.sum()
        delta, *_ = np.linalg.lstsq(basis.T, target - r0 @ basis, rcond=None)
        out[j] = r0 + delta
        err = np.abs(out[j] @ basis - target).max()
        if err > 1e-6 * max(1.0, np.abs(target).max()):
            raise ValueError(f"part regressor row {j}: cannot reproduce the SMPL-X joint (residual {err:.3g})")
    return out


def part_weights(weights: np.ndarray, vertex_ids: np.ndarray, joint_ids: list[int]) -> np.ndarray:
    """(V, J) SMPL-X weights -> (n, len(joint_ids)); weight on other joints goes to the part root (column 0)."""
    w = np.asarray(weights, dtype=np.float64)[vertex_ids]
    part = w[:, joint_ids].copy()
    part[:, 0] += w.sum(1) - part.sum(1)
    return part


def part_parents(kintree_parents: np.ndarray, joint_ids: list[int]) -> np.ndarray:
    """SMPL-X parents -> part parents (-1 for the root); every non-root part joint's parent must be in the part."""
    local = {g: i for i, g in enumerate(joint_ids)}
    parents = [-1]
    for g in joint_ids[1:]:
        p = int(kintree_parents[g])
        if p not in local:
            raise ValueError(f"SMPL-X joint {g}: parent {p} is not a part joint")
        parents.append(local[p])
    return np.asarray(parents, dtype=np.int64)


def _kintree(parents: np.ndarray) -> np.ndarray:
    return np.stack([parents, np.arange(len(parents), dtype=np.int64)])


def mano_vertex_order(hand_ids: np.ndarray, side: str) -> np.ndarray:
    """Sorted hand vertex ids, permuted so the SMPL-X finger tips sit at smplx's MANO tip indices."""
    order = np.sort(np.asarray(hand_ids, dtype=np.int64))
    if len(order) <= max(MANO_TIP_IDS.values()):
        raise ValueError(f"{side} hand: {len(order)} vertices, MANO tip index {max(MANO_TIP_IDS.values())} needs more")
    for finger, slot in MANO_TIP_IDS.items():
        tip = SMPLX_TIP_IDS[side][finger]
        where = np.nonzero(order == tip)[0]
        if not len(where):
            raise ValueError(f"{side} hand: SMPL-X {finger} tip vertex {tip} is not in the hand vertex set")
        order[[where[0], slot]] = order[[slot, where[0]]]
    return order


def cut_mano(smplx: Mapping[str, np.ndarray], hand_ids: np.ndarray, side: str) -> tuple[dict, np.ndarray]:
    """MANO_{RIGHT,LEFT}-layout arrays (smplx.MANO keys) and the part's SMPL-X vertex ids (n,).

    ``hands_mean`` / ``hands_components`` are the SMPL-X file's for that side, so ``flat_hand_mean`` means the
    same in both layers (BodyModel builds both with smplx's default ``flat_hand_mean=False``).
    """
    ids = mano_vertex_order(hand_ids, side)
    joints = MANO_FROM_SMPLX[side]
    shapedirs = np.asarray(smplx["shapedirs"], np.float64)[:, :, :10]
    faces, _ = part_faces(smplx["f"], ids, len(smplx["v_template"]))
    reg = exact_part_regressor(np.asarray(smplx["J_regressor"])[joints], ids, smplx["v_template"], shapedirs)
    s = side[0]
    out = {"v_template": np.asarray(smplx["v_template"], np.float64)[ids], "f": faces.astype(np.uint32),
           "shapedirs": shapedirs[ids], "posedirs": np.zeros((len(ids), 3, 9 * 15)),
           "J_regressor": reg, "weights": part_weights(smplx["weights"], ids, joints),
           "kintree_table": _kintree(part_parents(smplx["kintree_table"][0], joints)),
           "hands_mean": np.asarray(smplx[f"hands_mean{s}"], np.float64),
           "hands_components": np.asarray(smplx[f"hands_components{s}"], np.float64)}
    out["J"] = reg @ out["v_template"]
    return out, ids


def cut_flame(smplx: Mapping[str, np.ndarray], face_ids: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    """FLAME-layout arrays (shapedirs = 10 shape | 10 expression, smplx.FLAME's short layout), the static
    landmark embedding (the SMPL-X file's 51 landmarks on the part's faces) and the part's SMPL-X vertex ids."""
    ids = np.sort(np.asarray(face_ids, dtype=np.int64))
    shapedirs = np.asarray(smplx["shapedirs"], np.float64)[:, :, :20]
    faces, kept = part_faces(smplx["f"], ids, len(smplx["v_template"]))
    face_pos = np.full(len(smplx["f"]), -1, dtype=np.int64)
    face_pos[kept] = np.arange(len(kept))
    lmk_faces = face_pos[np.asarray(smplx["lmk_faces_idx"], dtype=np.int64)]
    if (lmk_faces < 0).any():
        raise ValueError(f"{int((lmk_faces < 0).sum())} face landmarks lie on faces outside the face vertex set")
    reg = exact_part_regressor(np.asarray(smplx["J_regressor"])[FLAME_FROM_SMPLX], ids, smplx["v_template"],
                               shapedirs)
    out = {"v_template": np.asarray(smplx["v_template"], np.float64)[ids], "f": faces.astype(np.uint32),
           "shapedirs": shapedirs[ids], "posedirs": np.zeros((len(ids), 3, 9 * 4)), "J_regressor": reg,
           "weights": part_weights(smplx["weights"], ids, FLAME_FROM_SMPLX),
           "kintree_table": _kintree(part_parents(smplx["kintree_table"][0], FLAME_FROM_SMPLX))}
    out["J"] = reg @ out["v_template"]
    embedding = {"lmk_face_idx": lmk_faces, "lmk_b_coords": np.asarray(smplx["lmk_bary_coords"], np.float64)}
    return out, embedding, ids
