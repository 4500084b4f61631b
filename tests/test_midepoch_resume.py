"""Mid-epoch checkpoints (train.ckpt_every_iters): a run killed inside an epoch and resumed from its iteration
checkpoint ends bitwise equal to an uninterrupted run (weights, epoch means, logged losses), with dropout,
augmentation drawn from the global RNGs and loader workers; through the skipping MixtureSampler (the train
loader's) and through a plain sampler (batches replayed)."""
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from common.engine import (
    CheckpointError,
    DistInfo,
    RunLogger,
    TrainingRun,
    TrainState,
    build_grad_scaler,
    build_optimizer,
    build_scheduler,
    fit,
    iterations_per_epoch,
    load_checkpoint,
    seed_everything,
)
from common.engine.resume import EpochProgress, epoch_batches, progress_from_checkpoint
from common.engine.seed import worker_init_fn
from data.mixing import MixtureSampler, build_mixture
from data.seeded import SeededDataset
from engine_fixtures import ToyBodyModel, ToyDataset, ToyModel, make_loader, params_of, toy_config

OPTS = ("train.epochs=2", "train.ckpt_every_iters=3", "train.grad_clip=1.0", "train.keep_last=100")


class Killed(RuntimeError):
    pass


class KillableToyModel(ToyModel):
    """ToyModel whose ``kill_at``-th forward raises (a kill in the middle of an epoch)."""

    def __init__(self, kill_at: int | None = None) -> None:
        super().__init__(ToyBodyModel(), dropout=0.3)
        self.kill_at, self.calls = kill_at, 0

    def forward(self, batch: dict) -> dict:
        self.calls += 1
        if self.calls == self.kill_at:
            raise Killed(f"killed at forward {self.calls}")
        return super().forward(batch)


def _loader(kind: str, seed: int, num_workers: int) -> DataLoader:
    if kind == "plain":  # DistributedSampler: cannot skip, the resume replays the first batches
        return make_loader(ToyDataset(16, augment=True), 4, seed, num_workers=num_workers)
    concat, sampler = build_mixture([ToyDataset(16, augment=True)], [True], seed=seed)  # as data/loader.py
    return DataLoader(SeededDataset(concat, seed), batch_size=4, sampler=sampler, drop_last=True,
                      num_workers=num_workers, worker_init_fn=worker_init_fn)


def _train(cfg, kind, num_workers, resume=None, kill_at=None, forget_rng=False):
    info = DistInfo()
    seed_everything(cfg.experiment.seed, True, info.device)
    model = KillableToyModel(kill_at)
    loader = _loader(kind, cfg.experiment.seed, num_workers)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, iterations_per_epoch(len(loader), cfg.train.max_iters_per_epoch))
    scaler = build_grad_scaler(False, info.device)
    state = TrainState()
    if resume is not None:
        payload = load_checkpoint(resume, model, optimizer, scheduler, scaler, restore_rng=True)
        state = TrainState.from_checkpoint(payload, info)
        if forget_rng:
            state.progress.rng = None
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    logger = RunLogger(run_dir, tensorboard=False)
    try:
        state = fit(TrainingRun(model, loader, optimizer, scheduler, scaler, cfg, run_dir, info, logger,
                                progress=False), state)
    finally:
        logger.close()
    return params_of(model), state


def _records(run_dir, first_iteration):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["iteration"] >= first_iteration]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind,num_workers", [("mixture", 0), ("mixture", 2), ("plain", 0), ("plain", 2)])
def test_kill_and_resume_mid_epoch_is_bitwise_equal(tmp_path, kind, num_workers):
    straight, s_state = _train(toy_config(tmp_path / "a", *OPTS), kind, num_workers)
    with pytest.raises(Killed):  # 4 steps per epoch: killed during step 7 (epoch 2), after ckpt_iter 3 and 6
        _train(toy_config(tmp_path / "b", *OPTS), kind, num_workers, kill_at=7)
    run_b = tmp_path / "b" / "toy"
    assert sorted(p.name for p in run_b.glob("ckpt_*.pth")) == [
        "ckpt_epoch0001.pth", "ckpt_iter00000003.pth", "ckpt_iter00000006.pth"]
    assert (run_b / "latest").read_text().strip() == "ckpt_iter00000006.pth"
    shutil.copytree(run_b, tmp_path / "c" / "toy")
    (tmp_path / "c" / "toy" / "metrics.jsonl").unlink()
    for run, ckpt, first in ((run_b, "ckpt_iter00000006.pth", 7), (tmp_path / "c" / "toy", "ckpt_iter00000003.pth", 4)):
        resumed, r_state = _train(toy_config(run.parent, *OPTS), kind, num_workers, resume=run / ckpt)
        assert (r_state.epoch, r_state.iteration) == (s_state.epoch, s_state.iteration) == (2, 8)
        assert _same(straight, resumed), ckpt
        assert r_state.last_train == s_state.last_train  # epoch means: the partial sums were restored
        logged = _records(tmp_path / "a" / "toy", first)  # and the logged windows
        assert _records(run, first) == logged and len(logged) == (2 if first == 7 else 5)
    # the comparison can fail: a resume that does not restore the RNG states (dropout) ends elsewhere
    shutil.copytree(run_b, tmp_path / "d" / "toy")
    wrong, _ = _train(toy_config(tmp_path / "d", *OPTS), kind, num_workers,
                      resume=tmp_path / "d" / "toy" / "ckpt_iter00000006.pth", forget_rng=True)
    assert not _same(straight, wrong)


def test_mid_epoch_checkpoint_needs_same_processes_and_batch_size(tmp_path):
    cfg = toy_config(tmp_path, "train.epochs=1", "train.ckpt_every_iters=2")
    _train(cfg, "mixture", 0)
    payload = load_checkpoint(tmp_path / "toy" / "ckpt_iter00000002.pth")
    assert payload["epoch"] == 0 and payload["mid_epoch"]["step"] == 2 and payload["mid_epoch"]["world_size"] == 1
    assert load_checkpoint(tmp_path / "toy" / "ckpt_epoch0001.pth")["mid_epoch"] is None
    with pytest.raises(CheckpointError, match="written by 1 process.*this run has 2"):
        progress_from_checkpoint(payload["mid_epoch"], DistInfo(rank=1, world_size=2), "x.pth")
    progress = progress_from_checkpoint(payload["mid_epoch"], DistInfo())
    loader = _loader("mixture", 0, 0)
    loader2 = DataLoader(loader.dataset, batch_size=2, sampler=loader.sampler, drop_last=True)
    with pytest.raises(CheckpointError, match="batch size 4.*has 2"):
        epoch_batches(loader2, progress, 8)


def test_mixture_sampler_skip_applies_to_the_next_iteration_only():
    sampler = MixtureSampler([10, 7], [True, False], seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.skip_next(5)
    assert list(sampler) == full[5:] and list(sampler) == full


def test_seeded_dataset_draws_per_index_and_keeps_caller_rng():
    data = SeededDataset(ToyDataset(6, augment=True), seed=1)
    data.set_epoch(1)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    first = [data[i]["x"] for i in (3, 1, 3)]
    after = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    assert after == (random.random(), np.random.rand(), torch.rand(1))  # loading consumed nothing of the caller's
    assert torch.equal(first[0], first[2]) and not torch.equal(first[0], first[1])
    data.set_epoch(2)
    assert not torch.equal(data[3]["x"], first[0])  # another epoch, other draws


def test_epoch_batches_without_resume_is_the_plain_loader():
    loader = make_loader(ToyDataset(16), 4, 0)
    loader.sampler.set_epoch(0)
    expected = [b["index"] for b in loader][:3]
    got = [b["index"] for b in epoch_batches(loader, EpochProgress(), 3)]
    assert len(got) == 3 and all(torch.equal(a, b) for a, b in zip(got, expected))
    resumed = [b["index"] for b in epoch_batches(loader, EpochProgress(step=2), 3, log=lambda m: None)]
    assert len(resumed) == 1 and torch.equal(resumed[0], expected[2])


def test_iteration_checkpoints_pruned_on_their_own_and_found_without_pointer(tmp_path):
    import os

    from common.engine.checkpoint import checkpoint_path, iteration_checkpoint_path, latest_checkpoint, save_checkpoint

    model = torch.nn.Linear(2, 2)
    for epoch in (1, 2):
        save_checkpoint(checkpoint_path(tmp_path, epoch), model, epoch=epoch, keep_last=1)
    for iteration in (10, 20, 30):
        save_checkpoint(iteration_checkpoint_path(tmp_path, iteration), model, iteration=iteration, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("ckpt_*")) == [
        "ckpt_epoch0002.pth", "ckpt_iter00000020.pth", "ckpt_iter00000030.pth"]
    assert latest_checkpoint(tmp_path).name == "ckpt_iter00000030.pth"
    (tmp_path / "latest").unlink()  # pointer lost: the most recently written of the newest of each kind
    os.utime(tmp_path / "ckpt_epoch0002.pth", ns=(1, 1))
    assert latest_checkpoint(tmp_path).name == "ckpt_iter00000030.pth"
    os.utime(tmp_path / "ckpt_iter00000030.pth", ns=(0, 0))
    assert latest_checkpoint(tmp_path).name == "ckpt_epoch0002.pth"


def test_train_script_resumes_mid_epoch_with_resume_auto(tmp_path):
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "main" / "train.py"
    spec = importlib.util.spec_from_file_location("crowdmesh_train_midepoch", path)
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # dataclasses look their module up
    spec.loader.exec_module(script)
    models = []

    def build(kill_at):
        def components(cfg, info):
            models.append(KillableToyModel(kill_at))
            return script.Components(models[-1], ToyBodyModel(), _loader("mixture", cfg.experiment.seed, 0))
        return components

    straight = script.train(toy_config(tmp_path / "a", *OPTS), DistInfo(), build=build(None), progress=False)
    with pytest.raises(Killed):
        script.train(toy_config(tmp_path / "b", *OPTS), DistInfo(), build=build(4),  # killed during step 4
                     progress=False)
    resumed = script.train(toy_config(tmp_path / "b", *OPTS, "train.resume=auto"), DistInfo(), build=build(None),
                           progress=False)
    assert (resumed.epoch, resumed.iteration) == (2, 8) and resumed.last_train == straight.last_train
    assert _same(params_of(models[0]), params_of(models[-1]))
    log = (tmp_path / "b" / "toy" / "log.txt").read_text()
    assert "ckpt_iter00000003.pth (epoch 0, iteration 3, step 3 of epoch 1)" in log
