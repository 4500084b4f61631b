"""Training checkpoints: atomic writes, keep-last-K, a ``latest`` pointer, strict and readable loading.

A checkpoint is a dict saved with ``torch.save``::

    format 'crowdmesh-checkpoint', version, model (state of the unwrapped module: no 'module.' prefix),
    optimizer, scheduler, scaler, rng (python/numpy/torch/cuda), epoch (epochs completed), iteration
    (optimizer steps done), config (plain dict of the resolved Config), extra (free-form plain data),
    geometry (input size, volume, backbone, pose head, input channels: common/models/geometry.py; None for
    models without one), mid_epoch (None, or where inside epoch ``epoch`` it was written: see
    common/engine/resume.py), helpers (the model's ``helper_state_dict()``: state outside its state_dict, e.g.
    FuRPE's EMA teacher; restored by ``load_checkpoint``). State keys under ``train_aux.`` (training-only modules)
    are dropped when the model has none (a FuRPE checkpoint evaluated with the bare whole-body model).

Loading refuses weights holding NaN/inf (named by key) and a model whose geometry differs from the one the
weights were trained with (official files: the published 256 px geometry). A write goes to a temporary file
``.<name>.tmp<pid>.<host>`` that is renamed; one left by a killed process is removed by
:func:`remove_stale_temporaries` when the next run starts.

Files are ``<run_dir>/ckpt_epoch0003.pth`` (end of an epoch) and ``<run_dir>/ckpt_iter00001200.pth`` (mid-epoch,
``train.ckpt_every_iters``); each kind keeps its own newest ``keep_last``. ``<run_dir>/latest`` is a one-line
text file with the name of the newest one. Loading only unpickles tensors and plain containers
(``weights_only=True``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from common.config import to_dict
from common.engine.checkpoint_files import (  # noqa: F401  (re-exported: the checkpoint API in one place)
    LATEST_POINTER,
    atomic_torch_save,
    checkpoint_path,
    iteration_checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    publish_checkpoint,
    remove_stale_temporaries,
    resolve_resume,
    temporary_path,
)
from common.engine.distributed import unwrap_model
from common.engine.seed import get_rng_state, set_rng_state
from common.errors import UserError
from common.models.geometry import (
    OFFICIAL_GEOMETRY,
    finiteness_problem,
    geometry_from_config,
    geometry_mismatch,
    model_geometry,
)
from common.weights_file import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    TRAINING_ONLY_PREFIX,
    WeightsFileError,
    read_weights_file,
)


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, unreadable, not ours, or does not match the model."""


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, scaler: Any = None, epoch: int = 0, iteration: int = 0,
                    cfg: Any = None, extra: Mapping[str, Any] | None = None, keep_last: int = 0,
                    mid_epoch: Mapping[str, Any] | None = None) -> Path:
    """Write a full training checkpoint atomically, point ``latest`` at it and apply keep-last-K.

    Args:
        path: destination file (use :func:`checkpoint_path` for the keep-last-K naming scheme).
        model: the model, DDP-wrapped or not (its unwrapped state is saved).
        epoch: epochs completed; iteration: optimizer steps done; cfg: the resolved Config (saved as a dict).
        keep_last: keep only the newest K checkpoints of the same kind (``ckpt_epoch*`` or ``ckpt_iter*``) in the
            folder (0 = keep all).
        mid_epoch: position inside the running epoch (mid-epoch checkpoints; common/engine/resume.py).
    Returns the path written.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": get_rng_state(),
        "epoch": int(epoch),
        "iteration": int(iteration),
        "config": to_dict(cfg) if cfg is not None else None,
        "extra": dict(extra or {}),
        "geometry": model_geometry(model),
        "mid_epoch": dict(mid_epoch) if mid_epoch is not None else None,
        # state kept outside the model's state_dict (FuRPE's EMA teacher), restored by load_checkpoint
        "helpers": getattr(unwrap_model(model), "helper_state_dict", dict)(),
    }
    atomic_torch_save(payload, path)
    publish_checkpoint(path, keep_last)
    return path


def _torch_load(path: Path) -> Any:
    try:
        return read_weights_file(path, "checkpoint")  # the one reader of weight files (common/weights_file.py)
    except WeightsFileError as err:
        raise CheckpointError(str(err)) from None


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate one of our checkpoints (CPU tensors). Raises CheckpointError naming the file."""
    path = Path(path)
    payload = _torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a crowdmesh checkpoint (found {keys}); for official weights use "
                              "load_model_weights()")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')} != {CHECKPOINT_VERSION}")
    return payload


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def _listing(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... (+{len(keys) - limit} more)" if len(keys) > limit else shown


def check_geometry(payload: Mapping[str, Any], model: nn.Module, source: str | Path) -> None:
    """CheckpointError when our checkpoint's geometry (stored, or implied by its saved config) is not the
    model's: same weight shapes, different network (e.g. a 256 px checkpoint run at 96 px)."""
    saved = payload.get("geometry") or geometry_from_config(payload.get("config"))
    problem = geometry_mismatch(saved, model)
    if problem:
        raise CheckpointError(f"{source}: {problem}")


def load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Strictly load ``state`` into (the unwrapped) ``model``; mismatches -> one CheckpointError listing them,
    NaN/inf weights -> one CheckpointError naming the key."""
    target = unwrap_model(model)
    state = _strip_prefix(state)
    if not any(k.startswith(TRAINING_ONLY_PREFIX) for k in target.state_dict()):  # e.g. test.py on a FuRPE run
        state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIX)}
    bad = finiteness_problem(state)
    if bad:
        raise CheckpointError(f"{source}: {bad}")
    own = target.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if wrong_shape:
        shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in wrong_shape]
        problems.append(f"shape mismatch ({len(wrong_shape)}): {_listing(shapes, 4)}")
    if problems:
        raise CheckpointError(f"{source}: model weights do not match the model: " + "; ".join(problems))
    target.load_state_dict(state, strict=True)


def load_checkpoint(path: str | Path, model: nn.Module | None = None, optimizer: Any = None, scheduler: Any = None,
                    scaler: Any = None, restore_rng: bool = False) -> dict:
    """Load our checkpoint into whatever objects are given; returns the payload (``epoch``, ``iteration``, ...).

    ``restore_rng`` also restores the python/numpy/torch/CUDA RNG states (resume).
    """
    payload = read_checkpoint(path)
    if model is not None:
        check_geometry(payload, model, path)
        load_model_state(model, payload["model"], path)
        if payload.get("helpers") and hasattr(unwrap_model(model), "load_helper_state_dict"):
            unwrap_model(model).load_helper_state_dict(payload["helpers"])
    try:
        if optimizer is not None and payload["optimizer"] is not None:
            optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
        if scaler is not None and payload["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(payload["scaler"])  # a disabled (CPU) scaler saved an empty dict
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: optimizer/scheduler state does not fit this run: {err}") from None
    if restore_rng:
        set_rng_state(payload["rng"])
    return payload


def check_official_geometry(path: str | Path, model: nn.Module) -> None:
    """Official files carry no config: the model must have the published geometry (256 px crop -> 8x8x8
    volume); otherwise the strict load would succeed and run another network. (Another backbone, pose head or
    channel count changes weight shapes: the strict loader lists those with hints.)"""
    problem = geometry_mismatch(OFFICIAL_GEOMETRY, model, keys=("input_size", "volume_shape"))
    if problem:
        raise CheckpointError(f"{path}: an official release checkpoint needs the official geometry: "
                              + problem.split(": ", 1)[1] + " (start from configs/official_3dcrowdnet.yaml "
                              "or configs/official_sefd.yaml)")


def load_official_weights(path: str | Path, model: nn.Module) -> dict:
    """Official 3DCrowdNet / SEFD release files (``{'network': state, 'epoch', 'optimizer'}``), loaded strictly
    by the model code (common/models/official_checkpoint.py); FuRPE and other formats are added there."""
    from common.models.official_checkpoint import load_official_checkpoint

    check_official_geometry(path, model)
    try:
        info = load_official_checkpoint(str(path), unwrap_model(model))
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    return {"epoch": info.get("epoch"), "iteration": None, "config": None, "extra": {"official": True, **info}}


def load_model_weights(path: str | Path, model: nn.Module) -> dict:
    """Load only the model weights (main/test.py): our checkpoints, or official ones (see load_official_weights).

    Returns the checkpoint metadata: ``epoch``, ``iteration``, ``config`` (None for official files), ``extra``.
    """
    path = Path(path)
    raw = _torch_load(path)
    if isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT:
        payload = read_checkpoint(path) if raw.get("version") != CHECKPOINT_VERSION else raw
        check_geometry(payload, model, path)
        load_model_state(model, payload["model"], path)
        if payload.get("helpers") and hasattr(unwrap_model(model), "load_helper_state_dict"):
            unwrap_model(model).load_helper_state_dict(payload["helpers"])
        return {k: payload.get(k) for k in ("epoch", "iteration", "config", "extra")}
    if isinstance(raw, dict) and "network" in raw:
        return load_official_weights(path, model)
    keys = sorted(raw)[:8] if isinstance(raw, dict) else type(raw).__name__
    raise CheckpointError(f"{path}: neither a crowdmesh checkpoint nor an official release checkpoint (found {keys})")
