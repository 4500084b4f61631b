"""Batch normalisation with statistics over the batches of all DDP processes, on any backend (gloo included).

torch's ``nn.SyncBatchNorm`` is CUDA-only and only replaces ``nn.BatchNorm*`` modules; layers that call
``F.batch_norm`` themselves (``NodewiseLinearBN`` in rotation_net.py) use :func:`synced_batch_norm` instead.
The moments are summed over processes by an all-reduce whose backward sums the gradients of every process (as
nn.SyncBatchNorm's backward does), so after DDP's gradient average (sum / W) the update is the one of a single
process holding all the batches.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def processes() -> int:
    """Number of processes in the default group (1 without an initialised process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _SumOverProcesses(torch.autograd.Function):
    """y = sum over processes of x; the gradient of x is the sum over processes of the gradients of y."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def synced_batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor, bias: Tensor,
                      momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Training-mode batch norm of ``x`` (B, F) with mean/variance over the rows of every process.

    Same numbers as ``F.batch_norm(training=True)`` on the concatenated batch: biased variance for the
    normalisation, unbiased for the running variance; ``running_mean``/``running_var`` (F,) are updated in
    place (identically on every process). A collective: every process must call it with the same F.
    Returns (B, F).
    """
    count = torch.tensor([float(x.shape[0])], dtype=torch.float64, device=x.device)
    dist.all_reduce(count)
    n = float(count.item())
    xf = x.float()  # moments in float32 under AMP
    mean = _SumOverProcesses.apply(xf.sum(0)) / n
    centred = xf - mean
    var = _SumOverProcesses.apply(centred.square().sum(0)) / n
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(mean.detach().to(running_mean.dtype), alpha=momentum)
        unbiased = var.detach() * (n / max(n - 1, 1))
        running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    return (centred * torch.rsqrt(var + eps) * weight + bias).to(x.dtype)
