"""Train a mesh-recovery model.

    python main/train.py --cfg configs/X.yaml [--opts section.key=value ...] [--resume PATH|auto] [--overwrite]
    torchrun --nproc_per_node=2 main/train.py --cfg ...

A fresh run (no ``--resume``) into a folder that holds an earlier run's checkpoints is refused unless
``--overwrite`` (``experiment.overwrite=true``) is given, which deletes them first. Temporary checkpoint files
left by a killed run are removed at start.

Creates ``<experiment.output_dir>/<experiment.name>/`` with config.yaml, checkpoints, metrics.jsonl, tb/,
log.txt, eval/epochNNNN/ (periodic evaluation, same code as main/test.py) and summary.json.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from common.cli import cli_session
from common.config import load_config, save_config
from common.engine import (
    DistInfo,
    RunLogger,
    TrainingRun,
    TrainState,
    build_grad_scaler,
    build_optimizer,
    build_scheduler,
    cleanup_distributed,
    configure_cpu_threads,
    fit,
    init_distributed,
    iterations_per_epoch,
    load_checkpoint,
    resolve_resume,
    seed_everything,
    wrap_model,
)
from common.engine.batchnorm import prepare_batchnorm
from common.engine.distributed import all_gather_objects
from common.engine.logger import write_json
from common.engine.run_folder import RunFolderError, prepare_run_dir
from common.engine.trainer import log_metrics
from common.errors import UserError
from common.render.training_images import training_visualizer
from data.registry import build_evaluator, check_model_can_evaluate, dataset_records


@dataclass
class Components:
    """What training needs besides the engine: built from the config by :func:`build_components`."""

    model: torch.nn.Module  # on the device; forward(batch) -> preds, losses(batch, preds) -> dict
    eval_body_model: Any  # BodyModel on the device, for GT meshes / joint regression in the evaluator
    train_loader: Any
    test_loader: Any = None  # None: no periodic evaluation
    visualize: Callable | None = None  # (batch, preds) -> {name: HxWx3 uint8}


def build_components(cfg: Any, info: DistInfo) -> Components:
    """Body models, model and loaders from the config (imports the other parts lazily).

    The model follows ``sefd.mode`` (``common/models/build.py: build_experiment_model``); a SEFD student is a
    DistillationWrapper whose frozen teacher stays outside its parameters, state_dict (checkpoints) and DDP.
    """
    from common.body_models import family_body_model
    from common.engine import resolve_teacher_checkpoint
    from common.models.build import build_experiment_model
    from data.loader import build_test_loader, build_train_loader

    model = build_experiment_model(cfg, family_body_model(cfg), training=True,
                                   teacher_path=resolve_teacher_checkpoint(cfg)).to(info.device)
    data_body = family_body_model(cfg)  # CPU copy for the loaders' workers
    eval_body = family_body_model(cfg).to(info.device)
    train_loader = build_train_loader(cfg, info.rank, info.world_size, body_model=data_body)
    test_loader = (build_test_loader(cfg, info.rank, info.world_size, body_model=data_body)
                   if cfg.train.eval_every > 0 else None)
    visualize = training_visualizer(model) if cfg.train.image_log_every > 0 else None
    return Components(model, eval_body, train_loader, test_loader, visualize)


def log_references(cfg: Any, parts: Components, run_dir: Path, info: DistInfo, logger: RunLogger) -> dict | None:
    """Score the constant-prediction references once (same evaluator as the periodic evaluation) and log them:
    ``eval/references.json``, metrics.jsonl records of split 'reference' and tensorboard scalars at step 0.
    Returns {name: summary}, or None when the training set has no SMPL poses to average."""
    from common.evaluation.reference_eval import evaluate_references, reference_scalars, reference_table
    from data.train_poses import smpl_poses_of

    train_set = parts.train_loader.dataset
    try:
        kind = getattr(parts.eval_body_model, "kind", "smpl")
        train_poses = smpl_poses_of(getattr(train_set, "datasets", [train_set]), kind)
    except UserError as err:
        logger.info(f"references: not computed ({err})")
        return None
    records = dataset_records(parts.test_loader)
    refs = evaluate_references(parts.eval_body_model, train_poses, parts.test_loader,
                               partial(build_evaluator, cfg, parts.eval_body_model, records=records),
                               info.device, run_dir / "eval" / "references")
    if info.is_main:
        write_json(run_dir / "eval" / "references.json", refs)
        log_metrics(logger, reference_scalars(refs), 0, "reference")
    logger.info("constant-prediction references on the test split:\n" + reference_table(None, refs))
    return refs


def train(cfg: Any, info: DistInfo, build: Callable[[Any, DistInfo], Components] | None = None,
          progress: bool = True) -> TrainState:
    """Set up the run folder, build everything (``build`` defaults to :func:`build_components`), resume if
    asked, train, write summary.json."""
    run_dir = Path(cfg.experiment.output_dir) / cfg.experiment.name
    logger = RunLogger(run_dir, enabled=info.is_main)
    resume = resolve_resume(cfg.train.resume, run_dir)
    problem = None
    if info.is_main:
        try:
            prepare_run_dir(cfg, run_dir, resume, logger)
            save_config(cfg, run_dir / "config.yaml")
        except UserError as err:
            problem = err
    # every rank stops on the main rank's refusal (instead of waiting for it in the first collective)
    refusals = [p for p in all_gather_objects(None if problem is None else str(problem)) if p]
    if problem is not None:
        raise problem
    if refusals:
        raise RunFolderError(refusals[0])
    build = build or build_components  # looked up at call time (tests replace the module attribute)
    seed_everything(cfg.experiment.seed, cfg.experiment.deterministic, info.device)
    configure_cpu_threads(cfg.experiment.num_threads)
    parts = build(cfg, info)
    parts.model = prepare_batchnorm(parts.model, cfg.train, info, logger.info)  # train.sync_bn, before DDP/Adam
    optimizer = build_optimizer(parts.model, cfg.train)
    per_epoch = iterations_per_epoch(len(parts.train_loader), cfg.train.max_iters_per_epoch)
    scheduler = build_scheduler(optimizer, cfg.train, per_epoch)
    if hasattr(parts.model, "attach_training"):  # FuRPE: the EMA teacher follows every optimizer step
        parts.model.attach_training(optimizer, per_epoch * cfg.train.epochs)
    scaler = build_grad_scaler(cfg.train.amp, info.device)
    state = TrainState()
    if resume is not None:
        payload = load_checkpoint(resume, parts.model, optimizer, scheduler, scaler, restore_rng=True)
        state = TrainState.from_checkpoint(payload, info, str(resume))
        within = f", step {state.progress.step} of epoch {state.epoch + 1}" if state.progress else ""
        logger.info(f"resumed from {resume} (epoch {state.epoch}, iteration {state.iteration}{within})")
    elif cfg.train.resume == "auto":
        logger.info(f"no checkpoint in {run_dir}; starting fresh")
    evaluator = (build_evaluator(cfg, parts.eval_body_model, run_dir / "eval",
                                 records=dataset_records(parts.test_loader))
                 if parts.test_loader is not None else None)
    refs = None
    if cfg.test.references and resume is None and evaluator is not None:
        from common.evaluation.references import references_apply

        if references_apply(evaluator, dataset_records(parts.test_loader),
                            getattr(parts.eval_body_model, "kind", "smpl")):
            refs = log_references(cfg, parts, run_dir, info, logger)
    logger.info(f"run {run_dir}: device {info.device}, {info.world_size} process(es), "
                f"{sum(p.numel() for p in parts.model.parameters() if p.requires_grad)} trainable parameters")
    if cfg.sefd.mode != "baseline":
        teacher = getattr(parts.model, "teacher", None)
        logger.info(f"SEFD mode {cfg.sefd.mode}: {cfg.model.input_channels} input channels"
                    + (f", frozen teacher from {cfg.sefd.teacher_ckpt}" if teacher is not None else ""))
    model = wrap_model(parts.model, info)
    training = TrainingRun(model, parts.train_loader, optimizer, scheduler, scaler, cfg, run_dir, info, logger,
                           evaluator=evaluator, test_loader=parts.test_loader, visualize=parts.visualize,
                           progress=progress)
    state = fit(training, state)
    if refs is not None and state.last_eval:  # the final model next to the references, and their lines in tb
        from common.evaluation.reference_eval import reference_scalars, reference_table

        if info.is_main:
            log_metrics(logger, reference_scalars(refs), state.iteration, "reference")
        logger.info("final evaluation next to the constant-prediction references:\n"
                    + reference_table(state.last_eval, refs))
    if info.is_main:
        write_json(run_dir / "summary.json", {"epochs": state.epoch, "iterations": state.iteration,
                                              "train": state.last_train, "eval": state.last_eval})
        logger.info(f"done: {state.epoch} epochs, {state.iteration} iterations; summary in {run_dir / 'summary.json'}")
    logger.close()
    return state


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a mesh-recovery model (see docs/DESIGN.md).")
    parser.add_argument("--cfg", required=True, help="experiment YAML (keys in common/config/defaults.py)")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="overrides, e.g. train.lr=1e-4")
    parser.add_argument("--resume", default=None, metavar="PATH|auto", help="checkpoint to continue (= train.resume)")
    parser.add_argument("--overwrite", action="store_true", help="a fresh run may delete an earlier run's "
                        "checkpoints in its folder (= experiment.overwrite)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """The train command: config from ``--cfg`` / ``--opts`` (+ ``--resume``, ``--overwrite``), then train."""
    opts = list(args.opts) + ([f"train.resume={args.resume}"] if args.resume else []) \
        + (["experiment.overwrite=true"] if args.overwrite else [])
    cfg = load_config(args.cfg, opts)
    from data.registry import check_dataset_names

    check_dataset_names(cfg)
    if cfg.train.eval_every > 0:
        check_model_can_evaluate(cfg)
    info = init_distributed(cfg.experiment.device)
    try:
        train(cfg, info)
    finally:
        cleanup_distributed()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with cli_session() as status:
        status.code = run(args) or 0
    return status.code


if __name__ == "__main__":
    sys.exit(main())
