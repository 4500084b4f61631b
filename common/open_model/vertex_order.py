"""Vertex re-ordering so that hard-coded vertex ids of SMPL-family tools land on the right anatomy.

``smplx`` picks extra joints (nose, eyes, ears, finger tips, toes, heels) by fixed vertex indices
(``smplx.vertex_ids.vertex_ids['smplh']`` for SMPL, ``['smplx']`` for SMPL-X), and 3DCrowdNet reads the
face keypoints from SMPL vertices 331, 2802, 6262, 3489, 3990. The open mesh has its own topology, so we
swap vertices: the anatomically right open-mesh vertex is moved to each of those indices. The three id sets
do not collide, so one permutation serves the SMPL and SMPL-X files alike.
"""
from __future__ import annotations

import numpy as np
import torch

CROWDNET_FACE_IDS = {"nose": 331, "leye": 2802, "reye": 6262, "lear": 3489, "rear": 3990}
_FINGER_KEYS = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}


def _smplx_vertex_ids() -> dict[str, dict[str, int]]:
    from smplx.vertex_ids import vertex_ids

    return {"smplh": dict(vertex_ids["smplh"]), "smplx": dict(vertex_ids["smplx"])}


def semantic_candidates(vertices: torch.Tensor, coco_points: dict[str, torch.Tensor], tips: dict[str, int],
                        usable: torch.Tensor, count: int = 8) -> dict[str, list[int]]:
    """Ranked candidate vertices (best first) for every keypoint name used by smplx's vertex ids.

    Args:
        vertices: (V, 3) mean rest mesh (anny vertex order); usable: (V,) bool, skin vertices allowed.
        coco_points: anny's COCO keypoints on that mesh (``'nose'``, ``'left_eye'``, ..., ``'left_heel'``).
        tips: finger-tip vertices, keys ``'finger{1..5}-3.{L,R}'``.
    """
    def ranked(point: torch.Tensor) -> list[int]:
        dist = (vertices - point).norm(dim=-1)
        dist = torch.where(usable, dist, torch.full_like(dist, float("inf")))
        return torch.argsort(dist)[:count].tolist()

    near_nose = ranked(coco_points["nose"])[:count]
    tip = max(near_nose, key=lambda i: float(vertices[i, 2]))  # most anterior: the nose tip
    out = {"nose": ranked(vertices[tip])}
    for short, side in (("l", "left"), ("r", "right")):
        out[f"{short}eye"] = ranked(coco_points[f"{side}_eye"])
        out[f"{short}ear"] = ranked(coco_points[f"{side}_ear"])
        for finger, k in _FINGER_KEYS.items():
            out[f"{short}{finger}"] = ranked(vertices[tips[f"finger{k}-3.{short.upper()}"]])
        big = short.upper()
        out[f"{big}BigToe"] = ranked(coco_points[f"{side}_big_toe"])
        out[f"{big}SmallToe"] = ranked(coco_points[f"{side}_small_toe"])
        out[f"{big}Heel"] = ranked(coco_points[f"{side}_heel"])
    return out


def assign_vertices(candidates: dict[str, list[int]]) -> dict[int, int]:
    """Target index -> open-mesh vertex for every id of CROWDNET_FACE_IDS, smplh and smplx (distinct vertices).

    The 3DCrowdNet ids get the best candidate, then SMPL-H's, then SMPL-X's the next unused one.
    """
    id_sets = [CROWDNET_FACE_IDS] + list(_smplx_vertex_ids().values())
    used: set[int] = set()
    targets: dict[int, int] = {}
    for ids in id_sets:
        for name, index in ids.items():
            if index in targets:
                raise ValueError(f"vertex id {index} requested twice")
            vertex = next(v for v in candidates[name] if v not in used)
            used.add(vertex)
            targets[index] = vertex
    return targets


def permutation_for(targets: dict[int, int], num_vertices: int) -> np.ndarray:
    """(V,) ``new_to_old`` permutation that puts old vertex ``targets[i]`` at new index ``i``."""
    new_to_old = np.arange(num_vertices)
    old_to_new = np.arange(num_vertices)
    for new_index, old_vertex in targets.items():
        if new_index >= num_vertices:
            raise ValueError(f"vertex id {new_index} >= number of vertices {num_vertices}")
        pos = old_to_new[old_vertex]  # where old_vertex currently sits
        displaced = new_to_old[new_index]
        new_to_old[new_index], new_to_old[pos] = old_vertex, displaced
        old_to_new[old_vertex], old_to_new[displaced] = new_index, pos
    for new_index, old_vertex in targets.items():
        assert new_to_old[new_index] == old_vertex
    return new_to_old


def inverse_permutation(new_to_old: np.ndarray) -> np.ndarray:
    old_to_new = np.empty_like(new_to_old)
    old_to_new[new_to_old] = np.arange(len(new_to_old))
    return old_to_new
