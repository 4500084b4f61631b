"""EHF evaluator (ExPose / Hand4Whole protocol): PA-V2V per body part and PA-MPJPE on 14 body joints, mm.

Per sample: the predicted mesh (``preds['vertices']``, camera frame, m, same topology as the GT mesh) and the
GT mesh (``NN_align.ply`` moved into the camera) are compared on each vertex set (all, body, left hand, right
hand, face) after a similarity Procrustes fit *on that set alone*; PA-MPJPE uses 14 joints regressed from both
meshes (``joint_regressor``: a (14, V) matrix such as SMPLX_to_J14, or the body model's H36M-17 regressor
restricted to the 3DPW 14). Part vertex sets come from a file (see :func:`load_part_vertex_ids`).
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from common.evaluation.evaluator import EvaluationError, Evaluator
from common.evaluation.metrics import mpvpe, pa_mpjpe

PARTS = ("all", "body", "l_hand", "r_hand", "face")
_ALIASES = {"left_hand": "l_hand", "right_hand": "r_hand", "lhand": "l_hand", "rhand": "r_hand", "head": "face"}
M_TO_MM = 1000.0


def load_part_vertex_ids(path: str | Path, num_vertices: int, layout: str = "smplx") -> dict[str, np.ndarray]:
    """Vertex index sets from a file -> {'all', 'body', 'l_hand', 'r_hand', 'face'}.

    Accepts .json / .npz / .pkl mappings {part: ids} (e.g. MANO_SMPLX_vertex_ids.pkl with 'left_hand',
    'right_hand'; the open model's vertex_sets.json, nested by ``layout``) or a .npy array (taken as the face
    set, e.g. SMPL-X__FLAME_vertex_ids.npy). Keys that are not parts are ignored. 'body' defaults to all
    vertices not in a hand or the face; 'all' is every vertex.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: part vertex-id file not found")
    if path.suffix == ".json":
        raw = json.loads(path.read_text())
    elif path.suffix == ".npz":
        raw = dict(np.load(path))
    elif path.suffix == ".npy":
        raw = {"face": np.load(path)}
    elif path.suffix == ".pkl":
        with open(path, "rb") as f:
            raw = pickle.load(f, encoding="latin1")
    else:
        raise ValueError(f"{path}: unsupported part file type (use .json, .npz, .npy or .pkl)")
    raw = dict(raw)
    if isinstance(raw.get(layout), dict):
        raw = raw[layout]
    known = set(PARTS) | set(_ALIASES)
    return complete_parts({k: np.asarray(v) for k, v in raw.items() if k in known}, num_vertices, str(path))


def complete_parts(parts: Mapping[str, Any], num_vertices: int, source: str = "parts") -> dict[str, np.ndarray]:
    """Check index ranges, add 'all' and the complement 'body' when missing -> {name: (n,) int64}."""
    out = {}
    for name, ids in parts.items():
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= num_vertices):
            raise ValueError(f"{source}: part '{name}' has vertex ids outside [0, {num_vertices})")
        out[_ALIASES.get(name, name)] = np.unique(ids)
    out.setdefault("all", np.arange(num_vertices))
    if "body" not in out:
        taken = np.concatenate([out[p] for p in ("l_hand", "r_hand", "face") if p in out] or [np.zeros(0, np.int64)])
        out["body"] = np.setdiff1d(np.arange(num_vertices), taken)
    return out


class EHFEvaluator(Evaluator):
    """PA-V2V per part and PA-MPJPE-14, per sample and mean (mm).

    Args:
        gt_vertices: callable index -> GT mesh (V, 3) m in the camera frame (e.g. reading the record's ply),
            called once per index and cached.
        parts: {part: vertex ids} (see :func:`complete_parts`); parts absent here are not reported.
        joint_regressor: (14, V) tensor, or callable vertices (B, V, 3) -> joints (B, 14, 3).
    """

    def __init__(self, gt_vertices: Callable[[int], np.ndarray], parts: Mapping[str, np.ndarray],
                 joint_regressor: Tensor | Callable[[Tensor], Tensor], output_dir: str | Path | None = None,
                 allow_skipped: bool = False, save_per_sample: bool = True) -> None:
        super().__init__(output_dir, allow_skipped, save_per_sample)
        self._gt_fn = gt_vertices
        self._gt_cache: dict[int, np.ndarray] = {}
        self.parts = {k: np.asarray(v, np.int64) for k, v in parts.items()}
        self.joint_regressor = joint_regressor
        self.metric_keys = tuple(f"pa_v2v_{p}" for p in PARTS if p in self.parts) + ("pa_mpjpe_14", "v2v_all")

    def _regress(self, verts: Tensor) -> Tensor:
        if callable(self.joint_regressor) and not torch.is_tensor(self.joint_regressor):
            return self.joint_regressor(verts).double()
        return torch.einsum("jv,bvc->bjc", self.joint_regressor.to(verts.device, torch.float64), verts.double())

    def errors(self, pred: Tensor, gt: Tensor) -> dict[str, Tensor]:
        """Per-sample errors (B,) mm from meshes (B, V, 3) m."""
        out = {}
        for part, ids in self.parts.items():
            if part in PARTS:
                idx = torch.as_tensor(ids, device=pred.device)
                out[f"pa_v2v_{part}"] = pa_mpjpe(pred[:, idx].double(), gt[:, idx].double()) * M_TO_MM
        out["pa_mpjpe_14"] = pa_mpjpe(self._regress(pred), self._regress(gt)) * M_TO_MM
        # Unaligned reference: translation-only (mean of all vertices), not a headline number.
        out["v2v_all"] = mpvpe(pred - pred.mean(1, keepdim=True), gt - gt.mean(1, keepdim=True)) * M_TO_MM
        return out

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        if "vertices" not in preds or "index" not in batch:
            raise EvaluationError("EHFEvaluator: needs preds['vertices'] and batch['index']")
        pred = preds["vertices"].detach().double()
        indices = [int(i) for i in batch["index"].reshape(-1).tolist()]
        for i in indices:
            if i not in self._gt_cache:
                self._gt_cache[i] = np.asarray(self._gt_fn(i), np.float64)
        gt = torch.as_tensor(np.stack([self._gt_cache[i] for i in indices]), device=pred.device)
        if gt.shape != pred.shape:
            raise EvaluationError(f"EHFEvaluator: predicted meshes {tuple(pred.shape)} and GT meshes {tuple(gt.shape)} "
                                  "differ; EHF needs the GT topology (set the vertex count / body model to match)")
        errors = {k: v.tolist() for k, v in self.errors(pred, gt).items()}
        return [{"index": i, **{k: errors[k][b] for k in self.metric_keys}} for b, i in enumerate(indices)]

    def headline_keys(self) -> tuple[str, ...]:
        return self.metric_keys

    def summarize(self, rows: list[dict]) -> dict:
        means = {k: sum(r[k] for r in rows) / len(rows) for k in self.metric_keys}
        return {"num_samples": len(rows), **means, "units": "mm",
                "protocol": {"dataset": "ehf", "pa": "similarity Procrustes per part and sample",
                             "parts": {p: int(len(v)) for p, v in self.parts.items()}}}
