"""Throughput figures of the framework, each a ratio to a reference timed in the same run (not a test).

Absolute times drift with the machine and its load, so every figure is a ratio between two tasks timed
INTERLEAVED: each round runs every task of a section once (the order rotates between rounds), and a ratio is
the median over rounds of the per-round ratio. Wall-clock medians are reported too, with process CPU time.

Sections (``--only`` picks one or more):
  train   R50 3DCrowdNet regressor training step (forward + losses + backward + Adam, batch 8, 256x256, a real
          synthetic batch, open body model) vs a bare torchvision ResNet-50 step (same images, CE on fc).
  loader  samples/s of ONE data worker (the real Dataset iterated in this process with one torch thread, as
          DataLoader workers run) without and with the on-the-fly SEFD overlap edge, vs the regressor's
          training images/s (default threads).
  sefd    Canny channel, on-the-fly overlap edge and SEFD student step (DistillationWrapper, teacher and
          Canny included) vs the regressor step (tool/bench_sefd.py).
  render  rasterizer, 3 people at 256x256, vs an OpenCV painter's-algorithm renderer (tool/bench_render.py).

Usage::

    python -m tool.benchmark [--quick] [--only train loader sefd render] [--rounds N] [--device cpu|cuda]
                             [--json output/benchmark.json] [--against GIT_REV]

``--against REV`` also times the overlap edge and vertex normals of the code at git revision REV (before/after
speed-up ratios, with the largest output difference). Figures and their definitions: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import torch

SECTIONS = ("train", "loader", "sefd", "render")
BATCH, SIZE = 8, 256


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


class Workbench:
    """What the sections share, built on first use: config, body models, synthetic dataset, a real batch."""

    def __init__(self, device: torch.device, quick: bool) -> None:
        self.device = device
        self.quick = quick

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @cached_property
    def cfg(self):
        """Defaults (R50, 256 crops, batch 8, the open body model) with a small synthetic world."""
        from common.config import load_config

        images = 12 if self.quick else 24  # generated once into common.paths.cache_dir()
        return load_config(None, [f"data.synthetic.num_train_images={images}", "data.synthetic.num_test_images=4",
                                  f"data.batch_size={BATCH}", f"data.input_size={SIZE}"])

    @cached_property
    def edge_cfg(self):
        """As ``cfg`` with ``sefd.mode=teacher``: 4 input channels, the mapper renders ``edge`` = the SMPL
        overlap edge on the fly (``sefd.edge_dir`` empty)."""
        from common.config.loader import derive_input_channels

        return derive_input_channels(dataclasses.replace(
            self.cfg, sefd=dataclasses.replace(self.cfg.sefd, mode="teacher", teacher_edge="smpl_overlap",
                                               edge_dir="")))

    def body_model(self):
        """A fresh CPU instance of the configured (open) SMPL-layout body model."""
        from common.body_models import body_model_from_config

        return body_model_from_config(self.cfg, kind="smpl")

    @cached_property
    def cpu_body(self):
        return self.body_model()

    @cached_property
    def dataset(self):
        """The synthetic training split behind the shared mapper (augmentation and posefix on)."""
        from data.registry import build_dataset

        return build_dataset("synthetic", "train", self.cfg, train=True, body_model=self.cpu_body)

    @cached_property
    def edge_dataset(self):
        """The same records behind the SEFD teacher's mapper (sample['edge'] = on-the-fly overlap edge)."""
        from data.registry import build_dataset

        return build_dataset("synthetic", "train", self.edge_cfg, train=True, body_model=self.cpu_body)

    def order(self) -> list[int]:
        """A fixed shuffled order of the dataset's indices."""
        return np.random.default_rng(0).permutation(len(self.dataset)).tolist()

    def collate(self, dataset, count: int = BATCH) -> dict:
        """A real collated batch of the first ``count`` samples of :meth:`order`, on the device."""
        from torch.utils.data import default_collate

        samples = [dataset[i] for i in self.order()[:count]]
        return {k: v.to(self.device) for k, v in default_collate(samples).items()}

    @cached_property
    def batch(self) -> dict:
        return self.collate(self.dataset)

    def regressor(self, edge: bool = False, return_features: bool = False):
        """A fresh regressor (its own body model) in training mode: RGB, or RGB + edge with ``edge``."""
        from common.models.build import build_model

        cfg = self.edge_cfg if edge else self.cfg
        return build_model(cfg, self.body_model(), return_features=return_features).to(self.device).train()

    def training_step(self, model, batch: dict) -> Callable[[], None]:
        """forward + model.losses + backward + Adam step on ``batch`` (the trainer's step without AMP/clipping)."""
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            losses = model.losses(batch, model(batch))
            sum(losses.values()).backward()
            optimizer.step()

        return step

    def regressor_step(self) -> Callable[[], None]:
        """A fresh baseline regressor's training step on :attr:`batch` (each section gets its own model)."""
        return self.training_step(self.regressor(), self.batch)


def bare_resnet_step(images: torch.Tensor) -> Callable[[], None]:
    """A torchvision ResNet-50 training step (CE on its 1000-way fc, Adam) on ``images``."""
    import torchvision

    net = torchvision.models.resnet50(weights=None).to(images.device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    labels = torch.randint(0, 1000, (images.shape[0],), generator=torch.Generator().manual_seed(0))
    labels = labels.to(images.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    return step


def train_section(bench: Workbench, rounds: int) -> list[dict]:
    t = interleaved({"regressor": bench.regressor_step(), "bare_resnet50": bare_resnet_step(bench.batch["img"])},
                    rounds, bench.sync)
    ratio = paired_ratio(t, "bare_resnet50", "regressor")  # = regressor img/s / bare img/s
    return [
        figure("train.regressor_img_per_s", BATCH / t["regressor"].wall * 1e3, "img/s",
               f"R50 3DCrowdNet regressor training step, batch {BATCH}, {SIZE}x{SIZE}",
               step_ms=t["regressor"].wall, step_cpu_ms=t["regressor"].cpu),
        figure("train.bare_resnet50_img_per_s", BATCH / t["bare_resnet50"].wall * 1e3, "img/s",
               "torchvision ResNet-50 training step, same images, CE on fc",
               step_ms=t["bare_resnet50"].wall, step_cpu_ms=t["bare_resnet50"].cpu),
        figure("train.regressor_vs_bare", ratio, "x", "regressor img/s / bare ResNet-50 img/s (same run)",
               best=best_ratio(t, "bare_resnet50", "regressor")),
    ]


def loader_section(bench: Workbench, rounds: int, block: int) -> list[dict]:
    """One worker = this process with one torch thread; ``block`` samples per timed call."""
    order = bench.order()
    cursor = {"plain": 0, "edge": 0}

    def samples(kind: str) -> Callable[[], None]:
        dataset = bench.edge_dataset if kind == "edge" else bench.dataset

        def run() -> None:
            for _ in range(block):
                dataset[order[cursor[kind] % len(order)]]
                cursor[kind] += 1
        return run

    t = interleaved({"worker": samples("plain"), "worker_edge": samples("edge"), "regressor": bench.regressor_step()},
                    rounds, bench.sync, threads={"worker": 1, "worker_edge": 1})
    per_s = lambda name: block / t[name].wall * 1e3  # noqa: E731
    ratio = lambda name: paired_ratio(t, "regressor", name, BATCH, block)  # noqa: E731 (worker/s / train img/s)
    best = lambda name: best_ratio(t, "regressor", name, BATCH, block)  # noqa: E731
    edge_ratio = ratio("worker_edge")
    return [
        figure("loader.worker_samples_per_s", per_s("worker"), "samples/s",
               "one worker (1 torch thread): decode + crop + augment + posefix",
               sample_ms=t["worker"].wall / block, sample_cpu_ms=t["worker"].cpu / block),
        figure("loader.worker_edge_samples_per_s", per_s("worker_edge"), "samples/s",
               "one worker (1 thread): as above + on-the-fly SMPL overlap edge",
               sample_ms=t["worker_edge"].wall / block, sample_cpu_ms=t["worker_edge"].cpu / block),
        figure("loader.regressor_img_per_s", BATCH / t["regressor"].wall * 1e3, "img/s",
               "regressor training throughput in this run (reference)", step_ms=t["regressor"].wall),
        figure("loader.worker_vs_training", ratio("worker"), "x", "worker samples/s / regressor training img/s",
               ">= 3", ratio("worker") >= 3, best=best("worker")),
        figure("loader.worker_edge_vs_training", edge_ratio, "x",
               "worker samples/s with overlap edge / regressor training img/s", ">= 3", edge_ratio >= 3,
               best=best("worker_edge")),
    ]


def format_table(figures: list[dict]) -> str:
    rows = [("figure", "value", "best runs", "target", "ok", "definition")]
    for f in figures:
        ok = "" if f["passed"] is None else ("yes" if f["passed"] else "NO")
        value = f"{f['value']:.4g} {f['unit']}".replace(" x", "x")
        estimate = f"{f['best']:.4g}x" if "best" in f else ""
        rows.append((f["name"], value, estimate, f["target"], ok, f["definition"]))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows)


def machine_notes(device: torch.device) -> dict:
    notes = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
             "torch_threads": torch.get_num_threads(), "device": str(device), "platform": platform.platform()}
    if hasattr(os, "getloadavg"):
        notes["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    if device.type == "cuda":
        notes["gpu"] = torch.cuda.get_device_name(device)
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller synthetic world")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds per section (default 7, quick 3)")
    parser.add_argument("--device", default="cpu", help="device of the training steps, Canny and student step")
    parser.add_argument("--json", default="output/benchmark.json")
    parser.add_argument("--against", default="", help="git revision whose edge code to time against (A/B)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rounds = args.rounds or (3 if args.quick else 7)
    bench = Workbench(device, args.quick)
    from common.engine.seed import seed_everything

    seed_everything(bench.cfg.experiment.seed, bench.cfg.experiment.deterministic, device)  # as main/train.py
    notes = machine_notes(device)
    print(f"benchmark: {', '.join(args.only)}; {rounds} rounds; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {notes['cpus']} CPUs; load {notes.get('load_average_start')}",
          flush=True)
    figures: list[dict] = []
    start = time.perf_counter()
    for section in args.only:
        section_start = time.perf_counter()
        if section == "train":
            found = train_section(bench, rounds)
        elif section == "loader":
            found = loader_section(bench, rounds, block=4 if args.quick else 8)
        elif section == "sefd":
            from tool.bench_sefd import sefd_section

            found = sefd_section(bench, rounds, args.against)
        else:
            from tool.bench_render import render_section

            found = render_section(rounds)
        figures += found
        print(format_table(found), f"\n({section}: {time.perf_counter() - section_start:.0f} s)\n", flush=True)
    if hasattr(os, "getloadavg"):
        notes["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    notes.update(rounds=rounds, seconds=round(time.perf_counter() - start, 1), command=" ".join(sys.argv))
    print(format_table(figures))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": notes, "figures": figures}, indent=2))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
