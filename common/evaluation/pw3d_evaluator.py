"""3DPW evaluator (3DCrowdNet / SEFD protocol), per sequence and overall.

Protocol (implemented by :class:`MeshEvaluator`; see docs/protocols.md): joints = the H36M-17 regressor on
predicted and GT meshes, H36M pelvis subtracted, the 14 joints ``h36m_eval_joint`` = H36M-17 minus Pelvis (0),
Torso (7), Nose (9); MPJPE and PA-MPJPE (similarity Procrustes per sample) in mm; MPVPE on all vertices
after subtracting each mesh's SMPL pelvis (J_regressor joint 0). GT meshes come from the *gendered* body
model at the record's camera-frame SMPL params (translation irrelevant: everything is root-relative); the
prediction is ``preds['vertices']`` from the neutral model.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from common.body_models import gendered_gt_models
from common.evaluation.mesh_evaluator import METRIC_KEYS, MeshEvaluator

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
                 save_per_sample: bool = True, **kwargs: Any) -> None:
        gt_models = {GENDER_CODES[g]: m for g, m in (gt_body_models or {}).items() if m is not None}
        super().__init__(body_model, output_dir=output_dir, allow_skipped=allow_skipped, strata=(),
                         save_per_sample=save_per_sample, gt_body_models=gt_models, **kwargs)
        self.sequences = list(sequences) if sequences is not None else None
        self.info = {
            "dataset": "3dpw", "subset": subset, "crop": crop, "pose_source": pose_source,
            "gt_models": {g: ("gendered" if GENDER_CODES[g] in gt_models else "neutral (fallback)")
                          for g in ("male", "female")},
            "joints": "H36M-17 regressor, pelvis-relative, 14 joints (no Pelvis/Torso/Nose)",
            "pa": "similarity Procrustes per sample", "mpvpe_root": "SMPL pelvis", "units": "mm",
        }

    @classmethod
    def from_config(cls, cfg: Any, body_model: Any, output_dir: str | Path | None,
                    records: Sequence[Any] | None = None,
                    options: Mapping[str, Any] | None = None) -> "Pw3dEvaluator":
        """Builder for the evaluator registry: gendered GT models from ``cfg.body_model`` when they exist.

        ``records`` (the test dataset's records) enable the per-sequence breakdown and the count of people per
        2D input source; crop and input source are read from ``data.adapter_options['3dpw']``.
        ``options``: ``data.adapter_options['3dpw']`` (the caller in ``data`` reads them).
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
                   save_per_sample=cfg.test.save_per_sample)

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        rows = super().process_rows(batch, preds)
        for row in rows:
            row.pop("occlusion", None), row.pop("stratum", None)
            if self.sequences is not None:
                row["sequence"] = self.sequences[row["index"]]
        return rows

    def headline_keys(self) -> tuple[str, ...]:
        return METRIC_KEYS + ("per_sequence",)

    def summarize(self, rows: list[dict]) -> dict:
        def means(subset: list[dict]) -> dict:
            return {"num_samples": len(subset), **{k: sum(r[k] for r in subset) / len(subset) for k in METRIC_KEYS}}

        out = {**means(rows), "protocol": self.info}
        if self.sequences is not None:
            names = sorted({r["sequence"] for r in rows})
            out["per_sequence"] = {n: means([r for r in rows if r["sequence"] == n]) for n in names}
        return out
