"""Known-answer tests of the training mixture (data/mixing.py)."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from data.mixing import MixtureError, MixtureSampler, build_mixture, crowdnet_epoch_indices


class _Range(Dataset):
    def __init__(self, n: int, tag: int) -> None:
        self.n, self.tag = n, tag

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"tag": torch.tensor(self.tag), "i": torch.tensor(i)}


def test_crowdnet_scheme_is_half_3d_and_twice_the_larger_group():
    # 3D: h36m 30 + muco 20 = 50; 2D: coco 70 + mpii 10 = 80 -> epoch 160, 80 of each group
    sampler = MixtureSampler([30, 20, 70, 10], [True, True, False, False], names=["h36m", "muco", "coco", "mpii"])
    comp = sampler.composition(0)
    assert sum(comp.values()) == 160 == sampler.total_size() == len(sampler)
    assert comp["h36m"] + comp["muco"] == 80 and comp["coco"] + comp["mpii"] == 80
    assert comp["coco"] == 70 and comp["mpii"] == 10  # the larger group: every sample exactly once


def test_make_same_len_semantics_whole_passes_then_random():
    rng = np.random.Generator(np.random.PCG64(0))
    idx = crowdnet_epoch_indices([3, 8], [True, False], rng)
    assert len(idx) == 16
    small = idx[:8]  # 3D group slots: two whole passes 0,1,2,0,1,2 then 2 random draws
    assert small[:6].tolist() == [0, 1, 2, 0, 1, 2] and set(small[6:].tolist()) <= {0, 1, 2}
    assert idx[8:].tolist() == list(range(3, 11))


def test_single_group_is_plain_concatenation():
    sampler = MixtureSampler([5, 7], [False, False])
    assert sorted(sampler.epoch_indices(3).tolist()) == list(range(12))


def test_deterministic_given_seed_and_epoch_and_changes_across_epochs():
    a = MixtureSampler([10, 25], [True, False], seed=7)
    b = MixtureSampler([10, 25], [True, False], seed=7)
    assert np.array_equal(a.epoch_indices(2), b.epoch_indices(2))
    assert not np.array_equal(a.epoch_indices(2), a.epoch_indices(3))
    assert not np.array_equal(a.epoch_indices(2), MixtureSampler([10, 25], [True, False], seed=8).epoch_indices(2))


def test_ddp_shards_are_disjoint_and_cover_the_epoch():
    shards = [MixtureSampler([40, 23, 9], [True, False, False], seed=1, rank=r, world_size=3) for r in range(3)]
    for s in shards:
        s.set_epoch(4)
    parts = [list(s) for s in shards]
    assert all(len(p) == len(shards[0]) == 80 // 3 for p in parts)
    full = shards[0].epoch_indices(4)[: 3 * (80 // 3)]
    positions = [np.arange(r, len(full), 3) for r in range(3)]
    assert all(full[pos].tolist() == p for pos, p in zip(positions, parts))
    covered = np.sort(np.concatenate(positions))
    assert covered.tolist() == list(range(len(full)))  # every slot of the epoch on exactly one rank


def test_weighted_scheme_counts_and_no_repeat_before_exhaustion():
    sampler = MixtureSampler([100, 10, 50], [True, False, False], weights=[2.0, 1.0, 1.0], epoch_size=40)
    comp = sampler.composition(0)
    assert comp == {"dataset0": 20, "dataset1": 10, "dataset2": 10}
    idx = sampler.epoch_indices(0)
    first = idx[idx < 100]
    assert len(set(first.tolist())) == 20  # 20 distinct of 100: permutation, no repeats
    zero = MixtureSampler([5, 5], [True, False], weights=[1.0, 0.0])
    assert zero.composition(0) == {"dataset0": 10, "dataset1": 0}


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(MixtureError, match="train_weights has 1 values"):
        MixtureSampler([3, 4], [True, False], weights=[1.0])
    with pytest.raises(MixtureError, match="'mpii' is empty"):
        MixtureSampler([3, 0], [True, False], names=["h36m", "mpii"])
    with pytest.raises(MixtureError, match="not all 0"):
        MixtureSampler([3, 4], [True, False], weights=[0.0, 0.0])


def test_build_mixture_feeds_a_dataloader():
    datasets = [_Range(6, 0), _Range(2, 1)]
    concat, sampler = build_mixture(datasets, [True, False], seed=3)
    loader = DataLoader(concat, batch_size=4, sampler=sampler, shuffle=False)
    sampler.set_epoch(1)
    tags = torch.cat([b["tag"] for b in loader])
    assert len(tags) == 12 and int((tags == 0).sum()) == 6 and int((tags == 1).sum()) == 6
