"""Seeding and RNG state: every random stream is a function of (seed, epoch, rank), so runs and resumes repeat.

The trainer reseeds python/numpy/torch at the start of every epoch from (seed, epoch, rank) and tells the
loader's sampler the epoch; the shuffle order and the augmentation draws of an epoch therefore do not depend on
how many epochs ran in this process, which is what makes ``--resume`` reproduce an uninterrupted run.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch (CPU and all CUDA devices) and set cuDNN flags.

    ``deterministic`` turns cuDNN autotuning off (and its deterministic mode on); on CPU runs (``device`` None or
    CPU) it also asks torch for deterministic algorithms. CUDA runs are not forced fully deterministic (slow
    kernels, CUBLAS_WORKSPACE_CONFIG); bitwise repeatability is a CPU guarantee.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if device is None or torch.device(device).type == "cpu":
        torch.use_deterministic_algorithms(deterministic, warn_only=True)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A well-mixed 32-bit seed derived from (seed, epoch, rank); distinct ranks get independent streams."""
    return int(np.random.SeedSequence([seed % 2**32, epoch, rank]).generate_state(1)[0])


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """Reseed python/numpy/torch for ``epoch`` (called by the trainer before each epoch)."""
    value = epoch_seed(seed, epoch, rank)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and python from the per-worker torch seed.

    Torch gives worker ``i`` the seed ``base_seed + i`` where ``base_seed`` is drawn from the (epoch-seeded)
    torch RNG when the loader iterator is created, so worker augmentations are reproducible too. Do not use
    ``persistent_workers=True`` with this scheme (workers would not be reseeded per epoch).
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Tell the loader's sampler and datasets (those with ``set_epoch``) the epoch: order = f(seed, epoch)."""
    dataset = getattr(loader, "dataset", None)
    candidates = [getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None), dataset,
                  *getattr(dataset, "datasets", ())]  # ConcatDataset members
    seen: set[int] = set()
    for obj in candidates:
        if obj is not None and id(obj) not in seen and callable(getattr(obj, "set_epoch", None)):
            seen.add(id(obj))
            obj.set_epoch(epoch)


def get_rng_state() -> dict:
    """Python, numpy, torch CPU and (if initialised) CUDA RNG states, as checkpoint-safe plain types."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a state produced by :func:`get_rng_state` (CUDA part only when CUDA is available)."""
    random.setstate(state["python"])
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
