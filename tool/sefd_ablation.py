"""SEFD ablation on the synthetic crowds: baseline, teacher and SEFD student with one budget, several seeds.

Each (method, seed) trains with ``configs/sefd_<method>.yaml`` (the student distils from the teacher of the
same seed; the control ``student_rgb`` from the baseline of the same seed), then ``main/test.py``'s evaluation
runs on the synthetic test split and on its most-occluded stratum (``data.test_subset=high_occlusion``), with
the constant-prediction references (mean pose, mean pose + GT root) scored by the same evaluator. Results go to
``<out>/results.jsonl`` as they come (a rerun skips what is there), and the markdown report (mean +- std over
seeds) is rewritten after every run, so a stopped
ablation still reports what finished.

    python -m tool.sefd_ablation [--seeds 0 1 2] [--epochs 3] [--input-size 96] [--batch-size 16]
        [--recipe configs/learning_curve.yaml] [--parallel N] [--edge-device cuda]
        [--out output/sefd_ablation] [--doc docs/sefd_ablation.md] [--opts section.key=value ...]

``--recipe FILE`` trains every method with that config's budget and recipe (everything but its experiment name
and its ``sefd`` section, which come from the method's config); ``--epochs`` etc. then override it only when
given. ``--parallel N`` runs up to N trainings at once as subprocesses (teachers and baselines first, then the
students, which need their teacher), e.g. on a many-core GPU machine.

The SMPL overlap edges of the teacher (train and test) and of the student's teacher (train) are precomputed
once into ``<out>/edges`` with tool/precompute_edges.py (the release's procedure; ``--on-the-fly`` renders
them in the mapper instead).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from tool.ablation_results import append_results, read_results
from tool.sefd_ablation_report import METHODS, METRICS, STUDENTS, results_table, write_doc

REPO = Path(__file__).resolve().parent.parent
SUBSETS = ("", "high_occlusion")
_KEEP_FROM_METHOD = ("sefd",)  # sections a --recipe does not override


def _method_tree(method: str, recipe: str | None) -> dict:
    """The YAML tree of one run before the ablation's options: the method's config, or the recipe + its sefd."""
    from common.config.loader import read_yaml

    tree = read_yaml(REPO / "configs" / f"sefd_{method}.yaml")
    if not recipe:
        return tree
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in read_yaml(recipe).items()}
    for section in _KEEP_FROM_METHOD:
        merged[section] = tree.get(section, {})
    merged.setdefault("model", {}).pop("input_channels", None)  # follows from sefd.mode
    return merged


def run_config(method: str, seed: int, args: argparse.Namespace, subset: str = ""):
    """The resolved config of one run (method config or recipe + the ablation's budget and paths)."""
    from common.config import config_from_dict

    out = Path(args.out)
    opts = [f"experiment.name={method}_seed{seed}", f"experiment.seed={seed}",
            f"experiment.output_dir={out / 'runs'}", "train.eval_every=0", "train.image_log_every=0",
            f"data.test_subset={subset}", f"experiment.num_threads={args.threads}",
            f"sefd.edge_dir={'' if args.on_the_fly else out / 'edges'}",
            f"sefd.teacher_ckpt={out / 'runs' / (STUDENTS.get(method, 'teacher') + f'_seed{seed}')}"]
    if args.epochs is not None:
        opts += [f"train.epochs={args.epochs}", f"train.lr_steps=[{args.epochs - 1 if args.epochs > 1 else ''}]"]
    for key, value in (("data.input_size", args.input_size), ("data.batch_size", args.batch_size),
                       ("data.num_workers", args.num_workers)):
        if value is not None:
            opts.append(f"{key}={value}")
    source = args.recipe or str(REPO / "configs" / f"sefd_{method}.yaml")
    return config_from_dict(_method_tree(method, args.recipe), [*opts, *args.opts], source=source)


def precompute_edges(args: argparse.Namespace) -> None:
    """Teacher edges of the train and test splits into ``<out>/edges`` (existing files are kept)."""
    from tool.precompute_edges import precompute

    cfg = run_config("teacher", 0, args)
    for split in ("train", "test"):
        counts = precompute(cfg, "synthetic", split, cfg.sefd.teacher_edge, Path(cfg.sefd.edge_dir),
                            device=args.edge_device, progress=False)
        print(f"edges synthetic/{split}: {counts}", flush=True)


def train_and_test(method: str, seed: int, args: argparse.Namespace) -> list[dict]:
    """Train one run (unless its final checkpoint exists) and evaluate it on every subset."""
    from common.engine import DistInfo, resolve_device
    from common.engine.checkpoint import checkpoint_path
    from main.test import run_test
    from main.train import train

    cfg = run_config(method, seed, args)
    info = DistInfo(device=resolve_device(cfg.experiment.device))  # one process; CUDA where the config says
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    ckpt = checkpoint_path(run_dir, cfg.train.epochs)
    start = time.time()
    if not ckpt.is_file():
        state = train(cfg, info, progress=False)
        iterations = state.iteration
    else:
        iterations = json.loads((run_dir / "summary.json").read_text())["iterations"]
    train_s = time.time() - start
    rows = []
    for subset in SUBSETS:
        test_cfg = run_config(method, seed, args, subset)
        summary = run_test(test_cfg, info, str(ckpt), run_dir / f"test_{subset or 'all'}", progress=False)
        rows.append({"method": method, "seed": seed, "subset": subset or "all", "iterations": iterations,
                     "train_s": round(train_s, 1), "num_samples": summary.get("num_samples"),
                     "references": summary.get("references", {}), **{k: summary.get(k) for k in METRICS}})
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS[:3]), choices=METHODS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from results.jsonl")
    parser.add_argument("--recipe", default=None, help="config YAML whose budget and recipe every method uses")
    parser.add_argument("--epochs", type=int, default=None, help="default 3 without --recipe")
    parser.add_argument("--input-size", type=int, default=None, help="default 96 without --recipe")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 without --recipe")
    parser.add_argument("--num-workers", type=int, default=None, help="default 1 without --recipe")
    parser.add_argument("--threads", type=int, default=1, help="experiment.num_threads (1 is fastest on a busy box)")
    parser.add_argument("--parallel", type=int, default=1, help="trainings at once (subprocesses)")
    parser.add_argument("--edge-device", default="cpu", help="device rendering the precomputed teacher edges")
    parser.add_argument("--on-the-fly", action="store_true", help="render teacher edges in the mapper")
    parser.add_argument("--out", default="output/sefd_ablation")
    parser.add_argument("--doc", default="docs/sefd_ablation.md")
    parser.add_argument("--opts", nargs="*", default=[], help="extra config overrides for every run")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "SEED"), help=argparse.SUPPRESS)  # a parallel job
    args = parser.parse_args(argv)
    if not args.recipe:
        for key, value in (("epochs", 3), ("input_size", 96), ("batch_size", 16), ("num_workers", 1)):
            if getattr(args, key) is None:
                setattr(args, key, value)
    return args


def job_argv(method: str, seed: int, argv: list[str]) -> list[str]:
    """The command line of one (method, seed) job: this tool with the same options plus ``--one``."""
    keep, skip = [], False
    for item in argv:  # drop --parallel N (a job runs one training)
        if skip:
            skip = False
            continue
        if item == "--parallel":
            skip = True
            continue
        if not item.startswith("--parallel="):
            keep.append(item)
    return [sys.executable, "-m", "tool.sefd_ablation", *keep, "--one", method, str(seed)]


def run_parallel(args: argparse.Namespace, argv: list[str], rows: list[dict]) -> None:
    """Baselines and teachers at once, then the students (each needs its seed's teacher or baseline)."""
    from tool.parallel_jobs import run_jobs

    todo = [(m, s) for s in args.seeds for m in args.methods
            if not any(r["method"] == m and r["seed"] == s for r in rows)]
    phases = [[(f"{m}_seed{s}", job_argv(m, s, argv)) for m, s in todo if (m in STUDENTS) == second]
              for second in (False, True)]
    codes = run_jobs(phases, args.parallel, Path(args.out) / "logs", cwd=REPO)
    failed = {name: code for name, code in codes.items() if code}
    if failed:
        print(f"failed runs (logs in {Path(args.out) / 'logs'}): {failed}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    results = Path(args.out) / "results.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    if args.one:
        method, seed = args.one[0], int(args.one[1])
        append_results(results, train_and_test(method, seed, args))
        return 0
    command = " ".join(["python -m tool.sefd_ablation", *map(shlex.quote, (a for a in argv if a != "--report-only"))])
    if not (args.on_the_fly or args.report_only):
        from common.engine import configure_cpu_threads

        configure_cpu_threads(args.threads)  # the runs set it again from experiment.num_threads
        precompute_edges(args)
    rows = read_results(results)
    if args.parallel > 1 and not args.report_only:
        run_parallel(args, argv, rows)
        rows = read_results(results)
    for seed in [] if args.report_only or args.parallel > 1 else args.seeds:
        for method in args.methods:
            if any(r["method"] == method and r["seed"] == seed for r in rows):
                continue
            print(f"=== {method} seed {seed}", flush=True)
            new = train_and_test(method, seed, args)
            append_results(results, new)
            rows += new
            write_doc(Path(args.doc), rows, args, command, False, run_config("student", 0, args))
    done = {(r["method"], r["seed"]) for r in rows}
    finished = all((m, s) in done for m in args.methods for s in args.seeds)
    write_doc(Path(args.doc), rows, args, command, finished, run_config("student", 0, args))
    print(results_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
