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
          Canny included) vs the regressor step (tool/bench/sefd.py).
  render  rasterizer, 3 people at 256x256, vs an OpenCV painter's-algorithm renderer (tool/bench/render.py).
  wholebody  the ExPose-style whole-body training step vs the regressor / its body network alone, and the crop
          sampler's share of the step (tool/bench/wholebody.py).
  precision  float32 vs bfloat16-autocast training steps on CPU (``train.cpu_bf16``) and Adam's per-tensor
          loop vs the fused kernel (tool/bench/precision.py).

Usage::

    python -m tool.benchmark [--quick] [--only train loader sefd render] [--rounds N] [--device cpu|cuda]
                             [--json output/benchmark.json] [--against GIT_REV]

``--against REV`` also times the overlap edge and vertex normals of the code at git revision REV (before/after
speed-up ratios, with the largest output difference). Figures and their definitions: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from common.engine.seed import seed_everything
from tool.bench.pipeline import loader_section, train_section
from tool.bench.precision import precision_section
from tool.bench.render import render_section
from tool.bench.sefd import sefd_section
from tool.bench.wholebody import wholebody_section
from tool.bench.workbench import Workbench

SECTIONS = ("train", "loader", "sefd", "render", "wholebody", "precision")


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
            found = sefd_section(bench, rounds, args.against)
        elif section == "wholebody":
            found = wholebody_section(bench, rounds)
        elif section == "precision":
            found = precision_section(bench, rounds)
        else:
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
