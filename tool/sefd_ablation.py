"""SEFD ablation on the synthetic crowds: baseline, teacher and SEFD student with one budget, several seeds.

Each (method, seed) trains with ``configs/sefd_<method>.yaml`` (the student distils from the teacher of the
same seed), then ``main/test.py``'s evaluation runs on the synthetic test split and on its most-occluded
stratum (``data.test_subset=high_occlusion``). Results go to ``<out>/results.jsonl`` as they come (a rerun
skips what is there), and the markdown table (mean +- std over seeds) is rewritten after every run, so a
stopped ablation still reports what finished.

    python -m tool.sefd_ablation [--seeds 0 1 2] [--epochs 3] [--input-size 96] [--batch-size 16]
        [--out output/sefd_ablation] [--doc docs/sefd_ablation.md] [--opts section.key=value ...]

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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
METHODS = ("baseline", "teacher", "student", "edge_input")  # the ablation's default: the first three
SUBSETS = ("", "high_occlusion")
METRICS = ("mpjpe", "pa_mpjpe", "mpvpe")
LABELS = {"baseline": "3DCrowdNet baseline (RGB)", "teacher": "teacher (RGB + GT SMPL overlap edge, also at test)",
          "student": "SEFD student (RGB + Canny, log_softmax_l1 from the teacher)",
          "edge_input": "RGB + Canny input, no distillation"}


def run_config(method: str, seed: int, args: argparse.Namespace, subset: str = ""):
    """The resolved config of one run (``configs/sefd_<method>.yaml`` + the ablation's budget and paths)."""
    from common.config import load_config

    out = Path(args.out)
    opts = [f"experiment.name={method}_seed{seed}", f"experiment.seed={seed}",
            f"experiment.output_dir={out / 'runs'}", f"train.epochs={args.epochs}",
            f"train.lr_steps=[{args.epochs - 1 if args.epochs > 1 else ''}]", f"data.input_size={args.input_size}",
            f"data.batch_size={args.batch_size}", f"data.num_workers={args.num_workers}", "train.eval_every=0",
            "train.image_log_every=0", "train.log_every=20", f"data.test_subset={subset}",
            f"experiment.num_threads={args.threads}",
            f"sefd.edge_dir={'' if args.on_the_fly else out / 'edges'}",
            f"sefd.teacher_ckpt={out / 'runs' / f'teacher_seed{seed}'}", *args.opts]
    return load_config(REPO / "configs" / f"sefd_{method}.yaml", opts)


def precompute_edges(args: argparse.Namespace) -> None:
    """Teacher edges of the train and test splits into ``<out>/edges`` (existing files are kept)."""
    from tool.precompute_edges import precompute

    cfg = run_config("teacher", 0, args)
    for split in ("train", "test"):
        counts = precompute(cfg, "synthetic", split, cfg.sefd.teacher_edge, Path(cfg.sefd.edge_dir), progress=False)
        print(f"edges synthetic/{split}: {counts}", flush=True)


def train_and_test(method: str, seed: int, args: argparse.Namespace) -> list[dict]:
    """Train one run (unless its final checkpoint exists) and evaluate it on every subset."""
    from common.engine import DistInfo
    from common.engine.checkpoint import checkpoint_path
    from main.test import run_test
    from main.train import train

    cfg = run_config(method, seed, args)
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    ckpt = checkpoint_path(run_dir, cfg.train.epochs)
    start = time.time()
    if not ckpt.is_file():
        state = train(cfg, DistInfo(), progress=False)
        iterations = state.iteration
    else:
        iterations = json.loads((run_dir / "summary.json").read_text())["iterations"]
    train_s = time.time() - start
    rows = []
    for subset in SUBSETS:
        test_cfg = run_config(method, seed, args, subset)
        summary = run_test(test_cfg, DistInfo(), str(ckpt), run_dir / f"test_{subset or 'all'}", progress=False)
        rows.append({"method": method, "seed": seed, "subset": subset or "all", "iterations": iterations,
                     "train_s": round(train_s, 1), "num_samples": summary.get("num_samples"),
                     **{k: summary.get(k) for k in METRICS}})
    return rows


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def results_table(rows: list[dict]) -> str:
    """Markdown table: one line per method, MPJPE / PA-MPJPE / MPVPE (mm) on all and high-occlusion samples."""
    head = ("| method | seeds | " + " | ".join(f"{m.upper().replace('_', '-')} {s}" for s in ("all", "high occ.")
                                               for m in METRICS) + " |")
    lines = [head, "|" + "---|" * (2 + 2 * len(METRICS))]
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        seeds = sorted({r["seed"] for r in mine})
        cells = [mean_std([r[m] for r in mine if r["subset"] == s and r[m] is not None])
                 for s in ("all", "high_occlusion") for m in METRICS]
        lines.append(f"| {LABELS[method]} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(rows: list[dict], method: str, reference: str = "baseline") -> str:
    """'<method> - <reference>' per seed (same seed = same data order and augmentation), mean +- std, as lines."""
    lines = []
    for subset in ("all", "high_occlusion"):
        cells = []
        for metric in METRICS:
            by_seed = {(r["method"], r["seed"]): r[metric] for r in rows if r["subset"] == subset}
            seeds = sorted(s for m, s in by_seed if m == method and (reference, s) in by_seed)
            cells.append(mean_std([by_seed[(method, s)] - by_seed[(reference, s)] for s in seeds]))
        lines.append(f"| {method} - {reference}, {subset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_run_table(rows: list[dict]) -> str:
    """Markdown table of every run: method, seed, training time and the metrics on both test sets."""
    lines = ["| method | seed | train s | " + " | ".join(f"{m} {s}" for s in ("all", "high") for m in METRICS) + " |",
             "|" + "---|" * (3 + 2 * len(METRICS))]
    runs = sorted({(METHODS.index(r["method"]), r["seed"]) for r in rows})
    for index, seed in runs:
        mine = {r["subset"]: r for r in rows if r["method"] == METHODS[index] and r["seed"] == seed}
        cells = [f"{mine[s][m]:.1f}" if s in mine and mine[s][m] is not None else "-"
                 for s in ("all", "high_occlusion") for m in METRICS]
        train_s = next(iter(mine.values()))["train_s"]
        lines.append(f"| {METHODS[index]} | {seed} | {train_s:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def clear_differences(rows: list[dict], methods: list[str], reference: str = "baseline") -> str:
    """One sentence naming the paired differences larger than two standard errors of their seed mean."""
    found = []
    for method in (m for m in methods if m != reference):
        for subset in ("all", "high_occlusion"):
            for metric in METRICS:
                by_seed = {(r["method"], r["seed"]): r[metric] for r in rows if r["subset"] == subset}
                diffs = [by_seed[(method, s)] - by_seed[(reference, s)] for m, s in by_seed
                         if m == method and (reference, s) in by_seed]
                if len(diffs) >= 2 and abs(np.mean(diffs)) > 2 * np.std(diffs, ddof=1) / np.sqrt(len(diffs)):
                    word = "better" if np.mean(diffs) < 0 else "worse"
                    found.append(f"{method} {word} on {metric} ({subset}, {np.mean(diffs):+.1f} mm)")
    if not found:
        return (f"No paired difference to the {reference} exceeds two standard errors of its seed mean: at this "
                "budget the ablation shows no effect, in either direction.")
    return "Paired differences beyond two standard errors of the seed mean: " + "; ".join(found) + "."


def budget_text(args: argparse.Namespace, rows: list[dict]) -> str:
    """The budget and data paragraph of the report."""
    cfg, joined = run_config("student", 0, args), (lambda values: ", ".join(map(str, values)))
    syn, size = cfg.data.synthetic, cfg.data.input_size
    samples = {s: sorted({r["num_samples"] for r in rows if r["subset"] == s}) for s in ("all", "high_occlusion")}
    edges = "rendered on the fly by the mapper" if args.on_the_fly else "precomputed with tool/precompute_edges.py"
    minutes = sum(r["train_s"] for r in rows if r["subset"] == "all") / 60.0
    return "\n".join([
        f"Budget, identical for every method and seed: {cfg.model.backbone} from random init, {size}x{size} crops,",
        f"batch {cfg.data.batch_size}, {args.epochs} epochs of the synthetic train split "
        f"({joined(sorted({r['iterations'] for r in rows}))} iterations), Adam lr {cfg.train.lr:g}, "
        f"x{cfg.train.lr_factor:g} after epoch {max(args.epochs - 1, 1)}, training augmentation on;",
        f"seeds {joined(args.seeds)} (initialisation, data order, augmentation).",
        f"Synthetic world: {syn.num_train_images} train / {syn.num_test_images} test images of {syn.image_size} px, "
        f"{syn.min_people}-{syn.max_people} people each. Test: the whole test split ({joined(samples['all'])} people)",
        f"and its most-occluded stratum `data.test_subset=high_occlusion` (occlusion >= "
        f"{syn.occlusion_strata[-1]:g}; {joined(samples['high_occlusion'])} people).",
        f"Teacher edges (SMPL overlap): {edges}. Training time of the finished runs: {minutes:.0f} min in all,",
        "on the 2-core CPU box shared with other jobs.",
    ])


def write_doc(path: Path, rows: list[dict], args: argparse.Namespace, command: str, finished: bool) -> None:
    """Write the markdown report (also for a partial ablation: it says how many runs finished)."""
    done = {(r["method"], r["seed"]) for r in rows}
    status = "complete" if finished else \
        f"INCOMPLETE: {len(done)} of {len(args.methods) * len(args.seeds)} runs finished"
    diffs = [paired_differences(rows, m) for m in args.methods if m != "baseline"]
    text = "\n".join([
        "# SEFD ablation on the synthetic crowds", "",
        f"Status: **{status}**. Written by `tool/sefd_ablation.py` (rerunning the command completes a partial run).",
        "", "```", command, "```", "", budget_text(args, rows), "",
        "Errors in mm, mean ± sample std over seeds (lower is better):", "", results_table(rows), "",
        "Paired per seed (same data order and augmentation), difference in mm (negative = better than the baseline):",
        "", "| comparison | " + " | ".join(m.upper().replace("_", "-") for m in METRICS) + " |",
        "|---|---|---|---|", *diffs, "", clear_differences(rows, args.methods), "",
        "Reading it: the teacher sees its privileged GT overlap edge also at test time (a reference, not a",
        "deployable model); the student sees only RGB + Canny at test time, as the baseline sees RGB. The budget is",
        "tiny (a couple of hundred iterations from scratch on a small synthetic world; every model is still far",
        "from converged, see the MPJPE level), so the table tests the pipeline and the direction of the effect at",
        "this scale, not the paper's 3DPW numbers (ResNet-50, ImageNet init, 14 epochs on H36M + MuCo + COCO + MPII).",
        "", "Every run (mm; train s = wall time of training, inflated by other jobs on the box):", "",
        per_run_table(rows), "",
        f"Raw results: `{Path(args.out) / 'results.jsonl'}`; run folders: `{Path(args.out) / 'runs'}`.", "",
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS[:3]), choices=METHODS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from results.jsonl")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="experiment.num_threads (1 is fastest on a busy box)")
    parser.add_argument("--on-the-fly", action="store_true", help="render teacher edges in the mapper")
    parser.add_argument("--out", default="output/sefd_ablation")
    parser.add_argument("--doc", default="docs/sefd_ablation.md")
    parser.add_argument("--opts", nargs="*", default=[], help="extra config overrides for every run")
    args = parser.parse_args(argv)
    given = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--report-only"]
    command = " ".join(["python -m tool.sefd_ablation", *map(shlex.quote, given)])
    results = Path(args.out) / "results.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    if not (args.on_the_fly or args.report_only):
        from common.engine import configure_cpu_threads

        configure_cpu_threads(args.threads)  # the runs set it again from experiment.num_threads
        precompute_edges(args)
    rows = read_results(results)
    for seed in [] if args.report_only else args.seeds:
        for method in args.methods:
            if any(r["method"] == method and r["seed"] == seed for r in rows):
                continue
            print(f"=== {method} seed {seed}", flush=True)
            new = train_and_test(method, seed, args)
            with results.open("a") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in new)
            rows += new
            write_doc(Path(args.doc), rows, args, command, finished=False)
    done = {(r["method"], r["seed"]) for r in rows}
    finished = all((m, s) in done for m in args.methods for s in args.seeds)
    write_doc(Path(args.doc), rows, args, command, finished)
    print(results_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
