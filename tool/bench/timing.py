"""Interleaved timing and the figures the benchmark sections report (see :mod:`tool.bench.run`)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Timing:
    """Wall and process-CPU milliseconds of every timed call of one task (warm-up excluded)."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms)


def interleaved(tasks: dict[str, Callable[[], object]], rounds: int, sync: Callable[[], None] = lambda: None,
                threads: dict[str, int] | None = None) -> dict[str, Timing]:
    """Time each task once per round, rotating the order between rounds, after one warm-up call each.

    ``threads`` gives a task its torch thread count (e.g. 1 for a data worker); others use the current one.
    """
    default_threads = torch.get_num_threads()
    names = list(tasks)
    timings = {name: Timing() for name in names}

    def run(name: str) -> tuple[float, float]:
        torch.set_num_threads((threads or {}).get(name, default_threads))
        try:
            start, start_cpu = time.perf_counter(), time.process_time()
            tasks[name]()
            sync()
            return (time.perf_counter() - start) * 1e3, (time.process_time() - start_cpu) * 1e3
        finally:
            torch.set_num_threads(default_threads)

    for name in names:
        run(name)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            wall, cpu = run(name)
            timings[name].wall_ms.append(wall)
            timings[name].cpu_ms.append(cpu)
    return timings


def paired_ratio(timings: dict[str, Timing], num: str, den: str, num_scale: float = 1.0,
                 den_scale: float = 1.0) -> float:
    """Median over rounds of (num wall / num_scale) / (den wall / den_scale)."""
    return statistics.median((a / num_scale) / (b / den_scale)
                             for a, b in zip(timings[num].wall_ms, timings[den].wall_ms))


def best_ratio(timings: dict[str, Timing], num: str, den: str, num_scale: float = 1.0,
               den_scale: float = 1.0) -> float:
    """(num minimum wall / num_scale) / (den minimum wall / den_scale).

    On a shared machine the load comes and goes; each task's fastest run is the one least disturbed, so this
    ratio estimates the idle-machine ratio (process CPU time does not: under contention a multi-threaded step
    burns CPU waiting at its thread barriers).
    """
    return (min(timings[num].wall_ms) / num_scale) / (min(timings[den].wall_ms) / den_scale)


def figure(name: str, value: float, unit: str, definition: str, target: str = "", passed: bool | None = None,
           **extra: object) -> dict:
    """One reported figure (a row of the table and an entry of the JSON); ``best`` (optional) is the same
    ratio from each task's fastest run (:func:`best_ratio`)."""
    return {"name": name, "value": value, "unit": unit, "definition": definition, "target": target,
            "passed": passed, **extra}


def region_seconds(prof, labels: tuple[str, ...], per: int = 1) -> dict[str, float]:
    """Seconds spent in each ``record_function`` label of a finished ``torch.profiler.profile``, divided by
    ``per`` (e.g. the profiled steps): the region's device time where the profiler measured one (CUDA), else
    its host CPU time. Labels that never ran are absent. The one reader of region times for
    tool/profile_step.py and tool/wholebody_step_profile.py."""
    out = {}
    for event in prof.key_averages():
        if event.key in labels:
            device_us = getattr(event, "device_time_total", 0) or getattr(event, "cuda_time_total", 0)
            out[event.key] = (device_us or event.cpu_time_total) / 1e6 / per
    return out
