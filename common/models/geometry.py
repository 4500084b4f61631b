"""What a checkpoint's weights were trained for, beyond their shapes: the network geometry.

Two regressors with different ``data.input_size`` have identical weight shapes (the PositionNet volume just
gets smaller: 8x8x8 at 256 px, 8x3x3 at 96 px), so a strict load succeeds and silently runs another model.
Our checkpoints therefore store :func:`model_geometry` and loading compares it with the model's; official
release files carry no config and are compared with :data:`OFFICIAL_GEOMETRY` (the published 3DCrowdNet/SEFD
networks). Also here: the finiteness check of loaded weights.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

# the released 3DCrowdNet / SEFD networks (shared reference official-checkpoints.md); input_channels from the file
OFFICIAL_GEOMETRY = {"input_size": 256, "volume_shape": [8, 8, 8], "backbone": "resnet50", "pose_head": "vposer"}
# geometry entry -> the config key(s) that set it (for messages)
GEOMETRY_KEYS = {"input_size": "data.input_size", "volume_shape": "PositionNet volume (model.depth_bins, S/32, S/32)",
                 "backbone": "model.backbone", "pose_head": "model.pose_head",
                 "input_channels": "model.input_channels (follows sefd.mode)"}


def _core(model: Any) -> Any:
    """The regressor inside DDP (``module``) and SEFD wrappers (``student``)."""
    for attr in ("module", "student"):
        while hasattr(model, attr) and isinstance(getattr(model, attr), torch.nn.Module):
            model = getattr(model, attr)
    return model


def model_geometry(model: Any) -> dict | None:
    """{input_size, volume_shape, backbone, pose_head, input_channels} of a CrowdNet-style regressor (wrapped
    or not); None for other models (they have no geometry to check)."""
    core = _core(model)
    needed = ("input_size", "volume_shape", "pose_head", "in_channels", "backbone")
    if not all(hasattr(core, name) for name in needed) or not hasattr(core.backbone, "name"):
        return None
    return {"input_size": int(core.input_size), "volume_shape": [int(v) for v in core.volume_shape],
            "backbone": str(core.backbone.name), "pose_head": str(core.pose_head),
            "input_channels": int(core.in_channels)}


def geometry_from_config(config: Mapping[str, Any] | None) -> dict | None:
    """The geometry a saved config (plain dict, as in our checkpoints) implies; None when it lacks the keys."""
    try:
        data, model = config["data"], config["model"]
        size = int(data["input_size"])
        return {"input_size": size, "volume_shape": [int(model["depth_bins"]), size // 32, size // 32],
                "backbone": str(model["backbone"]), "pose_head": str(model["pose_head"]),
                "input_channels": int(model["input_channels"])}
    except (KeyError, TypeError, ValueError):
        return None


def geometry_mismatch(saved: Mapping[str, Any] | None, model: Any, keys: tuple[str, ...] | None = None) -> str:
    """'' when ``saved`` agrees with the model's geometry (or either is unknown), else one line of differences.

    ``keys`` restricts the comparison (e.g. a SEFD teacher only runs backbone + Pose2Feat: no pose head).
    """
    current = model_geometry(model)
    if not saved or current is None:
        return ""
    diffs = [f"{GEOMETRY_KEYS[k]} {saved[k]!r} (checkpoint) vs {current[k]!r} (model)"
             for k in (keys or tuple(current)) if k in saved and list_or(saved[k]) != list_or(current[k])]
    if not diffs:
        return ""
    return "the checkpoint was trained with another network geometry: " + "; ".join(diffs)


def list_or(value: Any) -> Any:
    """Tuples and lists compare equal (a volume shape may come back from a file as either)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def non_finite_entries(state: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(key, non-finite count, numel) of every floating tensor of ``state`` holding NaN or inf."""
    bad = []
    for key, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point():
            count = int((~torch.isfinite(value)).sum())
            if count:
                bad.append((key, count, value.numel()))
    return bad


def finiteness_problem(state: Mapping[str, Any]) -> str:
    """'' when every floating tensor is finite, else one line naming the first bad key (and how many others)."""
    bad = non_finite_entries(state)
    if not bad:
        return ""
    key, count, numel = bad[0]
    more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
    return (f"weight '{key}' holds {count} NaN/inf values of {numel}{more}; the run that wrote it diverged "
            "(resume from an earlier checkpoint)")
