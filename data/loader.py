"""Train and test DataLoaders: mixture sampling, DDP sharding, seeded workers, exact epochs.

Call ``common.engine.seed.set_loader_epoch(loader, epoch)`` before iterating an epoch (the trainer does): it
selects both the sample order (sampler) and the augmentation stream (datasets' ``set_epoch``), which is what
makes ``--resume`` reproduce the same batches.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from common.engine.seed import worker_init_fn
from data.mixing import build_mixture
from data.registry import build_dataset
from data.seeded import SeededDataset


class ShardSampler(Sampler[int]):
    """Every index exactly once over all ranks, in order: rank r gets r, r + W, r + 2W, ... (no padding)."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"ShardSampler: rank {rank} outside world size {world_size}")
        self.length, self.rank, self.world_size = int(length), int(rank), int(world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return max(0, math.ceil((self.length - self.rank) / self.world_size))


def build_train_loader(cfg, rank: int = 0, world_size: int = 1, body_model=None) -> DataLoader:
    """Training loader over ``data.train_sets`` mixed per ``data.train_weights`` (see data/mixing.py).

    Each rank gets a disjoint shard of the epoch's shuffled order; batches of ``data.batch_size`` with
    ``drop_last``; ``data.num_workers`` seeded workers. Order and augmentation depend only on
    (experiment.seed, epoch): call ``set_loader_epoch`` before each epoch. The global RNGs are reseeded per sample
    (data/seeded.py) and the sampler can skip (``skip_next``), for exact mid-epoch resumes.
    """
    names = list(cfg.data.train_sets)
    datasets = [build_dataset(name, "train", cfg, train=True, body_model=body_model) for name in names]
    concat, sampler = build_mixture(datasets, [d.has_3d for d in datasets], cfg.data.train_weights,
                                    seed=cfg.experiment.seed, rank=rank, world_size=world_size, names=names)
    return DataLoader(SeededDataset(concat, cfg.experiment.seed), batch_size=cfg.data.batch_size, sampler=sampler,
                      drop_last=True, num_workers=cfg.data.num_workers, worker_init_fn=worker_init_fn,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False)


def build_test_loader(cfg, rank: int = 0, world_size: int = 1, body_model=None, name: str | None = None,
                      subset: str | None = None, split: str = "test") -> DataLoader:
    """Evaluation loader: no augmentation, no shuffling, no dropping; every sample once over all ranks.

    Defaults to ``data.test_set`` / ``data.test_subset``; batch size ``test.batch_size``.
    """
    dataset = build_dataset(name or cfg.data.test_set, split, cfg, train=False, body_model=body_model,
                            subset=cfg.data.test_subset if subset is None else subset)
    return DataLoader(dataset, batch_size=cfg.test.batch_size, sampler=ShardSampler(len(dataset), rank, world_size),
                      drop_last=False, num_workers=cfg.data.num_workers, worker_init_fn=worker_init_fn,
                      pin_memory=torch.cuda.is_available())
