"""The one reader of weight files: every checkpoint / weights file of the project goes through
:func:`read_weights_file` (our training checkpoints, official 3DCrowdNet / SEFD releases, SEFD teachers,
backbone, RCF and VPoser weights). Callers interpret the object it returns.

It lives at the bottom of ``common/`` (it imports no other project package but ``common.errors``) so that
``common.nets``, ``common.models`` and ``common.engine`` all use it without importing each other.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from common.errors import UserError

# our training checkpoints (common/engine/checkpoint.py writes them; readers recognise them by these)
CHECKPOINT_FORMAT = "crowdmesh-checkpoint"
CHECKPOINT_VERSION = 1
TRAINING_ONLY_PREFIX = "train_aux."  # state_dict keys of training-only modules (FuRPE's distiller, loss weights)


class WeightsFileError(UserError, ValueError):
    """A weights file exists but cannot be unpickled (truncated, random bytes, a disallowed class)."""


def read_weights_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load`` of ``path`` on the CPU, tensors and plain containers only (``weights_only=True``).

    Args:
        path: the file.
        what: what the file is, for the messages (e.g. 'checkpoint', 'RCF weights').
    Raises:
        FileNotFoundError: no such file (callers usually check first, naming their config key).
        WeightsFileError: the file is not a readable torch file; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, random bytes, pickle of a disallowed class, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsFileError(f"{path}: not a readable {what} (truncated or corrupt?): "
                               f"{type(err).__name__}: {reason[:200]}") from None


def is_our_checkpoint(payload: Any) -> bool:
    """True for the dict of one of our training checkpoints (any version)."""
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
