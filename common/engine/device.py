"""Resolve the ``experiment.device`` string to a :class:`torch.device`."""
from __future__ import annotations

import re

import torch

from common.errors import UserError


class DeviceError(UserError, ValueError):
    """The requested device does not exist on this machine or is misspelled."""


def resolve_device(spec: str = "auto", local_rank: int | None = None) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device.

    'auto' picks CUDA when available, else CPU. Under DDP (``local_rank`` given) 'auto'/'cuda' mean
    ``cuda:<local_rank>`` so that every process drives its own GPU.
    Raises:
        DeviceError: unknown spelling, CUDA requested without CUDA, or a GPU index that does not exist.
    """
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise DeviceError(f"experiment.device: '{spec}' is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"experiment.device: '{spec}' requested but CUDA is not available on this machine")
    index = int(match.group(1)) if match.group(1) is not None else (local_rank or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"experiment.device: cuda:{index} requested but only {torch.cuda.device_count()} GPU(s) are visible"
        )
    return torch.device("cuda", index)


def configure_cpu_threads(num_threads: int) -> None:
    """Set the intra-op CPU threads of this process (0 = keep PyTorch's default, one per core).

    On a small CPU box that also runs data-loader workers (or other jobs), one compute thread is often several
    times faster than two: OpenMP threads spin at every barrier while a worker holds the other core.
    """
    if num_threads < 0:
        raise DeviceError(f"experiment.num_threads: {num_threads} must be >= 0 (0 = PyTorch default)")
    if num_threads:
        torch.set_num_threads(num_threads)
