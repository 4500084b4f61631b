"""Score the constant-prediction references (common/evaluation/references.py) with the model's evaluator."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from common.engine.trainer import evaluate
from common.evaluation.references import reference_models

REFERENCE_METRICS = ("mpjpe", "pa_mpjpe", "mpvpe")


def evaluate_references(body_model: torch.nn.Module, train_poses: np.ndarray, loader: Any,
                        make_evaluator: Callable[[Path | None], Any], device: torch.device,
                        out_dir: Path | None = None, progress: bool = False) -> dict[str, dict]:
    """{reference name: evaluator summary} over the same loader and evaluator type as the model.

    Args:
        body_model: BodyModel on ``device``. train_poses: (N, 72) training SMPL poses (camera frame).
        make_evaluator: output folder (or None) -> a fresh evaluator (the one ``build_evaluator`` makes).
        out_dir: per-reference summaries go to ``out_dir/<name>/`` when given.
    """
    results = {}
    for name, model in reference_models(body_model, train_poses).items():
        folder = out_dir / name if out_dir is not None else None
        results[name] = evaluate(model.to(device), loader, make_evaluator(folder), device, folder, progress)
    return results


def reference_table(model_summary: Mapping[str, Any] | None, references: Mapping[str, Mapping[str, Any]]) -> str:
    """Plain-text rows 'name  MPJPE  PA-MPJPE  MPVPE' (mm) of the model and each reference."""
    def row(name: str, summary: Mapping[str, Any]) -> str:
        cells = "".join(f"{summary[k]:9.2f}" if isinstance(summary.get(k), (int, float)) else f"{'-':>9}"
                        for k in REFERENCE_METRICS)
        return f"{name:<26}{cells}"

    lines = [f"{'predictor':<26}{'MPJPE':>9}{'PA-MPJPE':>9}{'MPVPE':>9}   (mm, same evaluator)"]
    if model_summary is not None:
        lines.append(row("model", model_summary))
    lines += [row(f"ref: {name}", summary) for name, summary in references.items()]
    return "\n".join(lines)


def reference_scalars(references: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Flat {'<name>/<metric>': value} of the headline metrics, for metrics.jsonl and tensorboard."""
    return {f"{name}/{k}": float(s[k]) for name, s in references.items() for k in REFERENCE_METRICS
            if isinstance(s.get(k), (int, float))}
