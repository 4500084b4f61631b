"""Precise BatchNorm statistics: recompute running mean/var as a true average over training batches.

During training the running statistics are an exponential average over the last ~10 steps, taken while the
weights were still moving, so in a short run they lag the final weights and evaluation (eval-mode BN) is worse
than the network is. Before each checkpoint/evaluation the trainer can re-estimate them with the final weights
on ``train.precise_bn_batches`` training batches (the detectron2 PreciseBN idea): reset, then accumulate with
momentum 1/k at the k-th batch, which makes the running values the plain mean of the batch statistics.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable

import torch
from torch import nn


def _bn_modules(model: nn.Module) -> list[nn.Module]:
    """Modules with trainable-mode running statistics: torch BatchNorm and the graph conv's stacked BN."""
    return [m for m in model.modules() if isinstance(getattr(m, "running_mean", None), torch.Tensor)
            and hasattr(m, "momentum") and getattr(m, "running_var", None) is not None]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches: Iterable[Any], num_batches: int,
                       prepare: Callable[[Any], Any] = lambda b: b) -> int:
    """Replace every BN layer's running statistics by their average over ``num_batches`` forward passes.

    Args:
        model: the network (its ``training`` flag is restored afterwards); frozen sub-modules in eval mode
            (e.g. a SEFD teacher) are left untouched because they are not switched to training mode here.
        batches: iterable of batches (e.g. a training loader); ``prepare`` moves one to the device.
    Returns:
        the number of batches used (0: no BN layer or no batch, statistics unchanged).
    """
    layers = [m for m in _bn_modules(model) if m.training]
    if not layers or num_batches <= 0:
        return 0
    saved = [(m, m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in layers]
    for m in layers:
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
    used = 0
    for used, batch in enumerate(itertools.islice(batches, num_batches), 1):
        for m in layers:
            m.momentum = 1.0 / used  # running = mean of the batch statistics seen so far
        model(prepare(batch))
    for m, momentum, mean, var in saved:
        m.momentum = momentum
        if used == 0:
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
    return used
