"""Score the constant-prediction references (common/evaluation/references.py) with the model's evaluator."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from common.engine.trainer import evaluate
from common.evaluation.references import reference_models

REFERENCE_METRICS = ("mpjpe", "pa_mpjpe", "mpvpe")  # SMPL evaluators
WHOLEBODY_REFERENCE_METRICS = ("pa_v2v_all", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face")  # EHF-style ones


def family_reference_models(body_model: torch.nn.Module, train_poses: np.ndarray) -> dict[str, torch.nn.Module]:
    """The constant predictors of the body model's family: SMPL (``kind`` 'smpl', (N, 72) training poses) ->
    mean pose / mean pose + GT root (references.py); SMPL-X ((N, 55, 3) poses) -> GT body with mean hands /
    neutral face (wholebody_references.py)."""
    if getattr(body_model, "kind", "smpl") == "smplx":
        from common.evaluation.wholebody_references import part_reference_models
        from common.wholebody.layer import WholeBodyLayer

        layer = WholeBodyLayer.from_body_model(body_model).to(next(iter(body_model.buffers())).device)
        return part_reference_models(layer, torch.as_tensor(train_poses))
    return reference_models(body_model, train_poses)


def evaluate_references(body_model: torch.nn.Module, train_poses: np.ndarray, loader: Any,
                        make_evaluator: Callable[[Path | None], Any], device: torch.device,
                        out_dir: Path | None = None, progress: bool = False) -> dict[str, dict]:
    """{reference name: evaluator summary} over the same loader and evaluator type as the model.

    Args:
        body_model: BodyModel on ``device`` (SMPL, or SMPL-X for the whole-body family).
        train_poses: training poses, camera frame: (N, 72) SMPL or (N, 55, 3) SMPL-X axis-angle.
        make_evaluator: output folder (or None) -> a fresh evaluator (the one ``build_evaluator`` makes).
        out_dir: per-reference summaries go to ``out_dir/<name>/`` when given.
    """
    results = {}
    for name, model in family_reference_models(body_model, train_poses).items():
        folder = out_dir / name if out_dir is not None else None
        results[name] = evaluate(model.to(device), loader, make_evaluator(folder), device, folder, progress)
    return results


def headline_metrics(references: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The metrics the references are compared on: SMPL (MPJPE, PA-MPJPE, MPVPE) or whole-body (PA-V2V)."""
    whole = any(k in s for s in references.values() for k in WHOLEBODY_REFERENCE_METRICS)
    return WHOLEBODY_REFERENCE_METRICS if whole else REFERENCE_METRICS


def reference_table(model_summary: Mapping[str, Any] | None, references: Mapping[str, Mapping[str, Any]]) -> str:
    """Plain-text rows 'name  metric...' (mm) of the model and each reference (:func:`headline_metrics`)."""
    metrics = headline_metrics(references)
    width = max(9, *(len(m) + 1 for m in metrics))

    def row(name: str, summary: Mapping[str, Any]) -> str:
        cells = "".join(f"{summary[k]:{width}.2f}" if isinstance(summary.get(k), (int, float)) else f"{'-':>{width}}"
                        for k in metrics)
        return f"{name:<30}{cells}"

    titles = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "mpvpe": "MPVPE"}
    header = "".join(f"{titles.get(m, m):>{width}}" for m in metrics)
    lines = [f"{'predictor':<30}{header}   (mm, same evaluator)"]
    if model_summary is not None:
        lines.append(row("model", model_summary))
    lines += [row(f"ref: {name}", summary) for name, summary in references.items()]
    return "\n".join(lines)


def reference_scalars(references: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Flat {'<name>/<metric>': value} of the headline metrics, for metrics.jsonl and tensorboard."""
    metrics = headline_metrics(references)
    return {f"{name}/{k}": float(s[k]) for name, s in references.items() for k in metrics
            if isinstance(s.get(k), (int, float))}
