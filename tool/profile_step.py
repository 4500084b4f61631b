"""Where the time of one training step goes, by part, for any config (docs/benchmarks.md, "Step profile").

    python -m tool.profile_step --cfg configs/quickstart.yaml [--steps 6] [--opts k=v ...]

Times data loading (the main process waiting on the loader), forward, losses, backward and the optimizer step
with wall clocks, and splits the forward with the model's ``record_function`` labels (backbone, heads,
body_model, gt_mesh_joints, losses) under torch.profiler. Prints each part's median share of a step; the first
step (warm-up) is not counted. Uses ``experiment.num_threads`` like training.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

LABELS = ("backbone", "heads", "body_model", "gt_mesh_joints", "losses")


def profile_steps(cfg, steps: int) -> dict[str, float]:
    """Median seconds per step of each part over ``steps`` training steps (after one warm-up step)."""
    from common.body_models import body_model_from_config
    from common.engine import build_optimizer, configure_cpu_threads, resolve_teacher_checkpoint, seed_everything
    from common.engine.optim import training_autocast
    from common.engine.seed import set_loader_epoch
    from common.models.build import build_experiment_model
    from data.loader import build_train_loader
    from tool.bench.timing import region_seconds

    seed_everything(cfg.experiment.seed, cfg.experiment.deterministic, torch.device("cpu"))
    configure_cpu_threads(cfg.experiment.num_threads)
    model = build_experiment_model(cfg, body_model_from_config(cfg, kind="smpl"), training=True,
                                   teacher_path=resolve_teacher_checkpoint(cfg)).train()
    loader = build_train_loader(cfg, body_model=body_model_from_config(cfg, kind="smpl"))
    set_loader_epoch(loader, 0)
    optimizer = build_optimizer(model, cfg.train)
    rows: list[dict[str, float]] = []
    batches = iter(loader)
    for step in range(steps + 1):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof, \
                training_autocast(cfg.train.amp, cfg.train.cpu_bf16, torch.device("cpu")):  # as the trainer
            preds = model(batch)
            terms = model.losses(batch, preds)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        labelled = region_seconds(prof, LABELS)
        row = {"data": t1 - t0, **{k: labelled.get(k, 0.0) for k in LABELS}, "backward": t3 - t2,
               "optimizer": t4 - t3}
        row["forward_other"] = max(0.0, (t2 - t1) - sum(labelled.values()))
        row["step"] = t4 - t0
        if step > 0:
            rows.append(row)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main(argv: list[str] | None = None) -> int:
    from common.config import load_config
    from common.errors import UserError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.cfg, args.opts)
        parts = profile_steps(cfg, args.steps)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = parts["step"]
    print(f"{args.cfg}: batch {cfg.data.batch_size}, {cfg.model.backbone} at {cfg.data.input_size} px, "
          f"{cfg.experiment.num_threads or torch.get_num_threads()} thread(s); median of {args.steps} steps")
    for name, seconds in parts.items():
        if name != "step":
            print(f"{name:<16}{seconds * 1000:9.1f} ms {100 * seconds / total:6.1f}% of a step")
    print(f"{'step':<16}{total * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
