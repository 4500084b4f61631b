"""Per-sample seeding of the global RNGs, so loader workers carry no RNG state from one sample to the next.

The datasets of this project draw their augmentation from generators seeded by (seed, epoch, index)
(data/mapper.py). Code that uses the global python/numpy/torch RNGs instead would make a sample depend on
which worker loaded it and on what that worker loaded before, which breaks an exact mid-epoch resume
(common/engine/resume.py) and differs with the number of workers. :class:`SeededDataset` runs every
``__getitem__`` with the global RNGs seeded from (seed, epoch, index) and restores the caller's states
afterwards (so with ``num_workers=0`` the main process's streams, e.g. dropout, are untouched by data loading).
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class SeededDataset(Dataset):
    """``dataset[i]`` computed under global RNGs seeded from (seed, epoch, i).

    ``set_epoch`` selects the epoch (and is passed on to ``dataset``); ``datasets`` exposes a ConcatDataset's
    members (``common.engine.seed.set_loader_epoch`` reaches them through it).
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, int(seed) % 2**32, 0

    @property
    def datasets(self) -> tuple:
        return tuple(getattr(self.dataset, "datasets", ()))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if callable(getattr(self.dataset, "set_epoch", None)):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        words = np.random.SeedSequence([self.seed, self.epoch, int(index)]).generate_state(2)
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(int(words[0]))
            np.random.seed(int(words[0]))
            # the CPU generator only (what the mapper draws from and what is restored below): torch.manual_seed
            # would also seed CUDA/XPU/MTIA lazily, formatting a stack trace per sample (~0.8 ms)
            torch.default_generator.manual_seed(int(words[1]))
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
