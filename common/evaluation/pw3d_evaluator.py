"""3DPW evaluator (3DCrowdNet / SEFD protocol), per sequence and overall.

Protocol (implemented by :class:`MeshEvaluator`; see docs/protocols.md): joints = the H36M-17 regressor on
predicted and GT meshes, H36M pelvis subtracted, the 14 joints ``h36m_eval_joint`` = H36M-17 minus Pelvis (0),
Torso (7), Nose (9); MPJPE and PA-MPJPE (similarity Procrustes per sample) in mm; MPVPE on all vertices
after subtracting each mesh's SMPL pelvis (J_regressor joint 0). GT meshes come from the *gendered* body
model at the record's camera-frame SMPL params (translation irrelevant: everything is root-relative); the
prediction is ``preds['vertices']`` from the neutral model.

SMPL-X predictions (FuRPE protocol, ``smplx_j14`` given): when ``preds['vertices']`` has the regressor's vertex
count, the 14 LSP joints come from that (14, V) regressor (SMPLX_to_J14; the open model's equivalent), the GT's
from the H36M-17 regressor reordered to LSP-14, both centred on the middle of the hips; MPVPE only when the
prediction has the GT's topology (the open SMPL and SMPL-X share one mesh). Other predictions (the SMPL
constant references) keep the protocol above; each row says which (``joints``).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from common.body_models import gendered_gt_models
from common.evaluation.mesh_evaluator import M_TO_MM, METRIC_KEYS, MeshEvaluator, metric_means
from common.evaluation.metrics import mpjpe, mpvpe, pa_mpjpe
from common.evaluation.smplx_j14 import hip_centred, j14_from_h36m17, smplx_to_j14

GENDER_CODES = {"neutral": 0, "male": 1, "female": 2}


class Pw3dEvaluator(MeshEvaluator):
    """MeshEvaluator with gendered GT meshes, a per-sequence breakdown and the protocol in the summary.

    Args:
        body_model: neutral BodyModel (predictions' topology; also the GT model for missing genders).
        sequences: sequence name of every dataset index (``record.sequence``), for the per-sequence means.
        gt_body_models: {'male': BodyModel, 'female': BodyModel} for the GT meshes; a missing gender falls back
            to ``body_model`` and the summary says so (``gt_models``).
        subset, crop, pose_source: recorded in the summary (what was evaluated).
        Other arguments as in MeshEvaluator (the 3DPW defaults are MeshEvaluator's defaults).
    """

    def __init__(self, body_model: Any, sequences: Sequence[str] | None = None,
                 gt_body_models: Mapping[str, Any] | None = None, subset: str = "test", crop: str = "pose2d",
                 pose_source: str = "", output_dir: str | Path | None = None, allow_skipped: bool = False,
                 save_per_sample: bool = True, smplx_j14: Any = None, **kwargs: Any) -> None:
        gt_models = {GENDER_CODES[g]: m for g, m in (gt_body_models or {}).items() if m is not None}
        super().__init__(body_model, output_dir=output_dir, allow_skipped=allow_skipped, strata=(),
                         save_per_sample=save_per_sample, gt_body_models=gt_models, **kwargs)
        self.sequences = list(sequences) if sequences is not None else None
        self.smplx_j14 = None if smplx_j14 is None else torch.as_tensor(smplx_j14, dtype=torch.float64)
        self._last_joints = "h36m17"
        self.info = {
            "dataset": "3dpw", "subset": subset, "crop": crop, "pose_source": pose_source,
            "gt_models": {g: ("gendered" if GENDER_CODES[g] in gt_models else "neutral (fallback)")
                          for g in ("male", "female")},
            "joints": "H36M-17 regressor, pelvis-relative, 14 joints (no Pelvis/Torso/Nose)",
            "pa": "similarity Procrustes per sample", "mpvpe_root": "SMPL pelvis", "units": "mm",
        }
        if self.smplx_j14 is not None:
            self.info["joints_smplx"] = (f"SMPL-X predictions ({self.smplx_j14.shape[1]} vertices): LSP-14 from the "
                                         "SMPL-X J14 regressor vs GT H36M-17 -> LSP-14, hip-centred (FuRPE)")

    @classmethod
    def from_config(cls, cfg: Any, body_model: Any, output_dir: str | Path | None,
                    records: Sequence[Any] | None = None, options: Mapping[str, Any] | None = None,
                    smplx_j14: Any = None) -> "Pw3dEvaluator":
        """Builder for the evaluator registry: gendered GT models from ``cfg.body_model`` when they exist.

        ``records`` (the test dataset's records) enable the per-sequence breakdown and the count of people per
        2D input source; crop and input source are read from ``data.adapter_options['3dpw']``.
        ``options``: ``data.adapter_options['3dpw']`` (the caller in ``data`` reads them).
        ``smplx_j14``: (14, V) SMPL-X J14 regressor for a whole-body model's predictions (None: SMPL only).
        """
        opts = dict(options or {})
        pose_source = str(opts.get("pose_source") or "subset default")
        if records is not None:  # what the adapter actually used, person by person (HigherHRNet falls back)
            counts = Counter(str(r.meta.get("pose_source", "?")) for r in records)
            pose_source = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return cls(body_model, sequences=[r.sequence for r in records] if records is not None else None,
                   gt_body_models=gendered_gt_models(cfg, next(iter(body_model.buffers()), torch.empty(0)).device),
                   subset=cfg.data.test_subset or "test", crop=str(opts.get("crop", "pose2d")),
                   pose_source=pose_source, output_dir=output_dir, allow_skipped=cfg.test.allow_skipped,
                   save_per_sample=cfg.test.save_per_sample, smplx_j14=smplx_j14)

    def errors(self, pred_vertices: torch.Tensor, gt_vertices: torch.Tensor) -> dict[str, torch.Tensor]:
        """SMPL path (MeshEvaluator) or, for SMPL-X predictions of the J14 regressor's size, the FuRPE path."""
        if self.smplx_j14 is None or pred_vertices.shape[1] != self.smplx_j14.shape[1]:
            self._last_joints = "h36m17"
            return super().errors(pred_vertices, gt_vertices)
        self._last_joints = "smplx_j14"
        pred_v, gt_v = pred_vertices.double(), gt_vertices.double()
        pred_j = hip_centred(smplx_to_j14(pred_v, self.smplx_j14.to(pred_v.device)))
        gt_j = hip_centred(j14_from_h36m17(self._regress(gt_v, self.regressor)))
        out = {"mpjpe": mpjpe(pred_j, gt_j) * M_TO_MM, "pa_mpjpe": pa_mpjpe(pred_j, gt_j) * M_TO_MM}
        if pred_v.shape == gt_v.shape:
            k = self.mesh_root
            pred_v = pred_v - self._regress(pred_v, self.mesh_root_regressor)[:, k: k + 1]
            gt_v = gt_v - self._regress(gt_v, self.mesh_root_regressor)[:, k: k + 1]
            out["mpvpe"] = mpvpe(pred_v, gt_v) * M_TO_MM
        return out

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        rows = super().process_rows(batch, preds)
        for row in rows:
            row.pop("occlusion", None), row.pop("stratum", None)
            row["joints"] = self._last_joints
            if self.sequences is not None:
                row["sequence"] = self.sequences[row["index"]]
        return rows

    def headline_keys(self) -> tuple[str, ...]:
        return METRIC_KEYS + ("per_sequence",)

    def summarize(self, rows: list[dict]) -> dict:
        means = metric_means
        out = {**means(rows), "protocol": self.info}
        if self.sequences is not None:
            names = sorted({r["sequence"] for r in rows})
            out["per_sequence"] = {n: means([r for r in rows if r["sequence"] == n]) for n in names}
        return out
