"""Training mixtures of several datasets: 3DCrowdNet's 3D/2D 50/50 scheme or explicit per-dataset weights.

**3DCrowdNet / SEFD scheme** (``weights`` empty). Their trainer wraps the 3D sets (H36M, MuCo, ...) in
``MultipleDatasets(make_same_len=False)`` (plain concatenation), the 2D sets (MSCOCO, MPII, CrowdPose, ...) the same
way, then both groups in ``MultipleDatasets(make_same_len=True)`` and shuffles with the DataLoader. The
``make_same_len`` semantics (Pose2Mesh / I2L-MeshNet lineage): with ``L = max(len(group))``, the epoch has
``num_groups * L`` samples; group ``g`` fills its ``L`` slots with positions ``k < len_g * (L // len_g)`` mapped to
``k % len_g`` (whole passes over the smaller group, in order) and the remaining ``L mod len_g`` slots with uniform
random draws (with replacement). So each epoch is exactly 50% 3D / 50% 2D samples, is ``2 x`` the larger group,
and within a group every dataset is seen in proportion to its size. With a single non-empty group it degrades to
the plain concatenation (each sample once per epoch), as in the original.

**Weighted scheme** (``data.train_weights``, one weight per dataset): dataset ``i`` gets ``round(N * w_i / sum w)``
samples per epoch (largest-remainder rounding), ``N`` = the summed dataset lengths unless ``epoch_size`` is given;
inside a dataset the samples are successive random permutations, so nothing repeats before the dataset is
exhausted.

Both are deterministic given ``(seed, epoch)`` (a PCG64 stream seeded with both) and identical on every rank;
under DDP rank ``r`` of ``W`` takes ``order[r::W]`` of the first ``W * (N // W)`` shuffled indices, so the shards are
disjoint (at most ``W - 1`` samples per epoch are left out).
"""
from __future__ import annotations

import logging
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import ConcatDataset, Dataset, Sampler

from common.errors import UserError

logger = logging.getLogger(__name__)


class MixtureError(UserError, ValueError):
    """Inconsistent mixture arguments (lengths, flags, weights)."""


def _check_lengths(lengths: Sequence[int], names: Sequence[str]) -> None:
    for name, n in zip(names, lengths):
        if n <= 0:
            raise MixtureError(f"mixture: dataset '{name}' is empty (length {n}); remove it from data.train_sets")


def crowdnet_epoch_indices(lengths: Sequence[int], is_3d: Sequence[bool], rng: np.random.Generator) -> np.ndarray:
    """Unshuffled global indices (into the concatenation of all datasets, in the given order) of one epoch of the
    3DCrowdNet 3D/2D scheme. Returns (E,) int64 with E = 2 * max(len 3D group, len 2D group) when both groups are
    non-empty, else the plain concatenation."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flags = np.asarray(is_3d, dtype=bool)
    groups = [np.concatenate([np.arange(n) + o for n, o in zip(lengths[m], offsets[m])])
              for m in (flags, ~flags) if m.any()]
    if len(groups) == 1:
        return groups[0].astype(np.int64)
    longest = max(len(g) for g in groups)
    parts = []
    for members in groups:
        n = len(members)
        whole = n * (longest // n)  # slots covered by whole passes, in order (k % n)
        pos = np.arange(longest)
        local = np.where(pos < whole, pos % n, 0)
        extra = longest - whole
        if extra:
            local[whole:] = rng.integers(0, n, size=extra)  # the 'last batch' of the original: random draws
        parts.append(members[local])
    return np.concatenate(parts).astype(np.int64)


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def weighted_epoch_indices(lengths: Sequence[int], weights: Sequence[float], epoch_size: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Unshuffled global indices of one epoch where dataset i contributes ``round(epoch_size * w_i / sum w)``
    samples drawn as successive random permutations of that dataset. Returns (epoch_size,) int64."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    counts = _largest_remainder(epoch_size, np.asarray(weights, dtype=np.float64))
    parts = []
    for n, offset, count in zip(lengths, offsets, counts):
        if count == 0:
            continue
        passes = [rng.permutation(n) for _ in range(-(-int(count) // int(n)))]
        parts.append(np.concatenate(passes)[:count] + offset)
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


class MixtureSampler(Sampler[int]):
    """Sampler over ``ConcatDataset(datasets)`` implementing one of the two mixing schemes (module docstring).

    Args:
        lengths: number of samples of each dataset, in ConcatDataset order.
        is_3d: per dataset, True for sets with 3D supervision (used by the 50/50 scheme).
        weights: per-dataset sampling weights (>= 0, not all 0); empty = 3DCrowdNet 3D/2D scheme.
        seed: mixture seed; the order of epoch ``e`` depends only on (seed, e).
        rank, world_size: this process's shard under DDP (1 process: 0, 1).
        epoch_size: samples per epoch (all ranks together) for the weighted scheme; default sum(lengths).
        names: dataset names for messages and :meth:`composition`.
    """

    def __init__(self, lengths: Sequence[int], is_3d: Sequence[bool], weights: Sequence[float] = (),
                 seed: int = 0, rank: int = 0, world_size: int = 1, epoch_size: int | None = None,
                 names: Sequence[str] | None = None) -> None:
        self.lengths = [int(n) for n in lengths]
        self.names = list(names) if names is not None else [f"dataset{i}" for i in range(len(self.lengths))]
        if not self.lengths:
            raise MixtureError("mixture: no training datasets (data.train_sets is empty)")
        if len(is_3d) != len(self.lengths) or len(self.names) != len(self.lengths):
            raise MixtureError(f"mixture: {len(self.lengths)} datasets but {len(is_3d)} is_3d flags / "
                               f"{len(self.names)} names")
        _check_lengths(self.lengths, self.names)
        self.is_3d = [bool(f) for f in is_3d]
        self.weights = [float(w) for w in weights]
        if self.weights:
            if len(self.weights) != len(self.lengths):
                raise MixtureError(f"data.train_weights has {len(self.weights)} values for "
                                   f"{len(self.lengths)} data.train_sets ({', '.join(self.names)})")
            if any(w < 0 or not np.isfinite(w) for w in self.weights) or sum(self.weights) <= 0:
                raise MixtureError(f"data.train_weights must be finite, >= 0 and not all 0, got {self.weights}")
        if not 0 <= rank < world_size:
            raise MixtureError(f"mixture: rank {rank} outside world size {world_size}")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch_size = int(epoch_size) if epoch_size else sum(self.lengths)
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next iteration yields (call before each epoch, as with DDP)."""
        self.epoch = int(epoch)

    def skip_next(self, count: int) -> None:
        """Make the next iteration (only) start after its first ``count`` indices: a mid-epoch resume
        (common/engine/resume.py) continues the epoch's order without loading the samples already trained on."""
        if count < 0:
            raise MixtureError(f"mixture: cannot skip {count} samples")
        self._skip = int(count)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """(N,) int64 shuffled global indices of ``epoch`` for all ranks together (before sharding)."""
        rng = np.random.Generator(np.random.PCG64([self.seed, int(epoch)]))
        if self.weights:
            order = weighted_epoch_indices(self.lengths, self.weights, self.epoch_size, rng)
        else:
            order = crowdnet_epoch_indices(self.lengths, self.is_3d, rng)
        return order[rng.permutation(len(order))]

    def shard(self, epoch: int) -> np.ndarray:
        """(N // world_size,) int64 indices this rank visits in ``epoch``."""
        order = self.epoch_indices(epoch)
        usable = (len(order) // self.world_size) * self.world_size
        return order[:usable][self.rank::self.world_size]

    def composition(self, epoch: int | None = None) -> dict[str, int]:
        """Samples per dataset in ``epoch`` (default: the current one), all ranks together."""
        order = self.epoch_indices(self.epoch if epoch is None else epoch)
        bounds = np.cumsum(self.lengths)
        counts = np.bincount(np.searchsorted(bounds, order, side="right"), minlength=len(self.lengths))
        return {name: int(c) for name, c in zip(self.names, counts)}

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return iter(self.shard(self.epoch)[skip:].tolist())

    def __len__(self) -> int:
        return self.total_size() // self.world_size

    def total_size(self) -> int:
        """Samples per epoch, all ranks together (before dropping the ``< world_size`` remainder)."""
        if self.weights:
            return self.epoch_size
        sizes = [sum(n for n, f in zip(self.lengths, self.is_3d) if f == flag) for flag in (True, False)]
        sizes = [s for s in sizes if s > 0]
        return sizes[0] if len(sizes) == 1 else 2 * max(sizes)


def build_mixture(datasets: Sequence[Dataset], is_3d: Sequence[bool], weights: Sequence[float] = (),
                  seed: int = 0, rank: int = 0, world_size: int = 1, epoch_size: int | None = None,
                  names: Sequence[str] | None = None) -> tuple[ConcatDataset, MixtureSampler]:
    """Concatenate ``datasets`` and build the sampler of the chosen scheme (see the module docstring).

    Returns ``(ConcatDataset, MixtureSampler)``: give both to a DataLoader (``shuffle=False``) and call
    ``sampler.set_epoch(e)`` before each epoch. A DataLoader index ``i`` of the ConcatDataset addresses dataset
    ``bisect(cumulative_sizes, i)``; the mixture logs its per-dataset composition of epoch 0.
    """
    sampler = MixtureSampler([len(d) for d in datasets], is_3d, weights, seed, rank, world_size, epoch_size,
                             names)
    scheme = "weighted " + str(dict(zip(sampler.names, sampler.weights))) if weights else "3DCrowdNet 3D/2D 50/50"
    logger.info("training mixture (%s): %s samples per epoch, composition %s", scheme,
                sampler.total_size(), sampler.composition(0))
    return ConcatDataset(list(datasets)), sampler
