"""Optimizer (Adam over the model's trainable parameters) and the per-iteration LR schedule.

Schedules (``train.lr_schedule``): 'step' multiplies the LR by ``lr_factor`` at each epoch in ``lr_steps`` (the
official 3DCrowdNet schedule); 'cosine' decays it from ``lr`` to ``lr * min_lr_factor`` over the run. Both start
with a linear warm-up over ``warmup_iters`` iterations. The scheduler steps after every optimizer step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from common.config import ConfigError
from common.config.defaults import TrainCfg


def build_optimizer(model: nn.Module, train_cfg: TrainCfg) -> torch.optim.Adam:
    """Adam over ``model``'s parameters that require grad (frozen parts, e.g. a SEFD teacher, are left out).

    Pass the unwrapped model or the DDP wrapper: both expose the same parameters. The fused implementation is
    used where torch has it (float32 on CPU or CUDA): the same update up to float rounding (tests/test_cpu_bf16.py),
    a 3.2x faster step on CPU (``python -m tool.benchmark --only precision``), where the default per-tensor loop was
    ~10 % of a quickstart step.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    fused = all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, fused=fused)


SCHEDULES = ("step", "cosine")


class LRFactor:
    """Multiplier of the base LR at iteration ``it`` (0-based count of optimizer steps done).

    A plain object (not a lambda) so that ``LambdaLR.state_dict()`` records its settings in checkpoints.
    """

    def __init__(self, schedule: str, iters_per_epoch: int, epochs: int, lr_steps: tuple[int, ...] = (),
                 lr_factor: float = 0.1, warmup_iters: int = 0, min_lr_factor: float = 0.0) -> None:
        self.schedule, self.iters_per_epoch, self.epochs = schedule, int(iters_per_epoch), int(epochs)
        self.lr_steps, self.lr_factor = tuple(int(e) for e in lr_steps), float(lr_factor)
        self.warmup_iters, self.min_lr_factor = int(warmup_iters), float(min_lr_factor)

    def __call__(self, it: int) -> float:
        warm = min(1.0, (it + 1) / self.warmup_iters) if self.warmup_iters > 0 else 1.0
        if self.schedule == "step":
            epoch = it // self.iters_per_epoch
            return warm * self.lr_factor ** sum(epoch >= e for e in self.lr_steps)
        total = max(1, self.iters_per_epoch * self.epochs - self.warmup_iters)
        progress = min(1.0, max(0, it - self.warmup_iters) / total)
        return warm * (self.min_lr_factor + (1 - self.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress)))


def build_scheduler(optimizer: torch.optim.Optimizer, train_cfg: TrainCfg,
                    iters_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration schedule of ``train_cfg`` (module docstring); ``iters_per_epoch`` = optimizer steps per
    epoch (after ``max_iters_per_epoch``). Raises ConfigError, naming the key, for a schedule that cannot run."""
    if train_cfg.lr_schedule not in SCHEDULES:
        raise ConfigError(f"train.lr_schedule: must be one of {', '.join(SCHEDULES)}, got {train_cfg.lr_schedule!r}")
    if any(b <= a for a, b in zip(train_cfg.lr_steps, train_cfg.lr_steps[1:])):
        raise ConfigError(f"train.lr_steps: must be increasing epochs, got {list(train_cfg.lr_steps)}")
    if iters_per_epoch < 1:
        raise ConfigError(f"data.batch_size: {iters_per_epoch} training iterations per epoch (the training set is "
                          "smaller than one batch, or train.max_iters_per_epoch is negative)")
    total = iters_per_epoch * train_cfg.epochs
    if train_cfg.warmup_iters >= total:
        raise ConfigError(f"train.warmup_iters: {train_cfg.warmup_iters} warm-up iterations, but the run has only "
                          f"{total} ({train_cfg.epochs} epochs x {iters_per_epoch} iterations)")
    factor = LRFactor(train_cfg.lr_schedule, iters_per_epoch, train_cfg.epochs, train_cfg.lr_steps,
                      train_cfg.lr_factor, train_cfg.warmup_iters, train_cfg.min_lr_factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def lr_at_iteration(scheduler: torch.optim.lr_scheduler.LRScheduler, iteration: int) -> float:
    """LR of the first parameter group at optimizer step ``iteration`` of a :class:`LambdaLR` schedule."""
    return float(scheduler.base_lrs[0] * scheduler.lr_lambdas[0](iteration))


def iterations_per_epoch(loader_length: int, max_iters_per_epoch: int) -> int:
    """Optimizer steps in one epoch: the loader's batches, capped by ``train.max_iters_per_epoch`` (0 = no cap)."""
    return min(loader_length, max_iters_per_epoch) if max_iters_per_epoch > 0 else loader_length


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def amp_enabled(amp: bool, device: torch.device) -> bool:
    """float16 mixed precision (with a GradScaler) only on CUDA: ``train.amp`` is ignored on CPU."""
    return autocast_dtype(amp, False, device) == torch.float16


def autocast_dtype(amp: bool, cpu_bf16: bool, device: torch.device) -> torch.dtype | None:
    """The training forward's autocast dtype, or None for float32.

    CUDA: float16 when ``train.amp`` (losses scaled by the GradScaler). CPU: bfloat16 when ``train.cpu_bf16``
    (float32's exponent range, so no scaler). The models keep the body model, rotation decoding and the running
    IEF parameters in float32 under either (common/models/crowdnet.py, common/models/wholebody/).
    """
    if device.type == "cuda":
        return torch.float16 if amp else None
    return torch.bfloat16 if cpu_bf16 and device.type == "cpu" else None


def training_autocast(amp: bool, cpu_bf16: bool, device: torch.device) -> torch.autocast:
    """A fresh autocast context for one training forward + losses, as :func:`autocast_dtype` decides (disabled
    for float32). The trainer, tool/profile_step.py and the benchmark enter it the same way."""
    dtype = autocast_dtype(amp, cpu_bf16, device)
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def build_grad_scaler(amp: bool, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is active only when AMP is (disabled scalers pass losses and steps through)."""
    enabled = amp_enabled(amp, device)
    return torch.amp.GradScaler("cuda" if enabled else "cpu", enabled=enabled)
