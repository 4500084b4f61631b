"""SMPL-X expression space for the open model from anny's 52 ARKit-style facial-action blendshapes.

Random action combinations (a few actions at random intensities, left/right pairs often mirrored) give
vertex displacements ``c @ D``; the expression components are the principal directions of their second
moment about the neutral face (not about the mean), so a zero expression vector is the neutral face as in
SMPL-X. Each direction is scaled by the square root of its second moment, so coefficients are O(1).
"""
from __future__ import annotations

import numpy as np


def sample_action_weights(n: int, labels: list[str], rng: np.random.Generator, max_active: int = 6) -> np.ndarray:
    """(n, A) sparse facial-action intensities in [0, 1]."""
    a = len(labels)
    index = {name: i for i, name in enumerate(labels)}
    weights = np.zeros((n, a))
    for row in weights:
        active = rng.choice(a, size=rng.integers(1, max_active + 1), replace=False)
        row[active] = rng.uniform(0.2, 1.0, size=len(active))
        if rng.random() < 0.5:  # symmetric expression: copy each Left action onto its Right twin
            for name, i in index.items():
                if name.endswith("Left") and name[:-4] + "Right" in index:
                    row[index[name[:-4] + "Right"]] = row[i]
    return weights


def expression_space(action_dirs: np.ndarray, weights: np.ndarray,
                     num_components: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Expression directions (V, 3, K) and the fraction of the second moment each explains (K,).

    Args:
        action_dirs: (A, V, 3) displacement per unit action; weights: (N, A) sampled intensities.
    """
    a, v, _ = action_dirs.shape
    moment = weights.T @ weights / len(weights)  # (A, A) second moment of the coefficients
    evals, evecs = np.linalg.eigh(moment)
    root = evecs * np.sqrt(np.clip(evals, 0.0, None))  # moment = root @ root.T
    _, s, vt = np.linalg.svd(root.T @ action_dirs.reshape(a, -1), full_matrices=False)
    comps = vt[:num_components]
    for k in range(num_components):
        comps[k] *= np.sign(comps[k, np.abs(comps[k]).argmax()]) or 1.0
    dirs = (comps * s[:num_components, None]).T.reshape(v, 3, num_components)
    return dirs, (s ** 2 / (s ** 2).sum())[:num_components]
