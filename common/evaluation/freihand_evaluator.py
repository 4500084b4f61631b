"""FreiHAND evaluator: PA-MPJPE (21 joints), PA-MPVPE, F@5 mm / F@15 mm, and the official ``pred.json`` export.

Protocol of the official evaluation script (``eval.py`` of lmb-freiburg/freihand): joints and vertices are
each aligned to the GT by their own similarity Procrustes fit (when the predicted mesh is not MANO-sized, the
joints' fit is applied to the vertices and no vertex error is reported); F-scores use the aligned vertices
(:mod:`common.evaluation.fscore`). Errors in mm (the script prints cm). ``pred.json`` = ``[xyz_list,
verts_list]`` in evaluation-set order (21 x 3 and V x 3 lists, metres, camera frame) for the challenge server.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from common.engine.distributed import all_gather_objects
from common.engine.logger import write_json
from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.fscore import procrustes_aligned_fscore
from common.evaluation.metrics import pa_mpjpe
from common.wholebody.hand_keypoints import (  # noqa: F401  (re-exported)
    MANO_TIP_VERTICES,
    MANO_TO_FREIHAND,
    freihand_keypoints,
)

M_TO_MM = 1000.0
F_THRESHOLDS_M = (0.005, 0.015)
METRIC_KEYS = ("pa_mpjpe", "pa_mpvpe", "f_5mm", "f_15mm")


MANO_NUM_VERTICES = 778


def export_freihand_predictions(path: str | Path, xyz: Sequence[np.ndarray], verts: Sequence[np.ndarray]) -> Path:
    """Write the challenge file ``[xyz_list, verts_list]`` (metres) and return its path."""
    if len(xyz) != len(verts):
        raise ValueError(f"{path}: {len(xyz)} joint predictions but {len(verts)} vertex predictions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = [[np.asarray(x, np.float64).tolist() for x in xyz], [np.asarray(v, np.float64).tolist() for v in verts]]
    path.write_text(json.dumps(payload))
    return path


class FreiHANDEvaluator(Evaluator):
    """Per-sample FreiHAND errors plus the prediction export.

    Args:
        sample_index: dataset index -> FreiHAND sample row (``record.meta['index']``).
        gt_xyz: (N, 21, 3) m GT joints, or None (no GT: rows are 'no_gt', export only).
        gt_verts: (N, 778, 3) m GT vertices, or None.
        joints_key, vertices_key: prediction keys holding (B, 21, 3) joints and (B, V, 3) vertices, metres,
            FreiHAND joint order.
        export_name: file written next to metrics.json when every sample has a prediction ('' = no export).
    """

    def __init__(self, sample_index: Sequence[int], gt_xyz: np.ndarray | None, gt_verts: np.ndarray | None,
                 joints_key: str = "hand_joints", vertices_key: str = "hand_vertices",
                 output_dir: str | Path | None = None, allow_skipped: bool = False, save_per_sample: bool = True,
                 export_name: str = "pred.json") -> None:
        super().__init__(output_dir, allow_skipped, save_per_sample)
        self.sample_index = [int(i) for i in sample_index]
        self.gt_xyz = None if gt_xyz is None else np.asarray(gt_xyz, np.float64)
        self.gt_verts = None if gt_verts is None else np.asarray(gt_verts, np.float64)
        self.joints_key, self.vertices_key = joints_key, vertices_key
        self.export_name = export_name
        self._preds: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def reset(self, expected_indices=None) -> None:
        super().reset(expected_indices)
        self._preds = {}

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        for key in (self.joints_key, self.vertices_key):
            if key not in preds:
                raise EvaluationError(f"FreiHANDEvaluator: predictions have no '{key}' (keys: {sorted(preds)})")
        xyz = preds[self.joints_key].detach().double()
        verts = preds[self.vertices_key].detach().double()
        indices = [int(i) for i in batch["index"].reshape(-1).tolist()]
        rows = [{"index": i, "sample": self.sample_index[i]} for i in indices]
        for b, i in enumerate(indices):
            self._preds[i] = (xyz[b].cpu().numpy(), verts[b].cpu().numpy())
        if self.gt_xyz is None:
            return [{**r, "skipped": "no_gt"} for r in rows]
        samples = [r["sample"] for r in rows]
        gt_xyz = torch.as_tensor(self.gt_xyz[samples], device=xyz.device)
        errs = {"pa_mpjpe": pa_mpjpe(xyz, gt_xyz) * M_TO_MM}
        gt_v = None if self.gt_verts is None else torch.as_tensor(self.gt_verts[samples], device=xyz.device)
        if gt_v is not None:
            same_topology = gt_v.shape == verts.shape
            if same_topology:
                errs["pa_mpvpe"] = pa_mpjpe(verts, gt_v) * M_TO_MM
            fit = {} if same_topology else {"pred_fit": xyz, "gt_fit": gt_xyz}
            f = procrustes_aligned_fscore(verts, gt_v, F_THRESHOLDS_M, **fit)["fscore"]
            errs["f_5mm"], errs["f_15mm"] = f[:, 0], f[:, 1]
        errs = {k: v.tolist() for k, v in errs.items()}
        return [{**r, **{k: errs[k][b] for k in errs}} for b, r in enumerate(rows)]

    def headline_keys(self) -> tuple[str, ...]:
        return METRIC_KEYS

    def summarize(self, rows: list[dict]) -> dict:
        out: dict[str, Any] = {"num_samples": len(rows), "units": "mm (F-scores: fraction)"}
        for key in METRIC_KEYS:
            vals = [r[key] for r in rows if r.get(key) is not None]
            out[key] = sum(vals) / len(vals) if len(vals) == len(rows) else None
        out["protocol"] = {"dataset": "freihand", "pa": "similarity Procrustes per sample (joints and vertices "
                           "fitted separately)", "f_thresholds_mm": [t * M_TO_MM for t in F_THRESHOLDS_M]}
        return out

    def evaluate(self, output_dir: str | Path | None = None) -> dict:
        """Summary as the base class, plus ``pred.json`` (rank 0) when every sample of the split is predicted."""
        merged: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for part in all_gather_objects(self._preds):
            for i, value in part.items():
                merged.setdefault(i, value)
        summary = super().evaluate(output_dir)
        out = Path(output_dir) if output_dir is not None else self.output_dir
        by_sample = {self.sample_index[i]: v for i, v in merged.items()}
        n_samples = len(set(self.sample_index))
        if self.export_name and out is not None and self.is_main:
            if len(by_sample) == n_samples:
                order = sorted(by_sample)
                path = export_freihand_predictions(out / self.export_name, [by_sample[s][0] for s in order],
                                                   [by_sample[s][1] for s in order])
                summary["export"] = str(path)
                num_v = len(by_sample[order[0]][1])
                if num_v != MANO_NUM_VERTICES:
                    summary["export_note"] = (f"verts have {num_v} vertices; the CodaLab server expects "
                                              f"{MANO_NUM_VERTICES} (official MANO)")
            else:
                summary["export"] = f"not written: {len(by_sample)} of {n_samples} samples predicted"
            write_json(out / "metrics.json", summary)
        return summary
