"""Evaluator for a test set by name (``cfg.data.test_set``)."""
from __future__ import annotations

import importlib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from common.config import ConfigError
from common.evaluation.evaluator import Evaluator
from common.evaluation.mesh_evaluator import MeshEvaluator

def _lazy(target: str) -> Callable[..., Evaluator]:
    """'module:attr' -> a builder imported on first use (importing the registry imports no dataset code)."""
    def build(cfg: Any, body_model: Any, output_dir: Path | None) -> Evaluator:
        module, attr = target.split(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj(cfg, body_model, output_dir)
    return build


# test set -> builder(cfg, body_model, output_dir)
EVALUATOR_BUILDERS: Mapping[str, Callable[[Any, Any, Path | None], Evaluator]] = MappingProxyType({
    "synthetic": MeshEvaluator.from_config,
    # 3DCrowdNet protocol: H36M-17 regressor, 14 joints, gendered GT meshes when available
    "3dpw": _lazy("common.evaluation.pw3d_evaluator:Pw3dEvaluator.from_config"),
    "ehf": _lazy("common.evaluation.ehf_evaluator:ehf_evaluator_from_config"),
    "freihand": _lazy("common.evaluation.freihand_evaluator:freihand_evaluator_from_config"),
    "crowdpose": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
    "ochuman": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
    "mscoco": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
})


def build_evaluator(cfg: Any, body_model: Any, output_dir: str | Path | None) -> Evaluator:
    """The evaluator registered for ``cfg.data.test_set``; unknown names raise ConfigError listing the known."""
    name = cfg.data.test_set
    if name not in EVALUATOR_BUILDERS:
        raise ConfigError(f"data.test_set: no evaluator for '{name}'; known: {', '.join(sorted(EVALUATOR_BUILDERS))}")
    return EVALUATOR_BUILDERS[name](cfg, body_model, Path(output_dir) if output_dir is not None else None)
