"""Helpers of tests/test_ddp_model.py: the real regressor trained by the real loop, in one process or as one of
two gloo processes (spawned), on fixed samples whose loss masks differ between the processes; plus the
cross-process pieces (masked_l1 normalisation, NodewiseLinearBN synced statistics) checked on their own."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.utils.data import Dataset

from common.engine.distributed import DistInfo, all_gather_objects, all_reduce_mean
from engine_fixtures import make_loader, params_of, toy_config
from model_fixtures import TinySMPL, random_batch

INPUT_SIZE = 64
NUM_SAMPLES = 8


class ListDataset(Dataset):
    def __init__(self, samples: list[dict]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


def make_samples() -> list[dict]:
    """8 samples; with an unshuffled sampler rank 1 of 2 gets the odd ones, which are sparsely labelled (few
    valid 2D/3D joints, two without SMPL), so per-process valid counts differ a lot."""
    batch = random_batch(TinySMPL(0), NUM_SAMPLES, INPUT_SIZE, seed=1)
    gen = torch.Generator().manual_seed(5)
    for i in range(NUM_SAMPLES):
        keep = 0.9 if i % 2 == 0 else 0.25
        batch["joints2d_valid"][i] = (torch.rand(30, generator=gen) < keep).float()
        batch["joints3d_valid"][i] = (torch.rand(30, generator=gen) < keep - 0.1).float()
    batch["smpl_valid"][[1, 5]] = 0
    return [{k: v[i] for k, v in batch.items()} for i in range(NUM_SAMPLES)]


def build_model():
    from common.models import CrowdNetRegressor

    torch.manual_seed(0)
    return CrowdNetRegressor(TinySMPL(0), backbone="resnet18", input_size=INPUT_SIZE, graph_hidden=16, graph_blocks=1)


def calibrated_state(path: str | Path) -> None:
    """Initial weights with BatchNorm running statistics measured on the samples (frozen BN then normalises)."""
    model = build_model().train()
    full = torch.utils.data.default_collate(make_samples())
    with torch.no_grad():
        for _ in range(10):
            model(full)
    torch.save(model.state_dict(), path)


def real_model_config(tmp_dir: str | Path, batch_size: int):
    return toy_config(tmp_dir, f"data.batch_size={batch_size}", "train.freeze_bn=true", "train.lr=1e-4",
                      "train.lr_steps=[]", "train.log_every=1", "train.ckpt_every=1000", "data.input_size=64")


def train_real_model(cfg, state_path: str | Path, rank: int = 0, world_size: int = 1):
    """Train the regressor with the engine (fit, BatchNorm frozen); returns (final state dict, TrainState)."""
    from common.engine import (
        RunLogger,
        TrainingRun,
        build_grad_scaler,
        build_optimizer,
        build_scheduler,
        fit,
        wrap_model,
    )
    from common.engine.batchnorm import prepare_batchnorm

    info = DistInfo(rank=rank, world_size=world_size, device=torch.device("cpu"))
    model = build_model()
    model.load_state_dict(torch.load(state_path, weights_only=True))
    model = prepare_batchnorm(model, cfg.train, info)
    loader = make_loader(ListDataset(make_samples()), cfg.data.batch_size, 0, rank, world_size, shuffle=False)
    optimizer = build_optimizer(model, cfg.train)
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    logger = RunLogger(run_dir, enabled=info.is_main, tensorboard=False)
    state = fit(TrainingRun(wrap_model(model, info), loader, optimizer,
                            build_scheduler(optimizer, cfg.train, len(loader)), build_grad_scaler(False, info.device),
                            cfg, run_dir, info, logger, progress=False))
    logger.close()
    return params_of(model), state


def masked_l1_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(16, 10) pred, target, mask: rows 0-7 densely valid, rows 8-15 sparsely (one row with none)."""
    gen = torch.Generator().manual_seed(2)
    pred, target = torch.randn(16, 10, generator=gen), torch.randn(16, 10, generator=gen)
    mask = torch.rand(16, 10, generator=gen) < torch.tensor([0.9] * 8 + [0.2] * 8)[:, None]
    mask[12] = False
    return pred, target, mask


def masked_l1_across(rank: int, world_size: int) -> dict:
    """This process's half of :func:`masked_l1_case`: rank-averaged value (normalised across processes and per
    process) and the gradient of the rank-averaged loss w.r.t. the rows, gathered in rank order."""
    from common.models.losses import masked_l1

    pred, target, mask = masked_l1_case()
    rows = slice(rank * 16 // world_size, (rank + 1) * 16 // world_size)
    part = pred[rows].clone().requires_grad_(True)
    value = masked_l1(part, target[rows], mask[rows])
    value.backward()
    grad = part.grad / world_size  # DDP averages the processes' gradients: d(mean over processes of the losses)
    local = float(masked_l1(part, target[rows], mask[rows], across_processes=False))
    means = all_reduce_mean({"across": float(value), "local": local}, torch.device("cpu"))
    return {**means, "grad": torch.cat(all_gather_objects(grad))}


def nodewise_bn_step(rank: int = 0, world_size: int = 1) -> dict:
    """One training step of a synced NodewiseLinearBN (DDP-wrapped when distributed) on this process's rows of a
    fixed (8, 5, 6) input: outputs of all processes, parameter gradients and running statistics."""
    from common.engine.batchnorm import prepare_batchnorm
    from common.engine.distributed import wrap_model
    from common.nets.rotation_net import NodewiseLinearBN

    gen = torch.Generator().manual_seed(4)
    x, w = torch.randn(8, 5, 6, generator=gen), torch.randn(8, 5, 4, generator=gen)  # w per sample: a loss
    # linear in y with the same weight for every sample has zero gradient through batch norm
    torch.manual_seed(3)
    layer = NodewiseLinearBN(5, 6, 4)
    info = DistInfo(rank=rank, world_size=world_size)
    wrapped = wrap_model(prepare_batchnorm(layer, SimpleNamespace(sync_bn=True, freeze_bn=False), info), info)
    rows = slice(rank * 8 // world_size, (rank + 1) * 8 // world_size)
    y = wrapped(x[rows])
    ((y * w[rows]).sum() / len(y)).backward()
    grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
    return {"y": torch.cat(all_gather_objects(y.detach())), "grads": grads, "running_mean": layer.running_mean.clone(),
            "running_var": layer.running_var.clone(), "synced": layer.sync_stats}


def real_model_worker(rank: int, world_size: int, port: int, tmp_dir: str, state_path: str, result_path: str) -> None:
    """One spawned gloo process: the piece checks, then the regressor with batch 4 / world_size."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from common.engine.distributed import cleanup_distributed, init_distributed

    info = init_distributed("cpu")
    try:
        masked = masked_l1_across(info.rank, info.world_size)
        nodewise = nodewise_bn_step(info.rank, info.world_size)
        cfg = real_model_config(tmp_dir, 4 // world_size)
        params, state = train_real_model(cfg, state_path, info.rank, info.world_size)
        if info.is_main:
            torch.save({"params": params, "train": state.last_train, "iteration": state.iteration,
                        "masked": masked, "nodewise": nodewise}, result_path)
    finally:
        cleanup_distributed()
