"""Mesh recovery evaluation, 3DPW protocol (3DCrowdNet): MPJPE / PA-MPJPE / MPVPE in mm, by occlusion stratum.

- Joints: the H36M-17 regressor applied to predicted and GT meshes, pelvis (H36M joint 0) subtracted, then
  the 14 joints without Pelvis, Torso and Nose; PA-MPJPE after a similarity Procrustes fit per sample.
- MPVPE: all vertices after subtracting the SMPL pelvis (joint 0 of ``crowdnet30``) of each mesh.
- GT mesh: the body model evaluated at ``smpl_pose`` / ``smpl_betas`` (neutral unless per-gender GT body
  models are given); prediction: ``preds['vertices']`` (B, V, 3) in metres.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.metrics import mpjpe, mpvpe, pa_mpjpe
from common.joint_sets import joint_names

PROTOCOL_EXCLUDED = ("Pelvis", "Torso", "Nose")  # 3DPW protocol: 14 of the 17 H36M joints
METRIC_KEYS = ("mpjpe", "pa_mpjpe", "mpvpe")
M_TO_MM = 1000.0


def metric_means(subset: list[dict]) -> dict:
    """{'num_samples', mpjpe, pa_mpjpe, mpvpe}: each the mean over the rows that have it (None if none do)."""
    def mean(key: str) -> float | None:
        values = [r[key] for r in subset if key in r]
        return sum(values) / len(values) if values else None

    return {"num_samples": len(subset), **{k: mean(k) for k in METRIC_KEYS}}


def stratum_labels(edges: Sequence[float]) -> list[str]:
    """Bin names for occlusion bin edges, e.g. (0.1, 0.3) -> ['occ<0.1', '0.1<=occ<0.3', 'occ>=0.3']."""
    if not edges:
        return ["all"]
    labels = [f"occ<{edges[0]:g}"]
    labels += [f"{lo:g}<=occ<{hi:g}" for lo, hi in zip(edges, edges[1:])]
    return labels + [f"occ>={edges[-1]:g}"]


def assign_stratum(occlusion: float, edges: Sequence[float]) -> str:
    """Label of the bin holding ``occlusion``; 'unknown' for negative (unknown) ratios."""
    if occlusion is None or occlusion < 0 or math.isnan(occlusion):
        return "unknown"
    return stratum_labels(edges)[sum(occlusion >= e for e in edges)]


def _joint_indices(joint_set: str, joints: Sequence[int | str]) -> list[int]:
    names = [n.lower() for n in joint_names(joint_set)]
    out = []
    for joint in joints:
        if isinstance(joint, str):
            if joint.lower() not in names:
                raise ValueError(f"MeshEvaluator: joint set '{joint_set}' has no joint '{joint}'")
            out.append(names.index(joint.lower()))
        else:
            out.append(int(joint))
    return out


def _module_device(module: Any, fallback: torch.device) -> torch.device:
    tensors = list(module.parameters()) + list(module.buffers()) if isinstance(module, nn.Module) else []
    return tensors[0].device if tensors else fallback


class MeshEvaluator(Evaluator):
    """Per-sample mesh errors (mm) and their means, overall and per occlusion stratum.

    Args:
        body_model: BodyModel (``__call__(global_orient, body_pose, betas)`` and ``regress(vertices, name)``);
            builds the GT meshes and regresses joints from both meshes. Keep it on the predictions' device.
        joint_regressor_name: regressor used for MPJPE/PA-MPJPE joints.
        eval_joints: indices or names of the evaluated joints (default: all but Pelvis, Torso, Nose).
        root: joint subtracted from the joints (name or index in the regressor's set).
        mesh_root: (regressor, joint) whose position is subtracted from each mesh before MPVPE.
        strata: occlusion bin edges applied to ``batch['occlusion']``.
        gt_body_models: optional {gender code (0 neutral, 1 male, 2 female): BodyModel} for GT meshes
            (the gender-aware hook; ``batch['smpl_gender']`` selects); missing codes use ``body_model``.
    """

    def __init__(self, body_model: Any, joint_regressor_name: str = "h36m17",
                 eval_joints: Sequence[int | str] | None = None, root: int | str = "Pelvis",
                 mesh_root: tuple[str, int | str] = ("crowdnet30", "Pelvis"),
                 output_dir: str | Path | None = None, allow_skipped: bool = False,
                 strata: Sequence[float] = (0.1, 0.3), save_per_sample: bool = True,
                 gt_body_models: Mapping[int, Any] | None = None) -> None:
        super().__init__(output_dir, allow_skipped, save_per_sample)
        self.body_model = body_model
        self.regressor = joint_regressor_name
        if eval_joints is None:
            eval_joints = [n for n in joint_names(joint_regressor_name) if n not in PROTOCOL_EXCLUDED]
        self.eval_joints = _joint_indices(joint_regressor_name, eval_joints)
        self.root = _joint_indices(joint_regressor_name, [root])[0]
        self.mesh_root_regressor = mesh_root[0]
        self.mesh_root = _joint_indices(mesh_root[0], [mesh_root[1]])[0]
        self.strata = tuple(float(e) for e in strata)
        if any(b <= a for a, b in zip(self.strata, self.strata[1:])):
            raise ValueError(f"MeshEvaluator: occlusion strata edges must increase, got {self.strata}")
        self.gt_body_models = dict(gt_body_models or {})

    @classmethod
    def from_config(cls, cfg: Any, body_model: Any, output_dir: str | Path | None) -> "MeshEvaluator":
        return cls(body_model, output_dir=output_dir, allow_skipped=cfg.test.allow_skipped,
                   strata=cfg.data.synthetic.occlusion_strata, save_per_sample=cfg.test.save_per_sample)

    def headline_keys(self) -> tuple[str, ...]:
        return METRIC_KEYS + ("strata",)

    def gt_vertices(self, pose: Tensor, betas: Tensor, gender: Tensor | None) -> Tensor:
        """GT meshes (B, V, 3) m from SMPL pose (B, 72) axis-angle and betas (B, 10)."""
        out = None
        groups = gender.unique().tolist() if gender is not None and self.gt_body_models else [None]
        for code in groups:
            model = self.gt_body_models.get(int(code), self.body_model) if code is not None else self.body_model
            sel = slice(None) if code is None else (gender == code)
            device = _module_device(model, pose.device)
            p, b = pose[sel].to(device), betas[sel].to(device)
            verts = model(global_orient=p[:, :3], body_pose=p[:, 3:], betas=b).vertices.to(pose.device)
            if out is None:
                out = verts.new_zeros((pose.shape[0],) + verts.shape[1:])
            out[sel] = verts
        return out

    def _regress(self, vertices: Tensor, name: str) -> Tensor:
        device = _module_device(self.body_model, vertices.device)
        return self.body_model.regress(vertices.to(device), name).to(vertices.device).double()

    def errors(self, pred_vertices: Tensor, gt_vertices: Tensor) -> dict[str, Tensor]:
        """Per-sample MPJPE, PA-MPJPE, MPVPE (B,) in mm from meshes (B, V, 3) in m."""
        pred_v, gt_v = pred_vertices.double(), gt_vertices.double()
        pred_j, gt_j = self._regress(pred_v, self.regressor), self._regress(gt_v, self.regressor)
        pred_j = (pred_j - pred_j[:, self.root: self.root + 1])[:, self.eval_joints]
        gt_j = (gt_j - gt_j[:, self.root: self.root + 1])[:, self.eval_joints]
        k = self.mesh_root
        pred_v = pred_v - self._regress(pred_v, self.mesh_root_regressor)[:, k: k + 1]
        gt_v = gt_v - self._regress(gt_v, self.mesh_root_regressor)[:, k: k + 1]
        return {"mpjpe": mpjpe(pred_j, gt_j) * M_TO_MM, "pa_mpjpe": pa_mpjpe(pred_j, gt_j) * M_TO_MM,
                "mpvpe": mpvpe(pred_v, gt_v) * M_TO_MM}

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        for key in ("index", "smpl_pose", "smpl_betas"):
            if key not in batch:
                raise EvaluationError(f"MeshEvaluator: batch has no '{key}' (keys: {sorted(batch)})")
        if "vertices" not in preds:
            raise EvaluationError(f"MeshEvaluator: predictions have no 'vertices' (keys: {sorted(preds)})")
        pred_v = preds["vertices"].detach().float()
        size = pred_v.shape[0]
        valid = batch.get("smpl_valid", torch.ones(size)).reshape(-1).bool().tolist()
        occlusion = batch.get("occlusion", torch.full((size,), -1.0)).reshape(-1).float().tolist()
        indices = batch["index"].reshape(-1).tolist()
        gt_v = self.gt_vertices(batch["smpl_pose"].float(), batch["smpl_betas"].float(), batch.get("smpl_gender"))
        # a diverged prediction (NaN/inf vertex) is a skipped sample with its reason, not a crash of the batch
        finite = torch.isfinite(pred_v).flatten(1).all(1)
        stand_in = gt_v.to(pred_v.dtype) if gt_v.shape == pred_v.shape else torch.zeros_like(pred_v)
        pred_v = torch.where(finite[:, None, None].to(pred_v.device), pred_v, stand_in)
        finite = finite.tolist()
        errors = {k: v.tolist() for k, v in self.errors(pred_v, gt_v).items()}
        keys = [k for k in METRIC_KEYS if k in errors]  # MPVPE is absent when the topologies differ
        rows = []
        for b in range(size):
            row = {"index": int(indices[b]), "occlusion": occlusion[b],
                   "stratum": assign_stratum(occlusion[b], self.strata)}
            if not valid[b]:
                row["skipped"] = "no_smpl_gt"
            elif not finite[b]:
                row["skipped"] = "non_finite_prediction"
            elif not all(math.isfinite(errors[k][b]) for k in keys):
                row["skipped"] = "non_finite_metric"
            else:
                row.update({k: errors[k][b] for k in keys})
            rows.append(row)
        return rows

    def summarize(self, rows: list[dict]) -> dict:
        means = metric_means
        strata = {label: means([r for r in rows if r["stratum"] == label])
                  for label in stratum_labels(self.strata) + ["unknown"]}
        if not strata["unknown"]["num_samples"]:
            del strata["unknown"]
        return {**means(rows), "units": "mm", "strata": strata, "strata_edges": list(self.strata),
                "gt_meshes": "gendered" if self.gt_body_models else "neutral"}


_COUNT_KEYS = ("num_expected", "num_evaluated", "num_skipped", "num_duplicates", "num_unexpected", "num_samples")


def _other_numbers(summary: Mapping[str, Any]) -> list[str]:
    """'key: value' lines of a non-mesh summary's numbers (AP, PA-V2V, F-scores, ...), one level of nesting."""
    def fmt(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else "-" if value is None else str(value)

    lines = []
    for key, value in summary.items():
        if key in _COUNT_KEYS or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            lines.append(f"{key:<24}{fmt(value)}")
        elif isinstance(value, Mapping) and value and all(isinstance(v, (int, float, type(None)))
                                                          for v in value.values()):
            lines.append(f"{key:<24}" + "  ".join(f"{k} {fmt(v)}" for k, v in value.items()))
    return lines


def format_summary(summary: Mapping[str, Any]) -> str:
    """Plain-text table of a MeshEvaluator summary: samples, MPJPE, PA-MPJPE, MPVPE (mm), per stratum.

    Summaries of other evaluators (keypoint AP, EHF, FreiHAND) print their numbers as 'key value' lines.
    """
    def cell(value: Any) -> str:
        return f"{value:9.2f}" if isinstance(value, (int, float)) else f"{'-':>9}"

    lines = [f"samples evaluated: {summary.get('num_evaluated')} of {summary.get('num_expected')} expected"
             f" (skipped {summary.get('num_skipped')}, duplicates dropped {summary.get('num_duplicates')})"]
    if summary.get("headline_refused"):
        lines.append(f"NO HEADLINE NUMBERS: {summary['headline_refused']}")
    if not all(k in summary for k in METRIC_KEYS):
        return "\n".join(lines + _other_numbers(summary))
    lines.append(f"{'subset':<16}{'samples':>8}{'MPJPE':>9}{'PA-MPJPE':>9}{'MPVPE':>9}   (mm)")
    rows = [("all", summary)] + list((summary.get("strata") or {}).items())
    for name, numbers in rows:
        lines.append(f"{name:<16}{numbers.get('num_samples') or 0:>8}"
                     + "".join(cell(numbers.get(k)) for k in METRIC_KEYS))
    return "\n".join(lines)
