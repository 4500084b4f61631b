"""The whole-body (SMPL-X) core: the OpenPose-137 keypoint layout (``layout``), parameters as rotation matrices
(``params``), and the one layer that turns parameters into a mesh and keypoints (``layer``). Used by the
whole-body world, mapper, model and evaluators.

The package namespace resolves names lazily, so ``common.joint_sets`` can import ``layout`` without pulling in
torch/smplx.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"WholeBodyLayer": "layer", "WholeBodyOutput": "layer", "SMPLXParams": "params", "flip_params": "params",
            "mirror_axis_angle": "params", "mirror_rotmats": "params"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'common.wholebody' has no attribute {name!r}")
    return getattr(import_module(f"common.wholebody.{_EXPORTS[name]}"), name)
