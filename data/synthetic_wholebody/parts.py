"""Hand poses and faces of the whole-body world: the model file's hand PCA space plus named hand shapes,
expressions from the model's expression components and a jaw opening.

Finger rotations are ABSOLUTE (rotation 0 = flat hand; the file's ``hands_mean`` is not added by the layer),
15 joints per hand in SMPL-X order (index, middle, pinky, ring, thumb; 3 joints each), axis-angle in the joint's
rest frame. See docs/synthetic_world.md ("Whole-body world") for the distributions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.open_model.hand_pca import hand_pose_from_curls

HAND_MODES = ("pca", "fist", "pointing", "spread", "flat")
HAND_MODE_PROBS = (0.4, 0.15, 0.15, 0.15, 0.15)
PCA_COMPONENTS = 12  # leading PCA directions sampled (the rest of the 45 are the sampler's isotropic noise)
PCA_CLIP = 2.5  # PCA coefficients ~ N(0, 1) clipped to +-PCA_CLIP (components are scaled by their std)
MODE_NOISE_RAD = 0.03  # per angle, on the named modes
EXPRESSION_PROB = 0.8  # else the neutral face
EXPRESSION_STD, EXPRESSION_CLIP = 0.8, 2.0
JAW_OPEN_PROB, JAW_OPEN_RAD = 0.5, (0.05, 0.4)  # jaw opening about the x axis (chin down and back)


@dataclass(frozen=True)
class HandSpace:
    """A model file's hand PCA space: per side the mean (45,) and components (45, 45) (rows; absolute poses are
    mean + coefficients @ components)."""

    mean: dict[str, np.ndarray]
    components: dict[str, np.ndarray]

    @classmethod
    def from_model_file(cls, path: str | Path) -> "HandSpace":
        from common.open_model.official_files import load_model_arrays

        arrays = load_model_arrays(path)
        return cls({s: np.asarray(arrays[f"hands_mean{s[0]}"], np.float64).reshape(45) for s in ("left", "right")},
                   {s: np.asarray(arrays[f"hands_components{s[0]}"], np.float64).reshape(-1, 45)
                    for s in ("left", "right")})

    @classmethod
    def from_config(cls, cfg) -> "HandSpace":
        """The hand space of ``cfg.body_model``'s SMPL-X file (open model: the cache's SMPLX_NEUTRAL.npz)."""
        bm = cfg.body_model
        if bm.source == "open":
            from common.open_model import ensure_open_model

            return cls.from_model_file(ensure_open_model().smplx_path)
        from common.open_model.official_files import find_model_file

        return cls.from_model_file(find_model_file("smplx", bm.smplx_path or None, bm.gender))


def _mode_curls(mode: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(5,) curl and (5,) spread of a named hand shape (fingers index, middle, pinky, ring, thumb)."""
    if mode == "fist":
        curl = np.r_[rng.uniform(0.85, 1.0, 4), rng.uniform(0.6, 1.0)]
        return curl, np.zeros(5)
    if mode == "pointing":  # index extended, the others curled
        curl = np.r_[rng.uniform(0.0, 0.1), rng.uniform(0.85, 1.0, 3), rng.uniform(0.6, 0.9)]
        return curl, np.r_[rng.uniform(0.0, 0.5), np.zeros(4)]
    if mode == "spread":
        return rng.uniform(0.0, 0.1, 5), np.full(5, rng.uniform(1.5, 2.5))
    if mode == "flat":
        return rng.uniform(0.0, 0.05, 5), np.full(5, rng.uniform(0.0, 0.5))
    raise ValueError(f"unknown hand mode '{mode}'; known: {', '.join(HAND_MODES)}")


def sample_hand_pose(rng: np.random.Generator, space: HandSpace, side: str,
                     mode: str | None = None) -> tuple[np.ndarray, str]:
    """One hand: (15, 3) absolute axis-angle finger rotations and its mode ('pca' or a named shape).

    'pca': mean + sum_k c_k component_k over the first PCA_COMPONENTS components, c_k ~ N(0, 1) clipped;
    named shapes: per-finger curl/spread (:func:`hand_pose_from_curls`) + N(0, MODE_NOISE_RAD) per angle.
    """
    mode = mode or HAND_MODES[rng.choice(len(HAND_MODES), p=HAND_MODE_PROBS)]
    if mode == "pca":
        comps = space.components[side][:PCA_COMPONENTS]
        coeffs = np.clip(rng.standard_normal(len(comps)), -PCA_CLIP, PCA_CLIP)
        pose = space.mean[side] + coeffs @ comps
    else:
        curl, spread = _mode_curls(mode, rng)
        pose = hand_pose_from_curls(curl[None], spread[None], side)[0] + rng.normal(0.0, MODE_NOISE_RAD, 45)
    return pose.reshape(15, 3), mode


def sample_face(rng: np.random.Generator, num_expression: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Expression coefficients (num_expression,) and jaw axis-angle (3,).

    With probability EXPRESSION_PROB the coefficients are N(0, EXPRESSION_STD^2) clipped to +-EXPRESSION_CLIP
    (the open model's components are scaled so that its sampled facial actions have unit second moment), else 0;
    with probability JAW_OPEN_PROB the jaw opens by U(JAW_OPEN_RAD) about x, plus N(0, 0.03) on y and z.
    """
    expression = np.zeros(num_expression)
    if rng.random() < EXPRESSION_PROB:
        expression = np.clip(rng.normal(0.0, EXPRESSION_STD, num_expression), -EXPRESSION_CLIP, EXPRESSION_CLIP)
    jaw = np.zeros(3)
    if rng.random() < JAW_OPEN_PROB:
        jaw = np.r_[rng.uniform(*JAW_OPEN_RAD), rng.normal(0.0, 0.03, 2)]
    return expression, jaw
