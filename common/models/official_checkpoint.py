"""Strict loading of the official 3DCrowdNet / SEFD checkpoints (``snapshot_*.pth.tar``, ``SEFD.pth.tar``).

File layout (see shared reference official-checkpoints.md): ``torch.save({'epoch', 'network', 'optimizer'})``
with every ``network`` key prefixed by ``module.`` (DataParallel). Official loaders used strict=False; here any
missing or unexpected key or shape mismatch is an error that lists them. RGB (3-channel) and SEFD (4-channel,
RGB + edge) checkpoints are told apart by ``backbone.conv1.weight``.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
from torch import Tensor, nn

from common.models.geometry import finiteness_problem
from common.weights_file import read_weights_file

_MAX_LISTED = 20


def read_official_checkpoint(path: str) -> tuple[dict[str, Tensor], int | None]:
    """Read an official checkpoint file -> (network state_dict without ``module.``, epoch or None)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: official checkpoint not found")
    return official_state(read_weights_file(path, "PyTorch checkpoint"), path)


def official_state(ckpt: object, path: str) -> tuple[dict[str, Tensor], int | None]:
    """An official checkpoint's loaded object (``{'network': state, 'epoch', ...}``) -> (network state_dict
    without ``module.``, epoch or None); ValueError naming ``path`` for any other layout."""
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("network"), Mapping):
        found = sorted(ckpt.keys())[:10] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise ValueError(f"{path}: not an official 3DCrowdNet/SEFD checkpoint: expected a dict with a 'network' "
                         f"state_dict (and 'epoch', 'optimizer'), found {found}")
    state = {k.removeprefix("module."): v for k, v in ckpt["network"].items()}
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"{path}: 'network' entries that are not tensors: {bad[:_MAX_LISTED]}")
    epoch = ckpt.get("epoch")
    return state, int(epoch) if isinstance(epoch, (int, float)) else None


def checkpoint_input_channels(state: Mapping[str, Tensor], path: str = "<state_dict>") -> int:
    """3 for an RGB (3DCrowdNet) checkpoint, 4 for SEFD (RGB + edge), from ``backbone.conv1.weight``."""
    w = state.get("backbone.conv1.weight")
    if w is None or w.ndim != 4:
        raise ValueError(f"{path}: no 4-D 'backbone.conv1.weight' entry; not a 3DCrowdNet/SEFD network")
    return int(w.shape[1])


def _mismatch_report(path: str, state: Mapping[str, Tensor], model: nn.Module, file_channels: int) -> str:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shapes):
        return ""

    def listing(title: str, items: list[str]) -> str:
        more = f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
        return f"\n  {title} ({len(items)}): " + ", ".join(items[:_MAX_LISTED]) + more if items else ""

    hints = []
    if getattr(model, "in_channels", file_channels) != file_channels:
        kind = "SEFD (RGB + edge)" if file_channels == 4 else "RGB"
        hints.append(f"the file is a {kind} checkpoint: set "
                     + ("sefd.mode=edge_input (RGB + edge input)" if file_channels == 4 else "sefd.mode=baseline"))
    if getattr(model, "pose_head", "vposer") != "vposer":
        hints.append("official checkpoints need model.pose_head='vposer' (pose_out predicts the VPoser latent)")
    if any(k.startswith("backbone.") for k in missing + unexpected):
        hints.append("official networks use model.backbone='resnet50'")
    hint = ("\n  hint: " + "; ".join(hints)) if hints else ""
    return (f"{path}: checkpoint does not fit the model" + listing("missing keys", missing)
            + listing("unexpected keys", unexpected) + listing("shape mismatches", shapes) + hint)


def load_official_checkpoint(path: str, model: nn.Module) -> dict:
    """Load an official 3DCrowdNet / SEFD checkpoint into ``model`` strictly.

    Returns:
        {'epoch': int | None, 'input_channels': 3 | 4, 'num_tensors': int}.
    Raises:
        FileNotFoundError / ValueError naming the file (unreadable file, wrong layout, NaN/inf weights (the key
        is named), or a network that does not fit: every missing / unexpected key and shape mismatch is listed).
        The input geometry (256 px) is checked by the caller (common/engine/checkpoint.py).
    """
    state, epoch = read_official_checkpoint(path)
    bad = finiteness_problem(state)
    if bad:
        raise ValueError(f"{path}: {bad}")
    channels = checkpoint_input_channels(state, path)
    report = _mismatch_report(path, state, model, channels)
    if report:
        raise ValueError(report)
    model.load_state_dict(state, strict=True)
    return {"epoch": epoch, "input_channels": channels, "num_tensors": len(state)}
