"""SMPL-X hand pose PCA for the open model, from a sampled distribution of plausible finger poses.

SMPL-X stores, per hand, ``hands_mean`` (45,) and ``hands_components`` (45, 45): the 15 finger joints'
axis-angle vectors (SMPL-X order index, middle, pinky, ring, thumb; 3 joints each) in the rest-pose frame.
Real data (MANO scans) is not available here, so the distribution is hand-made: a per-sample grip level,
per-finger curl around it, flexion angles per joint proportional to the curl, some finger spread when open,
and small isotropic noise so that all 45 directions have variance. Flexion is a rotation about the axis
``direction x palm_normal`` (palm normal = -y in the T-pose with palms down), which curls the finger
towards the palm; the thumb uses its own rest direction. Components are scaled by the square root of their
variance, so PCA coefficients are ~N(0, 1) over the sampled distribution; ``hands_mean`` (a relaxed, half
curled hand) is the sample mean, as in MANO.
"""
from __future__ import annotations

import math

import numpy as np

from common.open_model.tpose import THUMB_DIRECTION

_ORDER = ("index", "middle", "pinky", "ring", "thumb")
_MAX_FLEXION_DEG = {"finger": (80.0, 95.0, 65.0), "thumb": (35.0, 45.0, 70.0)}
_SPREAD_DEG = {"index": 8.0, "middle": 0.0, "ring": -6.0, "pinky": -14.0, "thumb": 12.0}
NOISE_RAD = 0.05


def _axes(side: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per finger: (flexion axis, spread axis) unit vectors in SMPL's frame for the 'left'/'right' hand."""
    sign = 1.0 if side == "left" else -1.0
    palm_normal = np.array([0.0, -1.0, 0.0])
    out = {}
    for finger in _ORDER:
        d = np.array(THUMB_DIRECTION) * [sign, 1, 1] if finger == "thumb" else np.array([sign, 0.0, 0.0])
        d = d / np.linalg.norm(d)
        flex = np.cross(d, palm_normal)
        flex /= np.linalg.norm(flex)
        # positive spread moves the finger towards the thumb side (+z, the front) for both hands
        spread = palm_normal * (-sign)
        out[finger] = (flex, spread)
    return out


def sample_hand_poses(n: int, side: str, rng: np.random.Generator) -> np.ndarray:
    """(n, 45) plausible axis-angle hand poses for ``side`` in SMPL-X finger order."""
    axes = _axes(side)
    grip = rng.uniform(0.0, 1.0, size=(n, 1))
    poses = np.zeros((n, 5, 3, 3))
    for f, finger in enumerate(_ORDER):
        curl = np.clip(grip + rng.normal(0.0, 0.2, size=(n, 1)), 0.0, 1.0)
        flex_axis, spread_axis = axes[finger]
        limits = _MAX_FLEXION_DEG["thumb" if finger == "thumb" else "finger"]
        spread = math.radians(_SPREAD_DEG[finger]) * (1.0 - curl) * rng.uniform(0.0, 1.5, size=(n, 1))
        for k in range(3):
            angle = math.radians(limits[k]) * curl
            rot = angle * flex_axis
            if k == 0:
                rot = rot + spread * spread_axis
            poses[:, f, k] = rot
    poses = poses.reshape(n, 45)
    return poses + rng.normal(0.0, NOISE_RAD, size=poses.shape)


def hand_pca(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (45,), components (45, 45) rows scaled by their std, explained variance ratio (45,))."""
    mean = poses.mean(0)
    cov = np.cov(poses - mean, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    for k in range(evecs.shape[1]):  # deterministic signs
        evecs[:, k] *= np.sign(evecs[np.abs(evecs[:, k]).argmax(), k]) or 1.0
    components = (evecs * np.sqrt(evals)).T
    return mean, components, evals / evals.sum()


def hand_pose_from_curls(curl: np.ndarray, spread: np.ndarray, side: str) -> np.ndarray:
    """(n, 45) absolute axis-angle finger poses from per-finger curl (n, 5) in [0, 1] and spread (n, 5) in
    units of the finger's rest spread angle (0: fingers together, 1: the sampler's typical open hand).

    Fingers in SMPL-X order (index, middle, pinky, ring, thumb); the same flexion/spread axes and flexion
    limits as :func:`sample_hand_poses` (curl 1 = a fist, curl 0 = a flat hand), without noise.
    """
    axes = _axes(side)
    curl, spread = np.asarray(curl, np.float64), np.asarray(spread, np.float64)
    poses = np.zeros((len(curl), 5, 3, 3))
    for f, finger in enumerate(_ORDER):
        flex_axis, spread_axis = axes[finger]
        limits = _MAX_FLEXION_DEG["thumb" if finger == "thumb" else "finger"]
        for k in range(3):
            poses[:, f, k] = math.radians(limits[k]) * curl[:, f:f + 1] * flex_axis
        poses[:, f, 0] += math.radians(_SPREAD_DEG[finger]) * spread[:, f:f + 1] * spread_axis
    return poses.reshape(len(curl), 45)
