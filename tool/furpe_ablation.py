"""FuRPE ablation on the embedded whole-body world: five variants x N seeds, per-part PA-V2V on the EHF-format test.

Variants (each adds one piece to the previous; ``configs/furpe.yaml`` + the budget): ``gt_body`` (GT body labels
only, ``furpe.gt_parts=body``); ``pseudo`` (+ pseudo-labels of the same images, unselected); ``select``
(+ ``furpe.select``); ``distill`` (+ expert-feature distillation); ``ema`` (+ EMA teacher, two-view consistency).
Every run is tested on the EHF-format export of the world (``data.test_set=ehf data.roots.ehf=embedded``, the EHF
evaluator: PA-V2V body / hands / face, mm). Labels: ``--labels DIR`` (the labelling tool's output) or simulated
experts (tool/furpe_simulated_labels.py) written once into ``<out>/labels``; the label report (fraction removed
by each filter, label error vs GT before / after selection) is computed once from them.

Results go to ``<out>/results.jsonl`` as they come (a rerun skips finished runs) and the markdown report is
rewritten after every run. ``--parallel N`` runs N trainings at once (child processes; the world, the EHF export
and the labels are prepared first), ``--device cuda`` trains there; ``--budget tiny`` is a CPU smoke run.

    python -m tool.furpe_ablation --budget tiny --seeds 0 --out output/furpe_ablation_tiny
    python -m tool.furpe_ablation --budget gpu --device cuda --parallel 15 --out output/furpe_ablation
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from tool.ablation_results import append_results, mean_std, read_results
from tool.parallel_jobs import run_jobs

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"gt_body": ["data.train_sets=[synthetic_wholebody]", "data.train_weights=[]", "furpe.select=false",
                        "furpe.distill=false", "furpe.learned_weights=false", "furpe.ema_teacher=false"],
            "pseudo": ["furpe.select=false", "furpe.distill=false", "furpe.learned_weights=false",
                       "furpe.ema_teacher=false"],
            "select": ["furpe.distill=false", "furpe.learned_weights=false", "furpe.ema_teacher=false"],
            "distill": ["furpe.learned_weights=false", "furpe.ema_teacher=false"],
            "ema": ["furpe.learned_weights=false"]}
LABELS = {"gt_body": "GT body only", "pseudo": "+ pseudo-labels (unselected)", "select": "+ selection",
          "distill": "+ feature distillation", "ema": "+ EMA teacher"}
METRICS = ("pa_v2v_body", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face")
BUDGETS = {
    "tiny": ["data.wholebody_world.num_train_images=6", "data.wholebody_world.num_test_images=3",
             "data.wholebody_world.image_size=192", "data.wholebody_world.ehf_frames=2", "data.batch_size=4",
             "data.num_workers=0", "wholebody.hd_size=128", "wholebody.hand_crop_size=32",
             "wholebody.head_crop_size=32", "wholebody.ief_hidden=128", "train.epochs=1",
             "train.max_iters_per_epoch=2", "train.warmup_iters=0", "test.batch_size=4"],
    "gpu": ["data.wholebody_world.ehf_frames=100", "train.epochs=6", "data.num_workers=1", "test.batch_size=16"],
    "full": ["data.wholebody_world.ehf_frames=100"],  # configs/furpe.yaml as it is (40 epochs)
}


def run_config(variant: str, seed: int, args: argparse.Namespace, test: bool = False):
    """The resolved config of one run (configs/furpe.yaml + budget + variant + paths)."""
    from common.config import load_config

    out = Path(args.out)
    opts = [*BUDGETS[args.budget], f"experiment.name={variant}_seed{seed}", f"experiment.seed={seed}",
            f"experiment.output_dir={out / 'runs'}", f"experiment.device={args.device}", "train.eval_every=0",
            "train.image_log_every=0", f"experiment.num_threads={args.threads}", f"furpe.label_dir={label_dir(args)}",
            *VARIANTS[variant], *args.opts]
    if test:  # the EHF-format export (the real EHF code path; meshes only, so no constant references there)
        opts += ["data.test_set=ehf", "data.roots.ehf=embedded"]
    else:  # the world's test split: the same EHF evaluator, with the constant references (it has GT SMPL-X)
        opts += ["data.test_set=synthetic_wholebody"]
    return load_config(REPO / "configs" / "furpe.yaml", opts)


def label_dir(args: argparse.Namespace) -> Path:
    return Path(args.labels) if args.labels else Path(args.out) / "labels"


def prepare(args: argparse.Namespace) -> dict:
    """World, EHF export and (simulated) labels once; returns the label report of the 'select' settings."""
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels.dataset import build_pseudo_label_records, stored_hand_mean
    from data.registry import load_records
    from tool.furpe_simulated_labels import simulate_labels

    cfg = run_config("select", 0, args, test=True)
    base = load_records(cfg.furpe.base_set, "train", cfg)
    load_records("ehf", "test", cfg)  # renders the EHF-format export before parallel runs read it
    layer = WholeBodyLayer.from_config(cfg)
    hand_mean = stored_hand_mean(cfg.furpe, layer)
    if not args.labels and not (label_dir(args) / "params3d_v").is_dir():
        counts = simulate_labels(base, label_dir(args), cfg.furpe.base_set, hand_mean=hand_mean)
        print(f"simulated labels: {dict(counts)}", flush=True)
    _, report = build_pseudo_label_records(base, cfg.furpe, cfg.furpe.base_set, layer, hand_mean)
    return {"counts": dict(report.counts), "label_error": report.label_error, "kept": report.kept}


def train_and_test(variant: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one run (unless its final checkpoint exists), evaluate it on the EHF-format test; one result row."""
    from common.engine import init_distributed
    from common.engine.checkpoint import checkpoint_path
    from main.test import run_test
    from main.train import train

    cfg = run_config(variant, seed, args)
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    ckpt = checkpoint_path(run_dir, cfg.train.epochs)
    start = time.time()
    info = init_distributed(cfg.experiment.device)
    if not ckpt.is_file():
        iterations = train(cfg, info, progress=False).iteration
    else:
        iterations = json.loads((run_dir / "summary.json").read_text())["iterations"]
    train_s = time.time() - start
    summary = run_test(run_config(variant, seed, args, test=True), info, str(ckpt), run_dir / "test_ehf",
                       progress=False)
    world = run_test(run_config(variant, seed, args), info, str(ckpt), run_dir / "test_world", progress=False)
    return {"variant": variant, "seed": seed, "iterations": iterations, "train_s": round(train_s, 1),
            "num_samples": summary.get("num_samples"), **{k: summary.get(k) for k in METRICS},
            "world": {"num_samples": world.get("num_samples"), "references": world.get("references", {}),
                      **{k: world.get(k) for k in METRICS}}}


def results_table(rows: list[dict]) -> str:
    """Variants on the EHF-format export (mean +- std over seeds)."""
    lines = ["| variant | seeds | " + " | ".join(m.replace("pa_v2v_", "PA-V2V ") for m in METRICS) + " | train s |",
             "|" + "---|" * (3 + len(METRICS))]
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        if mine:
            cells = [mean_std([r[m] for r in mine], 2) for m in METRICS]
            lines.append(f"| {LABELS[variant]} | {len(mine)} | " + " | ".join(cells)
                         + f" | {np.mean([r['train_s'] for r in mine]):.0f} |")
    return "\n".join(lines)


def world_table(rows: list[dict]) -> str:
    """Variants on the world's test split, next to the constant references scored by the same evaluator."""
    lines = ["| variant | seeds | " + " | ".join(m.replace("pa_v2v_", "PA-V2V ") for m in METRICS) + " |",
             "|" + "---|" * (2 + len(METRICS))]
    for variant in VARIANTS:
        mine = [r["world"] for r in rows if r["variant"] == variant and r.get("world")]
        if mine:
            lines.append(f"| {LABELS[variant]} | {len(mine)} | " + " | ".join(mean_std([w[m] for w in mine], 2)
                                                                            for m in METRICS) + " |")
    refs = next((r["world"]["references"] for r in rows if r.get("world", {}).get("references")), {})
    for name in sorted({key.split("/")[0] for key in refs}):  # constant predictors, same evaluator and frames
        cells = [f"{refs[f'{name}/{m}']:.2f}" if f"{name}/{m}" in refs else "-" for m in METRICS]
        lines.append(f"| reference: {name} (constant where named, GT elsewhere) | - | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def label_text(report: dict) -> str:
    """Fraction of labels each filter removed and the label error vs GT before / after selection."""
    counts, n = report["counts"], max(report["counts"].get("loaded", 0), 1)
    removed = [f"{k.removeprefix('select_')} {v} ({100 * v / n:.0f} %)" for k, v in sorted(counts.items())
               if k.startswith("select_") and k not in ("select_images_in", "select_images_kept")]
    errs = report["label_error"]
    parts = sorted(set(errs.get("before", {})) | set(errs.get("after", {})))
    table = ["| label error vs GT | " + " | ".join(parts) + " |", "|" + "---|" * (1 + len(parts))]
    for stage in ("before", "after"):
        table.append(f"| {stage} selection | " + " | ".join(
            f"{errs.get(stage, {}).get(p, float('nan')):.2f}" for p in parts) + " |")
    return "\n".join([f"Labels loaded: {counts.get('loaded', 0)} of {counts.get('images', 0)} records "
                      f"(missing: {counts.get('missing_label', 0)}). Removed by each filter (of the loaded labels): "
                      + ("; ".join(removed) or "nothing") + f". Valid parts kept: {report['kept']}.", "",
                      "Rotation errors: mean geodesic angle per joint (deg; body without the root, jaw for the face); "
                      "face_expression: L2 of the 10 coefficients.", "", *table])


def write_doc(args: argparse.Namespace, rows: list[dict], report: dict, command: str) -> None:
    done = {(r["variant"], r["seed"]) for r in rows}
    total = len(args.variants) * len(args.seeds)
    text = "\n".join([
        "# FuRPE ablation on the embedded whole-body world", "",
        f"Status: {len(done)} of {total} runs finished. Written by `tool/furpe_ablation.py`.", "",
        "```", command, "```", "", f"Budget `{args.budget}` ({' '.join(BUDGETS[args.budget])}), configs/furpe.yaml; "
        f"labels: {'`' + args.labels + '`' if args.labels else 'simulated experts (tool/furpe_simulated_labels.py)'}.",
        "", "PA-V2V in mm on the EHF-format export, mean ± sample std over seeds (lower is better):", "",
        results_table(rows), "",
        "The same checkpoints on the world's test split (GT SMPL-X there, so the constant references can be scored by",
        "the same evaluator: the GT body with the training set's mean hands / a neutral face / its mean jaw):", "",
        world_table(rows), "", label_text(report), "", f"Raw results: `{Path(args.out) / 'results.jsonl'}`.", ""])
    Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
    Path(args.doc).write_text(text)


def child_command(variant: str, seed: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "tool.furpe_ablation", *argv, "--only", f"{variant}:{seed}"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--budget", default="gpu", choices=list(BUDGETS))
    parser.add_argument("--device", default="auto", help="experiment.device: auto | cpu | cuda | cuda:N")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (child processes)")
    parser.add_argument("--threads", type=int, default=1, help="experiment.num_threads of every run")
    parser.add_argument("--labels", default="", help="label root from the labelling tool ('' = simulated experts)")
    parser.add_argument("--out", default="output/furpe_ablation")
    parser.add_argument("--doc", default="", help="markdown report (default <out>/furpe_ablation.md)")
    parser.add_argument("--only", default="", help=argparse.SUPPRESS)  # VARIANT:SEED, one run (child process)
    parser.add_argument("--opts", nargs="*", default=[], help="extra config overrides for every run")
    args = parser.parse_args(argv)
    args.doc = args.doc or str(Path(args.out) / "furpe_ablation.md")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    out = Path(args.out)
    if args.only:  # one run, its row to <out>/rows/ (the parent collects it)
        variant, seed = args.only.split(":")
        row = train_and_test(variant, int(seed), args)
        (out / "rows").mkdir(parents=True, exist_ok=True)
        (out / "rows" / f"{variant}_seed{seed}.json").write_text(json.dumps(row))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m tool.furpe_ablation", *map(shlex.quote, argv)])
    report = prepare(args)
    (out / "labels_report.json").write_text(json.dumps(report, indent=1))
    results = out / "results.jsonl"
    rows = read_results(results)
    todo = [(v, s) for s in args.seeds for v in args.variants
            if not any(r["variant"] == v and r["seed"] == s for r in rows)]

    def collect(name: str, code: int) -> None:  # as each run ends: its row into results.jsonl and the report
        row_file = out / "rows" / f"{name}.json"
        if code != 0 or not row_file.is_file():
            print(f"run {name} failed (exit {code}); see {out / f'{name}.log'}")
            return
        rows.append(json.loads(row_file.read_text()))
        append_results(results, [rows[-1]])
        write_doc(args, rows, report, command)

    run_jobs([[(f"{v}_seed{s}", child_command(v, s, argv)) for v, s in todo]], max(args.parallel, 1), out,
             poll_s=1.0, cwd=REPO, on_done=collect)
    write_doc(args, rows, report, command)
    print(results_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
