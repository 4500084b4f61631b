"""Evaluator for a test set by name (``cfg.data.test_set``)."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from common.config import ConfigError
from common.evaluation.evaluator import Evaluator
from common.evaluation.mesh_evaluator import MeshEvaluator


def _accepts_records(fn: Callable) -> bool:
    try:
        return "records" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _lazy(target: str) -> Callable[..., Evaluator]:
    """'module:attr' -> a builder imported on first use (importing the registry imports no dataset code)."""
    def build(cfg: Any, body_model: Any, output_dir: Path | None, records: Sequence[Any] | None = None) -> Evaluator:
        module, attr = target.split(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        extra = {"records": records} if records is not None and _accepts_records(obj) else {}
        return obj(cfg, body_model, output_dir, **extra)
    return build


# test set -> builder(cfg, body_model, output_dir[, records]); ``records`` = the test dataset's PersonRecords in
# loader index order (builders that need per-sample metadata use them instead of re-reading the dataset)
EVALUATOR_BUILDERS: Mapping[str, Callable[..., Evaluator]] = MappingProxyType({
    "synthetic": MeshEvaluator.from_config,
    # 3DCrowdNet protocol: H36M-17 regressor, 14 joints, gendered GT meshes when available
    "3dpw": _lazy("common.evaluation.pw3d_evaluator:Pw3dEvaluator.from_config"),
    "ehf": _lazy("common.evaluation.ehf_evaluator:ehf_evaluator_from_config"),
    "freihand": _lazy("common.evaluation.freihand_evaluator:freihand_evaluator_from_config"),
    "crowdpose": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
    "ochuman": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
    "mscoco": _lazy("common.evaluation.keypoint_ap:KeypointAPEvaluator.from_config"),
})

# test set -> the model its protocol needs, for test sets the SMPL body regressors (3DCrowdNet / SEFD) cannot serve
NEEDS_OTHER_MODEL: Mapping[str, str] = MappingProxyType({
    "ehf": "a whole-body (SMPL-X) model: its protocol compares SMPL-X meshes with hands and face",
    "freihand": "a hand (MANO) model: its protocol compares MANO hand joints and vertices",
})


def check_model_can_evaluate(test_set: str, model_kind: str = "smpl") -> None:
    """Raise ConfigError (one line) when ``test_set`` needs a model the project does not have.

    Every model of the project regresses SMPL bodies (``model_kind='smpl'``); EHF and FreiHAND are evaluated
    through their evaluators directly until whole-body / hand models exist.
    """
    if model_kind == "smpl" and test_set in NEEDS_OTHER_MODEL:
        raise ConfigError(f"data.test_set={test_set}: this test set needs {NEEDS_OTHER_MODEL[test_set]}; the project "
                          f"has only SMPL body models (3DCrowdNet / SEFD) so far, so '{test_set}' cannot be "
                          "evaluated with main/test.py yet")


def build_evaluator(cfg: Any, body_model: Any, output_dir: str | Path | None,
                    records: Sequence[Any] | None = None) -> Evaluator:
    """The evaluator registered for ``cfg.data.test_set``; unknown names raise ConfigError listing the known.

    ``records``: the test dataset's records (``loader.dataset.records``), passed to builders that take them.
    """
    name = cfg.data.test_set
    if name not in EVALUATOR_BUILDERS:
        raise ConfigError(f"data.test_set: no evaluator for '{name}'; known: {', '.join(sorted(EVALUATOR_BUILDERS))}")
    builder = EVALUATOR_BUILDERS[name]
    out = Path(output_dir) if output_dir is not None else None
    if records is not None and _accepts_records(builder):
        return builder(cfg, body_model, out, records=records)
    return builder(cfg, body_model, out)


def dataset_records(loader: Any) -> list | None:
    """The PersonRecords behind a test loader (``loader.dataset.records``), or None for other datasets."""
    records = getattr(getattr(loader, "dataset", None), "records", None)
    return list(records) if records is not None else None
