"""Optimizer (Adam over the model's trainable parameters) and the epoch-wise step LR schedule."""
from __future__ import annotations

import torch
from torch import nn

from common.config import ConfigError
from common.config.defaults import TrainCfg


def build_optimizer(model: nn.Module, train_cfg: TrainCfg) -> torch.optim.Adam:
    """Adam over ``model``'s parameters that require grad (frozen parts, e.g. a SEFD teacher, are left out).

    Pass the unwrapped model or the DDP wrapper: both expose the same parameters.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    return torch.optim.Adam(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, train_cfg: TrainCfg) -> torch.optim.lr_scheduler.MultiStepLR:
    """LR x ``lr_factor`` at each epoch in ``lr_steps``; the trainer calls ``step()`` once per finished epoch."""
    if any(b <= a for a, b in zip(train_cfg.lr_steps, train_cfg.lr_steps[1:])):
        raise ConfigError(f"train.lr_steps: must be increasing epochs, got {list(train_cfg.lr_steps)}")
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(train_cfg.lr_steps),
                                                gamma=train_cfg.lr_factor)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def amp_enabled(amp: bool, device: torch.device) -> bool:
    """Mixed precision only on CUDA (``train.amp`` is ignored on CPU)."""
    return bool(amp) and device.type == "cuda"


def build_grad_scaler(amp: bool, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is active only when AMP is (disabled scalers pass losses and steps through)."""
    enabled = amp_enabled(amp, device)
    return torch.amp.GradScaler("cuda" if enabled else "cpu", enabled=enabled)
