"""Evaluate a checkpoint on ``data.test_set`` and print/write the metrics.

    python main/test.py --cfg configs/X.yaml --ckpt output/X/ckpt_epoch0010.pth [--opts k=v ...] [--out DIR]

Without ``--ckpt`` (and empty ``test.ckpt``) the untrained model is evaluated, for reference numbers.
Writes ``metrics.json`` and ``per_sample.jsonl`` into ``--out`` (default: next to the checkpoint).
Works under ``torchrun`` too (the evaluator gathers per-sample results from every rank).
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from common.cli import cli_session
from common.config import load_config, to_dict
from common.engine import (
    CheckpointError,
    DistInfo,
    cleanup_distributed,
    configure_cpu_threads,
    evaluate,
    init_distributed,
    load_model_weights,
    seed_everything,
)
from common.engine.checkpoint import read_checkpoint
from common.engine.logger import write_json
from common.errors import UserError, ensure_output_dir
from common.evaluation.mesh_evaluator import format_summary
from common.evaluation.reference_eval import evaluate_references, reference_scalars, reference_table
from common.evaluation.references import references_apply
from data.registry import build_evaluator, check_model_can_evaluate, dataset_records

MODEL_SECTIONS = ("model", "body_model", "sefd")  # config sections that change the network's weights layout


def build_test_components(cfg: Any, info: DistInfo) -> tuple[torch.nn.Module, Any, Any]:
    """(model, evaluation body model, test loader) from the config (imports the other parts lazily).

    The model follows ``sefd.mode`` without a teacher: a SEFD student is evaluated on the edge channel it was
    trained with (Canny / RCF computed from the crop, or the mapper's SMPL map), a teacher on its GT edge.
    """
    from common.body_models import family_body_model
    from common.models.build import build_experiment_model
    from data.loader import build_test_loader

    # the loader first: dataset errors (missing root, bad subset, truncated file) surface before the model is built
    loader = build_test_loader(cfg, info.rank, info.world_size, body_model=family_body_model(cfg))
    model = build_experiment_model(cfg, family_body_model(cfg), training=False).to(info.device)
    eval_body = family_body_model(cfg).to(info.device)
    return model, eval_body, loader


def config_differences(saved: dict, cfg: Any, sections: Sequence[str] = MODEL_SECTIONS) -> list[str]:
    """Dotted keys of ``sections`` whose value in the checkpoint's config differs from ``cfg``."""
    current, diffs = to_dict(cfg), []
    for section in sections:
        old, new = saved.get(section, {}) or {}, current.get(section, {})
        diffs += [f"{section}.{k}: {old.get(k)!r} (checkpoint) vs {v!r}" for k, v in new.items() if old.get(k) != v]
    return diffs


def mismatch_hint(ckpt: str, cfg: Any) -> str:
    """' (hint: the checkpoint was trained with ...)' from the config saved in our checkpoints, else ''."""
    try:
        saved = read_checkpoint(ckpt).get("config") or {}
    except CheckpointError:
        return ""
    diffs = config_differences(saved, cfg)
    return f" (hint: the checkpoint was trained with a different config: {'; '.join(diffs[:4])})" if diffs else ""


def default_out_dir(cfg: Any, ckpt: str) -> Path:
    if ckpt:
        return Path(ckpt).parent / f"test_{cfg.data.test_set}_{Path(ckpt).stem}"
    return Path(cfg.experiment.output_dir) / cfg.experiment.name / f"test_{cfg.data.test_set}_untrained"


def run_test(cfg: Any, info: DistInfo, ckpt: str, out_dir: Path,
             build: Callable[[Any, DistInfo], tuple] = build_test_components, progress: bool = True) -> dict:
    """Load the checkpoint (ours, or an official one through the conversion hook) and evaluate."""
    say = print if info.is_main else (lambda *a, **k: None)
    seed_everything(cfg.experiment.seed, cfg.experiment.deterministic, info.device)
    configure_cpu_threads(cfg.experiment.num_threads)
    model, eval_body, loader = build(cfg, info)
    if ckpt:
        try:
            meta = load_model_weights(ckpt, model)
        except CheckpointError as err:
            raise CheckpointError(f"{err}{mismatch_hint(ckpt, cfg)}") from None
        say(f"loaded {ckpt} (epoch {meta.get('epoch', '?')})")
        for line in config_differences(meta.get("config") or {}, cfg) if meta.get("config") else []:
            say(f"warning: config differs from the checkpoint's: {line}")
    else:
        say("warning: no checkpoint given (--ckpt / test.ckpt): evaluating the UNTRAINED model "
            "(reference numbers only)")
    records = dataset_records(loader)
    evaluator = build_evaluator(cfg, eval_body, out_dir, records=records)
    summary = evaluate(model, loader, evaluator, info.device, out_dir, progress)
    say(f"{cfg.data.test_set}{'/' + cfg.data.test_subset if cfg.data.test_subset else ''}: "
        f"{ckpt or 'untrained model'}")
    say(format_summary(summary))
    say(f"wrote {out_dir / 'metrics.json'}" + (" and per_sample.jsonl" if cfg.test.save_per_sample else ""))
    if cfg.test.references and references_apply(evaluator, records, getattr(eval_body, "kind", "smpl")):
        from data.train_poses import train_smpl_poses

        try:
            train_poses = train_smpl_poses(cfg, getattr(eval_body, "kind", "smpl"))
        except UserError as err:  # e.g. the training sets are not on this machine: say so, keep the model's numbers
            say(f"references: not computed ({err}); set test.references=false to skip them")
            return summary
        refs = evaluate_references(eval_body, train_poses, loader,
                                   partial(build_evaluator, cfg, eval_body, records=records),
                                   info.device, out_dir / "references")
        if info.is_main:
            write_json(out_dir / "references.json", refs)
        say("constant-prediction references (common/evaluation/references.py):")
        say(reference_table(summary, refs))
        summary = {**summary, "references": reference_scalars(refs)}
    return summary


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint (see docs/DESIGN.md).")
    parser.add_argument("--cfg", required=True, help="experiment YAML")
    parser.add_argument("--ckpt", default=None, help="checkpoint (default: test.ckpt; none = untrained model)")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--out", default=None, help="output folder for metrics.json / per_sample.jsonl")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """The test command: config from ``--cfg`` / ``--opts`` / ``--ckpt``, evaluate; 1 when the headline
    numbers are refused (skipped samples), else 0."""
    cfg = load_config(args.cfg, list(args.opts) + ([f"test.ckpt={args.ckpt}"] if args.ckpt else []))
    from data.registry import check_dataset_names

    check_dataset_names(cfg)
    check_model_can_evaluate(cfg)
    ckpt = cfg.test.ckpt
    if ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(f"{ckpt}: checkpoint not found (--ckpt)")
    out_dir = Path(args.out) if args.out else default_out_dir(cfg, ckpt)
    ensure_output_dir(out_dir, "output folder (--out)")  # before the evaluation, not after it
    info = init_distributed(cfg.experiment.device)
    try:
        summary = run_test(cfg, info, ckpt, out_dir)
    finally:
        cleanup_distributed()
    if summary.get("headline_refused"):
        print(f"error: {summary['headline_refused']}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_session() as status:
        status.code = run(args) or 0
    return status.code


if __name__ == "__main__":
    sys.exit(main())
