"""The training loop: epochs of Adam steps with AMP (CUDA), grad clipping, logging, checkpoints, evaluation.

Model contract: ``model(batch) -> preds`` and ``model.losses(batch, preds) -> {name: scalar Tensor}``; the
total loss is the sum of the terms. ``visualize(batch, preds) -> {name: HxWx3 uint8}`` is optional. What a run
trains with is one :class:`TrainingRun`, built by the entry point; :func:`fit` advances a :class:`TrainState`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from common.engine.batchnorm import freeze_batchnorm
from common.engine.checkpoint import checkpoint_path, iteration_checkpoint_path, save_checkpoint
from common.engine.distributed import DistInfo, all_reduce_mean, barrier, unwrap_model
from common.engine.logger import RunLogger
from common.engine.optim import current_lr, lr_at_iteration, training_autocast
from common.engine.resume import EpochProgress, epoch_batches, gather_mid_epoch, progress_from_checkpoint
from common.engine.seed import seed_epoch, set_loader_epoch

VisualizeFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, np.ndarray]]


@dataclass
class TrainingRun:
    """Everything :func:`fit` trains with, built once by the caller (main/train.py, tests)."""

    model: nn.Module  # possibly DDP-wrapped; the core (``unwrap_model``) has ``losses``
    train_loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any  # stepped after every optimizer step (common/engine/optim.py)
    scaler: torch.amp.GradScaler
    cfg: Any  # the whole config: ``train.*`` drives the loop, ``experiment.seed`` the RNGs; saved in checkpoints
    run_dir: Path  # checkpoints and eval/epochNNNN/ go here (a str becomes a Path)
    info: DistInfo
    logger: RunLogger
    evaluator: Any = None  # periodic evaluation needs both evaluator and test_loader
    test_loader: Any = None
    visualize: VisualizeFn | None = None
    progress: bool = True  # tqdm bars (main process only)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)


@dataclass
class TrainState:
    """Progress counters: ``epoch`` = epochs completed (the next epoch's index), ``iteration`` = steps done."""

    epoch: int = 0
    iteration: int = 0
    last_train: dict = field(default_factory=dict)  # rank-averaged mean loss terms of the last epoch
    last_eval: dict = field(default_factory=dict)  # summary of the last evaluation
    progress: EpochProgress | None = None  # inside an epoch (or resumed mid-epoch): its step, loss sums, RNG

    @classmethod
    def from_checkpoint(cls, payload: Mapping[str, Any], info: DistInfo, source: str = "checkpoint") -> "TrainState":
        """Counters of a loaded checkpoint (``load_checkpoint``), with its mid-epoch position if it has one."""
        return cls(epoch=payload["epoch"], iteration=payload["iteration"],
                   progress=progress_from_checkpoint(payload.get("mid_epoch"), info, source))


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Tensors (in nested dicts/lists) -> ``device``; everything else unchanged."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def log_metrics(logger: RunLogger, values: Mapping[str, float], step: int, split: str, **context: Any) -> None:
    """Tensorboard scalars ``<split>/<name>`` and one ``metrics.jsonl`` record (main process only)."""
    logger.scalars(values, step, prefix=split)
    logger.metrics({"split": split, "iteration": step, **context, **values})


def _total_loss(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    if not terms:
        raise ValueError("model.losses() returned no terms")
    for name, value in terms.items():
        if not torch.is_tensor(value) or value.ndim != 0:
            raise ValueError(f"model.losses()['{name}'] must be a scalar tensor, got {getattr(value, 'shape', value)}")
    return sum(terms.values())


def train_one_epoch(run: TrainingRun, state: TrainState,
                    after_step: Callable[[TrainState, int], None] | None = None) -> dict[str, float]:
    """One epoch (at most ``train.max_iters_per_epoch`` steps); returns rank-averaged mean loss terms.

    Steps ``run.scheduler`` after every optimizer step. Continues from ``state.progress`` when resuming mid-epoch;
    ``after_step(state, steps_in_epoch)`` runs after every step (mid-epoch checkpoints).
    """
    model, optimizer, scaler, scheduler = run.model, run.optimizer, run.scaler, run.scheduler
    train_cfg, info, logger, visualize = run.cfg.train, run.info, run.logger, run.visualize
    model.train()
    if train_cfg.freeze_bn:
        freeze_batchnorm(model)
    core, device = unwrap_model(model), info.device
    params = [p for group in optimizer.param_groups for p in group["params"]]
    loader = run.train_loader
    limit = min(train_cfg.max_iters_per_epoch or len(loader), len(loader))
    pos = state.progress = state.progress or EpochProgress()
    bar = tqdm(epoch_batches(loader, pos, limit, logger.info), total=limit, initial=pos.step,
               desc=f"epoch {state.epoch + 1}", disable=not (run.progress and info.is_main), dynamic_ncols=True,
               leave=False)
    for batch in bar:
        batch = move_to_device(batch, device)
        with training_autocast(train_cfg.amp, train_cfg.cpu_bf16, device):
            preds = model(batch)
            terms = dict(core.losses(batch, preds))
        terms["total"] = _total_loss(terms)
        if not torch.isfinite(terms["total"]) and not scaler.is_enabled():  # the fp16 scaler skips such steps
            bad = {k: float(v.detach()) for k, v in terms.items()}
            raise FloatingPointError(f"iteration {state.iteration}: non-finite loss {bad}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(terms["total"]).backward()
        if train_cfg.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, train_cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()  # per iteration (common/engine/optim.py)
        state.iteration += 1
        pos.step += 1
        pos.window_steps += 1
        for name, value in terms.items():
            value = value.detach().float()
            pos.sums[name] = pos.sums.get(name, 0.0) + value
            pos.window[name] = pos.window.get(name, 0.0) + value
        if train_cfg.log_every > 0 and state.iteration % train_cfg.log_every == 0:
            means = all_reduce_mean({k: float(v) / pos.window_steps for k, v in pos.window.items()}, device)
            means["lr"] = current_lr(optimizer)
            log_metrics(logger, means, state.iteration, "train", epoch=state.epoch + 1)
            bar.set_postfix(loss=f"{means['total']:.4g}", lr=f"{means['lr']:.2g}")
            pos.window, pos.window_steps = {}, 0
        if (visualize is not None and info.is_main and train_cfg.image_log_every > 0
                and state.iteration % train_cfg.image_log_every == 0):
            with torch.no_grad():
                logger.images(visualize(batch, preds), state.iteration, prefix="train")
        if after_step is not None:
            after_step(state, limit)
    bar.close()
    state.progress = None
    return all_reduce_mean({k: float(v) / max(pos.step, 1) for k, v in pos.sums.items()}, device)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, evaluator: Any, device: torch.device,
             output_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Run the (unwrapped) model over ``loader`` on every rank and return ``evaluator.evaluate(output_dir)``.

    The evaluator gathers per-sample rows across ranks; only rank 0 writes files. Used by main/test.py and
    by periodic evaluation during training, so both report the same numbers.
    """
    core = unwrap_model(model)  # no DDP hooks: ranks may see different numbers of batches
    was_training = core.training
    core.eval()
    evaluator.reset(range(len(loader.dataset)))  # coverage check: every sample must come back
    show = progress and getattr(evaluator, "is_main", True)
    for batch in tqdm(loader, desc="evaluate", disable=not show, dynamic_ncols=True, leave=False):
        batch = move_to_device(batch, device)
        evaluator.process(batch, core(batch))
    core.train(was_training)
    return evaluator.evaluate(output_dir)


def numeric_items(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numbers of a (nested) summary as flat ``a/b`` keys, e.g. ``strata/occ<0.1/mpjpe`` (bools as 0/1)."""
    flat: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            flat.update(numeric_items(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def _due(epoch_done: int, every: int, last: int) -> bool:
    return every > 0 and (epoch_done % every == 0 or epoch_done == last)


def _save_checkpoint(run: TrainingRun, path: Path, state: TrainState, mid_epoch: dict | None = None) -> Path:
    """Main process only: the model, optimizer, scheduler, scaler, counters and config of ``run`` to ``path``."""
    return save_checkpoint(path, run.model, run.optimizer, run.scheduler, run.scaler, state.epoch, state.iteration,
                           run.cfg, keep_last=run.cfg.train.keep_last, mid_epoch=mid_epoch)


def iteration_checkpointer(run: TrainingRun) -> Callable[[TrainState, int], None] | None:
    """``after_step`` callback writing ``ckpt_iter*.pth`` every ``train.ckpt_every_iters`` steps (None when 0).

    Skipped at an epoch's last step when the epoch checkpoint follows anyway. Every process takes part (its RNG
    states and loss sums go into the file); rank 0 writes.
    """
    tc = run.cfg.train
    if tc.ckpt_every_iters <= 0:
        return None

    def after_step(state: TrainState, steps_in_epoch: int) -> None:
        if state.iteration % tc.ckpt_every_iters or (state.progress.step == steps_in_epoch
                                                     and _due(state.epoch + 1, tc.ckpt_every, tc.epochs)):
            return
        mid_epoch = gather_mid_epoch(state.progress, getattr(run.train_loader, "batch_size", None))
        if run.info.is_main:
            path = _save_checkpoint(run, iteration_checkpoint_path(run.run_dir, state.iteration), state, mid_epoch)
            run.logger.info(f"saved {path} (step {state.progress.step} of epoch {state.epoch + 1})")
        barrier()

    return after_step


def fit(run: TrainingRun, state: TrainState | None = None) -> TrainState:
    """Train from ``state.epoch`` to ``cfg.train.epochs``; checkpoint and evaluate on their schedules.

    Every epoch reseeds all RNGs from (experiment.seed, epoch, rank) and sets the sampler's epoch, so a run
    resumed from a checkpoint (``state`` from it, :meth:`TrainState.from_checkpoint`) repeats the uninterrupted
    run exactly; a mid-epoch checkpoint (``train.ckpt_every_iters``) continues its epoch (common/engine/resume.py).
    """
    state = state or TrainState()
    tc, info, logger = run.cfg.train, run.info, run.logger
    if state.epoch >= tc.epochs:
        logger.info(f"nothing to train: {state.epoch} of train.epochs={tc.epochs} epochs already done")
    after_step = iteration_checkpointer(run)
    for epoch in range(state.epoch, tc.epochs):
        seed_epoch(run.cfg.experiment.seed, epoch, info.rank)
        set_loader_epoch(run.train_loader, epoch)
        first_step = state.iteration - (state.progress.step if state.progress else 0)
        lr = lr_at_iteration(run.scheduler, first_step)  # the epoch's first LR, also when resumed mid-epoch
        means = train_one_epoch(run, state, after_step)
        state.epoch, state.last_train = epoch + 1, means
        log_metrics(logger, {**means, "lr": lr}, state.iteration, "train_epoch", epoch=state.epoch)
        logger.info(f"epoch {state.epoch}/{tc.epochs} iter {state.iteration} lr at epoch start {lr:.3g} "
                    + " ".join(f"{k} {v:.4g}" for k, v in means.items()))
        if _due(state.epoch, tc.ckpt_every, tc.epochs):
            if info.is_main:
                logger.info(f"saved {_save_checkpoint(run, checkpoint_path(run.run_dir, state.epoch), state)}")
            barrier()
        if run.evaluator is not None and run.test_loader is not None and _due(state.epoch, tc.eval_every, tc.epochs):
            out = run.run_dir / "eval" / f"epoch{state.epoch:04d}"
            state.last_eval = evaluate(run.model, run.test_loader, run.evaluator, info.device, out, run.progress)
            numbers = numeric_items(state.last_eval)
            log_metrics(logger, numbers, state.iteration, "test", epoch=state.epoch)
            logger.info(f"eval epoch {state.epoch}: " + " ".join(f"{k} {v:.4g}" for k, v in numbers.items()
                                                                 if "/" not in k))
            if state.last_eval.get("headline_refused"):
                logger.info(f"warning: evaluation incomplete: {state.last_eval['headline_refused']}")
    logger.flush()
    return state
