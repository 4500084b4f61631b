"""Models: the 3DCrowdNet-style regressor, its losses, the builder and official-checkpoint loading (whole body:
``common.models.wholebody``). Names resolve lazily, so importing one model does not import them all."""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"build_model": "build", "CrowdNetRegressor": "crowdnet", "LossWeights": "losses",
            "load_official_checkpoint": "official_checkpoint"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'common.models' has no attribute {name!r}")
    return getattr(import_module(f"common.models.{_EXPORTS[name]}"), name)
