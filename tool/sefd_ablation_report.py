"""The SEFD ablation's markdown report (tool/sefd_ablation.py): tables, paired differences, budget paragraph."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tool.ablation_results import mean_std

METHODS = ("baseline", "teacher", "student", "edge_input", "student_rgb")  # the ablation's default: the first three
STUDENTS = {"student": "teacher", "student_rgb": "baseline"}  # distilled method -> the run it distils from
METRICS = ("mpjpe", "pa_mpjpe", "mpvpe")
LABELS = {"baseline": "3DCrowdNet baseline (RGB)", "teacher": "teacher (RGB + GT SMPL overlap edge, also at test)",
          "student": "SEFD student (RGB + Canny, log_softmax_l1 from the teacher)",
          "edge_input": "RGB + Canny input, no distillation",
          "student_rgb": "control: the student distilled from the RGB baseline (no edge teacher)"}


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
                    found.append(f"{method} {word} than {reference} on {metric} ({subset}, {np.mean(diffs):+.1f} mm)")
    if not found:
        return (f"No paired difference to the {reference} exceeds two standard errors of its seed mean: at this "
                "budget the ablation shows no effect, in either direction.")
    return "Paired differences beyond two standard errors of the seed mean: " + "; ".join(found) + "."


def edge_teacher_sentence(rows: list[dict], args: argparse.Namespace) -> list[str]:
    """The significance sentence of ``student - student_rgb`` (what the edge teacher adds), when both ran."""
    if not {"student", "student_rgb"} <= set(args.methods):
        return []
    return ["", clear_differences(rows, ["student"], reference="student_rgb")]


def schedule_text(cfg) -> str:
    """The optimiser schedule of ``cfg.train`` in words."""
    t = cfg.train
    if t.lr_schedule == "cosine":
        return (f"Adam lr {t.lr:g}, {t.warmup_iters} warm-up iterations, cosine decay to x{t.min_lr_factor:g}")
    steps = ", ".join(str(s) for s in t.lr_steps) or "never"
    return f"Adam lr {t.lr:g}, x{t.lr_factor:g} after epoch(s) {steps}"


def budget_text(args: argparse.Namespace, rows: list[dict], cfg) -> str:
    """The budget and data paragraph of the report (``cfg``: one run's resolved config)."""
    joined = lambda values: ", ".join(map(str, values))  # noqa: E731
    syn, size = cfg.data.synthetic, cfg.data.input_size
    samples = {s: sorted({r["num_samples"] for r in rows if r["subset"] == s}) for s in ("all", "high_occlusion")}
    edges = "rendered on the fly by the mapper" if args.on_the_fly else "precomputed with tool/precompute_edges.py"
    minutes = sum(r["train_s"] for r in rows if r["subset"] == "all") / 60.0
    init = "random init" + (f" with the heads at the mean parameters ({cfg.model.mean_params})"
                            if cfg.model.mean_params else "")
    recipe = f"the recipe of `{args.recipe}` (method configs give only the `sefd` section)" if args.recipe \
        else "the method configs `configs/sefd_<method>.yaml`"
    return "\n".join([
        f"Budget, identical for every method and seed: {recipe}; {cfg.model.backbone} from {init},",
        f"{size}x{size} crops, batch {cfg.data.batch_size}, {cfg.train.epochs} epochs of the synthetic train split "
        f"({joined(sorted({r['iterations'] for r in rows}))} iterations), {schedule_text(cfg)},",
        f"training augmentation on; seeds {joined(args.seeds)} (initialisation, data order, augmentation).",
        f"Synthetic world: {syn.num_train_images} train / {syn.num_test_images} test images of {syn.image_size} px, "
        f"{syn.min_people}-{syn.max_people} people each. Test: the whole test split ({joined(samples['all'])} people)",
        f"and its most-occluded stratum `data.test_subset=high_occlusion` (occlusion >= "
        f"{syn.occlusion_strata[-1]:g}; {joined(samples['high_occlusion'])} people).",
        f"Teacher edges (SMPL overlap): {edges}. Training time of the finished runs: {minutes:.0f} min in all",
        f"(summed over runs; {args.parallel} at a time).",
    ])


def references_table(rows: list[dict]) -> str:
    """Constant-prediction references (same evaluator, same test people) as table lines, or '' if absent."""
    lines = []
    for name, label in (("mean_pose", "reference: mean training pose, zero betas"),
                        ("mean_pose_gt_root", "oracle reference: mean pose with the GT root orientation")):
        cells = []
        for subset in ("all", "high_occlusion"):
            refs = next((r.get("references") or {} for r in rows if r["subset"] == subset and r.get("references")),
                        {})
            cells += [f"{refs[f'{name}/{m}']:.1f}" if f"{name}/{m}" in refs else "-" for m in METRICS]
        if any(c != "-" for c in cells):
            lines.append(f"| {label} | - | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_doc(path: Path, rows: list[dict], args: argparse.Namespace, command: str, finished: bool, cfg) -> None:
    """Write the markdown report (also for a partial ablation: it says how many runs finished); ``cfg`` is one
    run's resolved config (the budget paragraph reads it)."""
    done = {(r["method"], r["seed"]) for r in rows}
    status = "complete" if finished else \
        f"INCOMPLETE: {len(done)} of {len(args.methods) * len(args.seeds)} runs finished"
    diffs = [paired_differences(rows, m) for m in args.methods if m != "baseline"]
    if {"student", "student_rgb"} <= set(args.methods):  # what the edge teacher adds over distillation itself
        diffs.append(paired_differences(rows, "student", "student_rgb"))
    text = "\n".join([
        "# SEFD ablation on the synthetic crowds", "",
        f"Status: **{status}**. Written by `tool/sefd_ablation.py` (rerunning the command completes a partial run).",
        "", "```", command, "```", "", budget_text(args, rows, cfg), "",
        "Errors in mm, mean ± sample std over seeds (lower is better); the constant-prediction references are",
        "scored by the same evaluator on the same people (`common/evaluation/references.py`):", "",
        results_table(rows), references_table(rows), "",
        "Paired per seed (same data order and augmentation), difference in mm (negative = better than the baseline):",
        "", "| comparison | " + " | ".join(m.upper().replace("_", "-") for m in METRICS) + " |",
        "|---|---|---|---|", *diffs, "", clear_differences(rows, args.methods), *edge_teacher_sentence(rows, args), "",
        "Reading it: the teacher sees its privileged GT overlap edge also at test time (a reference, not a",
        "deployable model); the student sees only RGB + Canny at test time, as the baseline sees RGB"
        + ("; the control `student_rgb` is the same student distilled from the RGB baseline of its seed (no edge"
           " anywhere), so `student - student_rgb` is what the edge teacher adds over distillation itself (both"
           " students cost a stage-1 run plus their own; the baseline and the teacher one run each)"
           if "student_rgb" in args.methods else "") + ". A method has",
        "learned only where it is below the references; the table is about the synthetic crowds at this budget,",
        "not the paper's 3DPW numbers (ResNet-50, ImageNet init, 14 epochs on H36M + MuCo + COCO + MPII).",
        "", "Every run (mm; train s = wall time of training, with other runs or jobs on the machine):", "",
        per_run_table(rows), "",
        f"Raw results: `{Path(args.out) / 'results.jsonl'}`; run folders: `{Path(args.out) / 'runs'}`.", "",
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
