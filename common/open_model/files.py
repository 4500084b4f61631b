"""The open model's file names and build parameters: what reading the built files needs, without the builder."""
from __future__ import annotations

from dataclasses import dataclass

SMPL_FILE, SMPL_NPZ_FILE, SMPLX_FILE = "SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "SMPLX_NEUTRAL.npz"
REGRESSORS_FILE, VERTEX_SETS_FILE, MANIFEST_FILE = "joint_regressors.npz", "vertex_sets.json", "manifest.json"


@dataclass(frozen=True)
class BuildParams:
    """Every input of the build that changes its output (all part of the cache key)."""

    num_samples: int = 600  # sampled adult phenotypes (shape PCA and regressor fit)
    seed: int = 0
    num_betas: int = 10
    num_expression: int = 10
    fit_fraction: float = 0.7  # the first 70% of the samples fit the regressors, the rest is held out
    num_candidates: int = 400  # nearest vertices (of adjacent segments) considered per joint by the regressor fit
    hand_samples: int = 20000
    expression_samples: int = 5000
