"""Mid-epoch checkpoints (``train.ckpt_every_iters``) and their exact resume.

What a run consumes inside epoch ``e`` and how a resume at step k reproduces it:

- the sample order: a function of (seed, e) (the sampler's ``set_epoch``); the first k batches are skipped
  by the sampler (``skip_next``, data/mixing.py) or, for a sampler without it, loaded and discarded;
- augmentation: the datasets draw from generators seeded by (seed, e, index) (data/mapper.py), and the train
  loader reseeds the global RNGs per sample (data/seeded.py), so the loader workers' streams carry no state;
- the main process's RNGs (dropout, ...): python/numpy/torch/CUDA states saved per process at step k and
  restored after the loader iterator of the resumed epoch is created (creating it draws the workers' base
  seed from the epoch-seeded torch RNG, as in the uninterrupted run);
- the epoch's running loss sums and the logging window, so the epoch means and logs are the same.

A mid-epoch checkpoint holds these for every process (``mid_epoch`` in the checkpoint); resuming needs the same
number of processes and the same batch size. The model, optimizer, scheduler and scaler states are the usual
checkpoint fields.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from common.engine.checkpoint import CheckpointError
from common.engine.distributed import DistInfo, all_gather_objects
from common.engine.seed import get_rng_state, set_rng_state


@dataclass
class EpochProgress:
    """Where the running epoch stands on this process."""

    step: int = 0  # optimizer steps done in this epoch
    sums: dict = field(default_factory=dict)  # {term: 0-dim tensor} loss sums over the epoch's steps
    window: dict = field(default_factory=dict)  # {term: 0-dim tensor} sums since the last scalar log
    window_steps: int = 0
    rng: dict | None = None  # resume only: RNG states to restore once the epoch's loader iterator exists
    batch_size: int | None = None  # resume only: the interrupted run's batch size (checked against the loader)


def _cpu(values: Mapping[str, Any]) -> dict:
    return {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in values.items()}


def gather_mid_epoch(progress: EpochProgress, batch_size: int | None) -> dict:
    """The ``mid_epoch`` checkpoint entry: the step plus every process's RNG states and loss sums (a collective:
    every process calls it; all get the same dict, rank 0 saves it)."""
    local = {"rng": get_rng_state(), "sums": _cpu(progress.sums), "window": _cpu(progress.window),
             "window_steps": progress.window_steps}
    ranks = all_gather_objects(local)
    return {"step": progress.step, "batch_size": batch_size, "world_size": len(ranks), "ranks": ranks}


def progress_from_checkpoint(mid_epoch: Mapping[str, Any] | None, info: DistInfo,
                             source: str = "checkpoint") -> EpochProgress | None:
    """This process's :class:`EpochProgress` from a checkpoint's ``mid_epoch`` entry (None for an epoch-end one).

    Raises CheckpointError when the number of processes differs from the run that wrote it.
    """
    if not mid_epoch:
        return None
    if int(mid_epoch["world_size"]) != info.world_size:
        raise CheckpointError(f"{source}: mid-epoch checkpoint written by {mid_epoch['world_size']} process(es), "
                              f"this run has {info.world_size}; resume with the same number of processes or from "
                              "an epoch checkpoint (ckpt_epoch*.pth)")
    mine = mid_epoch["ranks"][info.rank]
    return EpochProgress(step=int(mid_epoch["step"]), sums=dict(mine["sums"]), window=dict(mine["window"]),
                         window_steps=int(mine["window_steps"]), rng=mine["rng"], batch_size=mid_epoch["batch_size"])


def epoch_batches(loader: Any, progress: EpochProgress, limit: int,
                  log: Callable[[str], None] = print) -> Iterator[Any]:
    """Iterator over the batches ``progress.step .. limit - 1`` of the current epoch (call after
    ``set_loader_epoch``), then restore ``progress.rng`` (resume) so the steps continue the interrupted run."""
    start = progress.step
    batch_size = getattr(loader, "batch_size", None)
    if start and progress.batch_size is not None and batch_size is not None and progress.batch_size != batch_size:
        raise CheckpointError(f"mid-epoch checkpoint written with batch size {progress.batch_size}, this loader has "
                              f"{batch_size} (data.batch_size); resume with the same or from an epoch checkpoint")
    sampler = getattr(loader, "sampler", None)
    skips = bool(start and batch_size and callable(getattr(sampler, "skip_next", None)))
    if skips:
        sampler.skip_next(start * batch_size)  # the default BatchSampler then yields batches start, start + 1, ...
    batches = iter(loader)
    if start and not skips:
        log(f"resuming at step {start} of the epoch: the sampler cannot skip, loading and discarding {start} batches")
        for _ in itertools.islice(batches, start):
            pass
    if progress.rng is not None:
        set_rng_state(progress.rng)
        progress.rng = None
    return itertools.islice(batches, max(limit - start, 0))
