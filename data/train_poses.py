"""The training records' SMPL poses, for the constant-prediction references (common/evaluation/references.py)."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from common.errors import UserError


class NoTrainPosesError(UserError, ValueError):
    """No training record carries SMPL parameters, so no mean training pose exists."""


_FIELDS = {"smpl": ("smpl_pose", (72,), "SMPL"), "smplx": ("smplx_pose", (55, 3), "SMPL-X")}


def _stack_poses(records: Iterable[Any], names: str, kind: str = "smpl") -> np.ndarray:
    field, shape, label = _FIELDS[kind]
    poses = [getattr(r, field, None) for r in records]
    poses = [p for p in poses if p is not None]
    if not poses:
        raise NoTrainPosesError(f"data.train_sets ({names}): no record has {label} parameters, so the constant-"
                                "prediction references cannot be computed (set test.references=false)")
    return np.stack([np.asarray(p, dtype=np.float64).reshape(shape) for p in poses])


def smpl_poses_of(datasets: Iterable[Any], kind: str = "smpl") -> np.ndarray:
    """Poses of every record with body-model params in ``datasets`` (objects with ``.records``): (N, 72) SMPL
    (``kind`` 'smpl') or (N, 55, 3) SMPL-X ('smplx', absolute fingers)."""
    datasets = list(datasets)
    return _stack_poses((r for d in datasets for r in getattr(d, "records", ())),
                        ", ".join(getattr(d, "name", "?") for d in datasets), kind)


def train_smpl_poses(cfg: Any, kind: str = "smpl") -> np.ndarray:
    """Poses (see :func:`smpl_poses_of`) of the records of ``data.train_sets`` (adapters only: no mapper)."""
    from data.registry import load_records

    names = list(cfg.data.train_sets)
    return _stack_poses((r for name in names for r in load_records(name, "train", cfg)), ", ".join(names), kind)
