"""Per-vertex facts about the open mesh: connected parts (skin, eyeballs, mouth interior) and segments."""
from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components


def mesh_components(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(V,) connected-component label of each vertex; label 0 is the largest component (the skin)."""
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_vertices, num_vertices))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    rank = np.empty_like(sizes)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return rank[labels]


def dominant(weights: np.ndarray) -> np.ndarray:
    """(V,) index of the column with the largest skinning weight of each vertex."""
    return np.asarray(weights).argmax(1)


def bone_vertex_mask(bone_weights: np.ndarray, labels: list[str], names: list[str]) -> np.ndarray:
    """(V,) vertices whose dominant anny bone is one of ``names``."""
    dom = dominant(bone_weights)
    wanted = [labels.index(n) for n in names]
    return np.isin(dom, wanted)
