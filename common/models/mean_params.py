"""Mean SMPL parameters that regression heads start from (HMR / SPIN mean-parameter initialisation).

File layout is SPIN's ``smpl_mean_params.npz`` so either file works: ``pose`` (144,) = 24 joints x 6D
(``common.geometry.rotations`` 6D convention, the same as SPIN's), ``shape`` (10,) betas, ``cam`` (3,) (stored
for layout compatibility; the 3DCrowdNet camera head does not use it). The embedded world's file,
``assets/mean_params_open.npz``, is written by ``python -m tool.make_mean_params``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d
from common.paths import REPO_ROOT


class MeanParamsError(UserError, ValueError):
    """A mean-parameter file is missing or malformed."""


@dataclass(frozen=True)
class MeanParams:
    """pose6d (24, 6) float32 per-joint 6D rotations (joint 0 = global orientation); betas (10,) float32."""

    pose6d: np.ndarray
    betas: np.ndarray


def resolve_asset_path(path: str) -> Path:
    """A relative path is tried against the working directory, then against the repository root."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


def load_mean_params(path: str) -> MeanParams:
    """Read a SPIN-layout mean-parameter file; one-line errors name the file and the field."""
    file = resolve_asset_path(path)
    try:
        data = np.load(file)
    except (OSError, ValueError) as err:
        raise MeanParamsError(f"{file}: cannot read mean parameters (model.mean_params): {err}") from None
    fields = {"pose": 144, "shape": 10}
    for key, size in fields.items():
        if key not in data.files:
            raise MeanParamsError(f"{file}: no '{key}' array (expected SPIN layout: pose (144,), shape (10,))")
        if data[key].size != size or not np.isfinite(data[key]).all():
            raise MeanParamsError(f"{file}: '{key}' must hold {size} finite numbers, got shape {data[key].shape}")
    return MeanParams(data["pose"].reshape(24, 6).astype(np.float32), data["shape"].reshape(10).astype(np.float32))


def write_mean_params(path: str | Path, pose_axis_angle: np.ndarray, betas: np.ndarray | None = None) -> Path:
    """Write (72,) axis-angle pose and (10,) betas (default 0) in SPIN's layout; returns the path."""
    rotmats = axis_angle_to_matrix(torch.as_tensor(np.asarray(pose_axis_angle, np.float64).reshape(24, 3)))
    pose6d = matrix_to_rot6d(rotmats).numpy().reshape(144)
    betas = np.zeros(10) if betas is None else np.asarray(betas, np.float64).reshape(10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, pose=pose6d.astype(np.float32), shape=betas.astype(np.float32), cam=np.zeros(3, np.float32))
    return path
