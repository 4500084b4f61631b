"""Toy body model, dataset and model satisfying the engine contracts, so engine tests need no real parts.

- ToyBodyModel: ``__call__(global_orient, body_pose, betas) -> (vertices, joints)``, ``regress(vertices, name)``
  for 'h36m17' and 'crowdnet30', ``faces``; a rigid random template rotated by ``global_orient`` plus linear
  pose/shape offsets.
- ToyDataset: ``x`` (D,) features fixed per index; GT SMPL params are linear in ``x``; optional random
  augmentation drawn from the torch *and* numpy global RNGs (exercises RNG restoring); ``index``, ``occlusion``.
- ToyModel: MLP (optional dropout) -> pose (72) and betas (10) -> ``vertices`` through the body model;
  ``losses`` = L1 on pose and betas.
"""
from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from common.config import load_config
from common.engine.seed import worker_init_fn
from common.geometry.rotations import axis_angle_to_matrix

BodyOutput = namedtuple("BodyOutput", ["vertices", "joints"])
NUM_VERTS = 32
FEATURES = 16


class ToyBodyModel(nn.Module):
    """Deterministic toy mesh model (no learnable parameters; all tensors are buffers)."""

    def __init__(self, num_verts: int = NUM_VERTS, seed: int = 7) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("template", torch.randn(num_verts, 3, generator=gen) * 0.3)
        self.register_buffer("shapedirs", torch.randn(num_verts, 3, 10, generator=gen) * 0.01)
        self.register_buffer("posedirs", torch.randn(num_verts, 3, 69, generator=gen) * 0.01)
        regs = {name: torch.rand(n, num_verts, generator=gen) ** 4 for name, n in (("h36m17", 17), ("crowdnet30", 30))}
        for name, reg in regs.items():
            self.register_buffer(f"reg_{name}", reg / reg.sum(1, keepdim=True))
        self.register_buffer("faces", torch.randint(0, num_verts, (20, 3), generator=gen))

    def forward(self, global_orient, body_pose, betas, transl=None) -> BodyOutput:
        rest = self.template + torch.einsum("vck,bk->bvc", self.shapedirs, betas) \
            + torch.einsum("vck,bk->bvc", self.posedirs, body_pose)
        verts = rest @ axis_angle_to_matrix(global_orient).transpose(1, 2)
        if transl is not None:
            verts = verts + transl[:, None]
        return BodyOutput(verts, self.regress(verts, "crowdnet30"))

    def regress(self, vertices: torch.Tensor, name: str) -> torch.Tensor:
        reg = getattr(self, f"reg_{name}")
        return torch.einsum("jv,bvc->bjc", reg.to(vertices.dtype), vertices)


class ToyDataset(Dataset):
    """``size`` samples; every key of the batch contract the engine and MeshEvaluator read."""

    def __init__(self, size: int = 16, augment: bool = False, seed: int = 3) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, FEATURES, generator=gen)
        mix_pose = torch.randn(FEATURES, 72, generator=gen) * 0.05
        mix_betas = torch.randn(FEATURES, 10, generator=gen) * 0.2
        self.pose, self.betas = self.x @ mix_pose, self.x @ mix_betas
        self.occlusion = torch.linspace(0.0, 0.5, size)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i].clone()
        if self.augment:  # both global RNGs, as real augmentation code does
            x = x * float(np.random.uniform(0.9, 1.1)) + 0.05 * torch.randn(FEATURES)
        return {"x": x, "smpl_pose": self.pose[i], "smpl_betas": self.betas[i], "smpl_valid": torch.tensor(1.0),
                "smpl_gender": torch.tensor(0), "occlusion": self.occlusion[i], "index": torch.tensor(i)}


class ToyModel(nn.Module):
    """x -> (pose, betas) -> vertices; dropout makes training consume the torch RNG."""

    def __init__(self, body_model: ToyBodyModel, dropout: float = 0.0, hidden: int = 32) -> None:
        super().__init__()
        self.body_model = body_model
        self.net = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 82))

    def forward(self, batch: dict) -> dict:
        out = self.net(batch["x"])
        pose, betas = out[:, :72], out[:, 72:]
        verts = self.body_model(pose[:, :3], pose[:, 3:], betas).vertices
        return {"pose": pose, "betas": betas, "vertices": verts}

    def losses(self, batch: dict, preds: dict) -> dict:
        return {"pose_param": (preds["pose"] - batch["smpl_pose"]).abs().mean(),
                "shape_param": (preds["betas"] - batch["smpl_betas"]).abs().mean()}


def make_loader(dataset: Dataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                shuffle: bool = True, num_workers: int = 0) -> DataLoader:
    """Loader whose order is a function of (seed, epoch) via DistributedSampler.set_epoch (any world size)."""
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      worker_init_fn=worker_init_fn)


def toy_config(tmp_dir: str | Path, *opts: str):
    """Config for toy runs in ``tmp_dir`` (CPU, no tensorboard-heavy logging unless asked)."""
    base = [f"experiment.output_dir={tmp_dir}", "experiment.name=toy", "experiment.device=cpu",
            "train.lr=0.01", "train.lr_steps=[1]", "train.lr_factor=0.5", "train.epochs=2", "train.log_every=2",
            "train.image_log_every=0", "train.eval_every=0", "train.keep_last=2", "data.batch_size=4"]
    return load_config(None, base + list(opts))


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run_toy_training(cfg, rank: int = 0, world_size: int = 1, dropout: float = 0.0, augment: bool = False,
                     num_workers: int = 0, resume: str | None = None, eval_size: int = 0):
    """Build the toy parts from ``cfg`` and train (the sequence main/train.py follows); returns
    (final state dict, TrainState, last evaluation summary or None)."""
    from common.engine import (
        RunLogger,
        TrainingRun,
        TrainState,
        build_grad_scaler,
        build_optimizer,
        build_scheduler,
        evaluate,
        fit,
        iterations_per_epoch,
        load_checkpoint,
        seed_everything,
        wrap_model,
    )
    from common.engine.distributed import DistInfo
    from common.evaluation import MeshEvaluator

    info = DistInfo(rank=rank, world_size=world_size, device=torch.device("cpu"))
    seed_everything(cfg.experiment.seed, cfg.experiment.deterministic, info.device)
    body = ToyBodyModel()
    model = ToyModel(body, dropout=dropout)
    loader = make_loader(ToyDataset(16, augment), cfg.data.batch_size, cfg.experiment.seed, rank, world_size,
                         num_workers=num_workers)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train,
                                iterations_per_epoch(len(loader), cfg.train.max_iters_per_epoch))
    scaler = build_grad_scaler(cfg.train.amp, info.device)
    state = TrainState()
    if resume:
        payload = load_checkpoint(resume, model, optimizer, scheduler, scaler, restore_rng=True)
        state = TrainState.from_checkpoint(payload, info)
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    logger = RunLogger(run_dir, enabled=info.is_main, tensorboard=cfg.train.image_log_every > 0)
    wrapped = wrap_model(model, info)
    state = fit(TrainingRun(wrapped, loader, optimizer, scheduler, scaler, cfg, run_dir, info, logger, progress=False),
                state)
    summary = None
    if eval_size:
        test_loader = make_loader(ToyDataset(eval_size), 3, 0, rank, world_size, shuffle=False)
        evaluator = MeshEvaluator(body, output_dir=run_dir / "eval")
        summary = evaluate(wrapped, test_loader, evaluator, info.device, progress=False)
    logger.close()
    return params_of(model), state, summary


def ddp_worker(rank: int, world_size: int, port: int, tmp_dir: str, result_path: str) -> None:
    """Entry point of one spawned DDP process: gloo on CPU, train the toy, rank 0 saves the results."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from common.engine.distributed import cleanup_distributed, init_distributed

    info = init_distributed("cpu")
    try:
        cfg = toy_config(tmp_dir, f"data.batch_size={4 // world_size}")
        params, state, summary = run_toy_training(cfg, info.rank, info.world_size, eval_size=11)
        if info.is_main:
            torch.save({"params": params, "train": state.last_train, "eval": summary}, result_path)
    finally:
        cleanup_distributed()
