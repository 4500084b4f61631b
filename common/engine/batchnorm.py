"""BatchNorm under DDP: statistics over all processes (``train.sync_bn``) or frozen (``train.freeze_bn``).

In training mode BatchNorm normalises with the statistics of the batch it sees, i.e. of one process's B/W
samples under DDP, so W processes x B/W do not compute what one process x B does. ``train.sync_bn`` (default
on; only acts under DDP):

- CUDA: every ``nn.BatchNorm*`` becomes ``nn.SyncBatchNorm`` (statistics over all processes);
- every layer marked ``batchnorm_like`` with a ``sync_stats`` switch (``NodewiseLinearBN``, which calls
  F.batch_norm itself and is not reached by the conversion) syncs its own statistics, on any backend;
- CPU (gloo): torch's SyncBatchNorm needs CUDA, so the ``nn.BatchNorm*`` statistics stay per process (one log
  line says so). ``train.freeze_bn`` makes every BatchNorm use its running statistics (eval mode) while the
  rest trains: then W processes equal one process on CPU as well.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from common.engine.distributed import DistInfo


def is_batchnorm(module: nn.Module) -> bool:
    """nn.BatchNorm*/SyncBatchNorm, or a custom layer that declares ``batchnorm_like = True``."""
    return isinstance(module, _BatchNorm) or bool(getattr(module, "batchnorm_like", False))


def prepare_batchnorm(model: nn.Module, train_cfg: Any, info: DistInfo,
                      log: Callable[[str], None] = print) -> nn.Module:
    """Apply ``train.sync_bn`` before DDP wrapping and before building the optimizer; returns the model.

    Single process or ``sync_bn`` off: the model unchanged. Under DDP the custom layers sync on every backend;
    ``nn.BatchNorm*`` become ``nn.SyncBatchNorm`` on CUDA and stay per process on CPU (logged). The conversion
    keeps the parameter and buffer tensors, so the state_dict keys and values are unchanged.
    """
    if not info.distributed or not train_cfg.sync_bn:
        return model
    custom = [m for m in model.modules() if is_batchnorm(m) and hasattr(m, "sync_stats")]
    for module in custom:
        module.sync_stats = True
    plain = sum(isinstance(m, _BatchNorm) for m in model.modules())
    if info.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        log(f"train.sync_bn: {plain} BatchNorm layers -> SyncBatchNorm, {len(custom)} graph BatchNorm layers "
            f"synced, over {info.world_size} processes")
    elif plain and not train_cfg.freeze_bn:
        log(f"train.sync_bn: SyncBatchNorm needs CUDA; on {info.device.type} (gloo) {plain} BatchNorm layers keep "
            f"per-process batch statistics ({len(custom)} graph BatchNorm layers are synced); set train.freeze_bn=true "
            "for results equal to one process")
    return model


def freeze_batchnorm(model: nn.Module) -> int:
    """Put every BatchNorm layer (see :func:`is_batchnorm`) in eval mode: running statistics are used and not
    updated; their affine parameters still train. Call after ``model.train()``. Returns the number frozen."""
    frozen = 0
    for module in model.modules():
        if is_batchnorm(module):
            module.eval()
            frozen += 1
    return frozen
