"""Evaluation: per-sample metrics, evaluators (reset/process/evaluate) and the test-set registry."""
from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.mesh_evaluator import MeshEvaluator
from common.evaluation.metrics import mpjpe, mpvpe, pa_mpjpe
from common.evaluation.registry import build_evaluator

__all__ = ["EvaluationError", "Evaluator", "MeshEvaluator", "build_evaluator", "mpjpe", "mpvpe", "pa_mpjpe"]
