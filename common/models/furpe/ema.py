"""EMA teacher (BYOL-style, as FuRPE): a frozen copy of the student updated as
theta_T <- tau_k theta_T + (1 - tau_k) theta_S with tau_k = 1 - (1 - tau_0) (cos(pi k / K) + 1) / 2
(tau_0 = 0.996 at step 0, 1 at step K). Parameters are averaged; buffers (BatchNorm statistics, counters) are
copied from the student. The teacher is always run in eval mode without gradients (the release left it in
train mode, so its BatchNorm used batch statistics) and is not an ``nn.Module`` attribute: it is outside the
student's ``parameters()``, ``state_dict()`` and optimizer; save it with :meth:`EMATeacher.state_dict`.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


def ema_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """tau_k for step k of K (k clamped to [0, K])."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


class EMATeacher:
    """Keeps ``module``, a frozen copy of ``student``; call :meth:`update` after each optimizer step.

    Pass the bare student (not a DDP wrapper: parameter names must match). ``total_steps`` K is the number of
    optimizer steps of the run (tau reaches 1 there)."""

    def __init__(self, student: nn.Module, total_steps: int, base_momentum: float = 0.996):
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        self.module = copy.deepcopy(student).eval().requires_grad_(False)
        self.total_steps, self.base_momentum, self.step = int(total_steps), float(base_momentum), 0

    @torch.no_grad()
    def update(self, student: nn.Module) -> float:
        """One EMA step with tau of the current step (then the step advances); returns tau."""
        tau = ema_momentum(self.step, self.total_steps, self.base_momentum)
        teacher_params = dict(self.module.named_parameters())
        for name, p in student.named_parameters():
            teacher_params[name].mul_(tau).add_(p.detach().to(teacher_params[name].dtype), alpha=1.0 - tau)
        teacher_buffers = dict(self.module.named_buffers())
        for name, b in student.named_buffers():
            teacher_buffers[name].copy_(b)
        self.step += 1
        return tau

    @torch.no_grad()
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.module.eval()  # someone may have called .train() on it
        return self.module(*args, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.step = int(state["step"])
