"""The training records' SMPL poses, for the constant-prediction references (common/evaluation/references.py)."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from common.errors import UserError


class NoTrainPosesError(UserError, ValueError):
    """No training record carries SMPL parameters, so no mean training pose exists."""


def _stack_poses(records: Iterable[Any], names: str) -> np.ndarray:
    poses = [r.smpl_pose for r in records if r.smpl_pose is not None]
    if not poses:
        raise NoTrainPosesError(f"data.train_sets ({names}): no record has SMPL parameters, so the mean-pose "
                                "references cannot be computed (set test.references=false)")
    return np.stack([np.asarray(p, dtype=np.float64).reshape(72) for p in poses])


def smpl_poses_of(datasets: Iterable[Any]) -> np.ndarray:
    """(N, 72) SMPL poses of every record with SMPL params in ``datasets`` (objects with ``.records``)."""
    datasets = list(datasets)
    return _stack_poses((r for d in datasets for r in getattr(d, "records", ())),
                        ", ".join(getattr(d, "name", "?") for d in datasets))


def train_smpl_poses(cfg: Any) -> np.ndarray:
    """(N, 72) SMPL poses of the records of ``data.train_sets`` (adapters only: no mapper, no images)."""
    from data.registry import load_records

    names = list(cfg.data.train_sets)
    return _stack_poses((r for name in names for r in load_records(name, "train", cfg)), ", ".join(names))
