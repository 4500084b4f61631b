"""Evaluation: per-sample metrics, evaluators (reset/process/evaluate) and the test-set registry."""
from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.mesh_evaluator import MeshEvaluator
from common.evaluation.metrics import mpjpe, mpvpe, pa_mpjpe
from common.evaluation.registry import build_evaluator, check_model_can_evaluate, dataset_records

__all__ = ["EvaluationError", "Evaluator", "MeshEvaluator", "build_evaluator", "check_model_can_evaluate",
           "dataset_records", "mpjpe", "mpvpe", "pa_mpjpe"]
