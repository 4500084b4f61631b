"""The training records' SMPL poses, for the constant-prediction references (common/evaluation/references.py)."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from common.errors import UserError


class NoTrainPosesError(UserError, ValueError):
    """No training record carries SMPL parameters, so no mean training pose exists."""


def smpl_poses_of(datasets: Iterable[Any]) -> np.ndarray:
    """(N, 72) SMPL poses of every record with SMPL params in ``datasets`` (objects with ``.records``)."""
    poses = [r.smpl_pose for d in datasets for r in getattr(d, "records", ()) if r.smpl_pose is not None]
    if not poses:
        names = ", ".join(getattr(d, "name", "?") for d in datasets)
        raise NoTrainPosesError(f"data.train_sets ({names}): no record has SMPL parameters, so the mean-pose "
                                "references cannot be computed (set test.references=false)")
    return np.stack([np.asarray(p, dtype=np.float64).reshape(72) for p in poses])


def train_smpl_poses(cfg: Any) -> np.ndarray:
    """(N, 72) SMPL poses of the records of ``data.train_sets`` (adapters only: no images are read)."""
    from data.registry import build_dataset

    return smpl_poses_of([build_dataset(name, "train", cfg, train=False) for name in cfg.data.train_sets])
