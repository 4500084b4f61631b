"""Evaluation: per-sample metrics and evaluators (reset/process/evaluate). Evaluators receive records / arrays;
the dataset table (``data.datasets``) builds them for a test set (``data.registry.build_evaluator``)."""
from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.mesh_evaluator import MeshEvaluator
from common.evaluation.metrics import mpjpe, mpvpe, pa_mpjpe

__all__ = ["EvaluationError", "Evaluator", "MeshEvaluator", "mpjpe", "mpvpe", "pa_mpjpe"]
