"""Where the whole-body training step's time goes at ExPose's sizes (issue 8 item 6; docs/benchmarks.md).

    python -m tool.wholebody_step_profile [--quick] [--rounds 3] [--device cpu|cuda] [--threads 1]
        [--hand-crop 224 --head-crop 256] [--flops-only] [--steps regressor wholebody ...]

One run, the benchmark's batch (8) and body backbone (ResNet-50, 256 px), ``img_hd`` 512, hands 2 x 224 px, head
256 px (``tool/bench/wholebody.py``). Prints
- forward FLOPs of every network (torch's FlopCounterMode; a training step is ~3x its forward) and of the
  3DCrowdNet regressor, and the FLOP ratio whole-body / regressor: the floor of the step ratio when every network
  runs at the same FLOP rate;
- SMPL-X layer evaluations per training step;
- interleaved step times of: the regressor, the whole-body step, the same model without the head network, without
  the hand network, and without both (body network + SMPL-X + losses); the differences are each part network's
  forward + backward + Adam cost in the same run;
- the forward split by the model's ``record_function`` labels (body_net, body_geometry, crop_sampler, hand_net,
  head_net, merge, losses) under torch.profiler.
``--hand-crop`` / ``--head-crop`` change the part crop sizes (FLOPs scale with their area); ``--steps`` times a
subset of the steps; ``--flops-only`` stops after the FLOP count.
"""
from __future__ import annotations

import argparse
import sys

import torch

STEPS = ("regressor", "wholebody", "no_head", "no_hands", "body_only")


def forward_flops(fn) -> tuple[int, dict[str, int]]:
    """(total forward FLOPs, {top-level submodule name: FLOPs}) of ``fn()`` under FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False, depth=2) as counter:
        fn()
    per_module = {}
    for name, ops in counter.get_flop_counts().items():
        parts = name.split(".")
        if len(parts) == 2:
            per_module[parts[1]] = sum(ops.values())
    return counter.get_total_flops(), per_module


class LayerCalls:
    """Counts forward calls of a module while installed (the SMPL-X layer is not a submodule: no hooks)."""

    def __init__(self, layer) -> None:
        self.layer, self.calls = layer, 0

    def __enter__(self) -> "LayerCalls":
        original = self.layer.forward

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        self.layer.forward = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.layer.forward


def forward_regions(model, batch: dict, steps: int = 2) -> dict[str, float]:
    """Median ms per forward of each ``record_function`` label (device time on CUDA, else host CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    from tool.bench.timing import region_seconds

    labels = ("body_net", "body_geometry", "crop_sampler", "hand_net", "head_net", "merge", "losses")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with torch.no_grad():
        model(batch)
        with profile(activities=activities) as prof:
            for _ in range(steps):
                model.losses(batch, model(batch))
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
    return {k: v * 1e3 for k, v in region_seconds(prof, labels, per=steps).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hand-crop", type=int, default=224)
    parser.add_argument("--head-crop", type=int, default=256)
    parser.add_argument("--flops-only", action="store_true")
    parser.add_argument("--steps", nargs="*", default=list(STEPS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from common.body_models import family_body_model
    from common.models.build import build_experiment_model
    from tool.bench.timing import interleaved, paired_ratio
    from tool.bench.wholebody import wholebody_batch, wholebody_cfg
    from tool.bench.workbench import Workbench

    device = torch.device(args.device)
    bench = Workbench(device, args.quick)
    sizes = dict(hand_crop_size=args.hand_crop, head_crop_size=args.head_crop)
    cfg = wholebody_cfg(args.quick, **sizes)
    batch = wholebody_batch(cfg, device)

    def model_of(**kw):
        config = wholebody_cfg(args.quick, **sizes, **kw)
        return build_experiment_model(config, family_body_model(config), training=True).to(device).train()

    full = model_of()
    total, per_net = forward_flops(lambda: full(batch))
    regressor = bench.regressor()
    reg_total, reg_parts = forward_flops(lambda: regressor(bench.batch))
    print(f"forward GFLOPs: whole-body {total / 1e9:.2f} (" + ", ".join(
        f"{k} {v / 1e9:.2f}" for k, v in per_net.items()) + f"); regressor {reg_total / 1e9:.2f} (" + ", ".join(
        f"{k} {v / 1e9:.2f}" for k, v in reg_parts.items()) + f"); FLOP ratio {total / reg_total:.2f}x")
    if args.flops_only:
        return 0
    with LayerCalls(full.layer) as calls:
        full.losses(batch, full(batch))
    print(f"SMPL-X layer evaluations per training step: {calls.calls}")
    print("forward regions (ms):", {k: round(v, 1) for k, v in forward_regions(full, batch).items()})
    makers = {"regressor": bench.regressor_step, "wholebody": lambda: bench.training_step(full, batch),
              "no_head": lambda: bench.training_step(model_of(use_head_net=False), batch),
              "no_hands": lambda: bench.training_step(model_of(use_hand_net=False), batch),
              "body_only": lambda: bench.training_step(model_of(use_hand_net=False, use_head_net=False), batch)}
    t = interleaved({name: makers[name]() for name in STEPS if name in args.steps}, args.rounds, bench.sync)
    print("step ms (median):", {k: round(v.wall, 1) for k, v in t.items()})
    for name in t:
        if name != "regressor" and "regressor" in t:
            print(f"  {name} / regressor = {paired_ratio(t, name, 'regressor'):.2f}x")
    if {"no_hands", "no_head"} <= set(t):
        print(f"  hand network (2 crops) = {t['wholebody'].wall - t['no_hands'].wall:.0f} ms, head network = "
              f"{t['wholebody'].wall - t['no_head'].wall:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
