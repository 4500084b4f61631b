"""NoW challenge export: one head mesh (.obj) and its 7 landmarks (.npy, (7, 3)) per image.

Layout read by the organisers' ``compute_error.py`` (soubhiksanyal/now_evaluation): for each line
``<subject>/<challenge>/<name>.jpg`` of ``imagepathstest.txt`` (or ``imagepathsvalidation.txt``), the files
``<out>/<subject>/<challenge>/<name>.obj`` and ``<name>.npy``. The 7 landmarks are the 68-point indices
[36, 39, 42, 45, 33, 48, 54] (outer/inner eye corners, nose bottom, mouth corners), i.e. indices
[19, 22, 25, 28, 16, 31, 37] of the 51-point (contour-free) FLAME / SMPL-X landmark embedding. Metres; the
scan-to-mesh error is computed by the organisers after a landmark-based similarity alignment.

The head mesh is cut from the predicted SMPL-X mesh (``preds['vertices']``) by a :class:`HeadCut`: the face
vertex set (SMPL-X__FLAME_vertex_ids.npy, or the open model's), the faces inside it, and the SMPL-X file's
landmark embedding evaluated on the full mesh.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from common.errors import writing
from common.evaluation.evaluator import EvaluationError, Evaluator

NOW_LANDMARKS_68 = (36, 39, 42, 45, 33, 48, 54)
NOW_LANDMARKS_51 = tuple(i - 17 for i in NOW_LANDMARKS_68)  # the 51-point set drops the 17 contour points


def barycentric_points(vertices: Tensor, faces: Tensor, face_idx: Tensor, bary: Tensor) -> Tensor:
    """(B, V, 3) vertices -> (B, L, 3) points at barycentric coordinates ``bary`` (L, 3) of faces ``face_idx``."""
    corners = vertices[:, faces[face_idx]]  # (B, L, 3 corners, 3 xyz)
    return (corners * bary.to(vertices.dtype)[None, :, :, None]).sum(2)


@dataclass
class HeadCut:
    """How to cut the exported head from a whole-body mesh.

    vertex_ids: (n,) whole-body vertex of each head vertex. faces: (F, 3) head faces in head indices.
    body_faces: (F_body, 3) whole-body faces; lmk_faces_idx (51,), lmk_bary_coords (51, 3): the whole-body
    model's 51-point landmark embedding (on ``body_faces``).
    """

    vertex_ids: np.ndarray
    faces: np.ndarray
    body_faces: np.ndarray
    lmk_faces_idx: np.ndarray
    lmk_bary_coords: np.ndarray

    @classmethod
    def from_smplx(cls, smplx: Mapping[str, np.ndarray], face_vertex_ids: np.ndarray) -> "HeadCut":
        """From SMPL-X arrays (``f``, ``lmk_faces_idx``, ``lmk_bary_coords``) and the face vertex ids."""
        from common.open_model.part_cut import part_faces

        ids = np.asarray(face_vertex_ids, dtype=np.int64)
        body_faces = np.asarray(smplx["f"], dtype=np.int64)
        faces, _ = part_faces(body_faces, ids, int(body_faces.max()) + 1)
        return cls(ids, faces, body_faces, np.asarray(smplx["lmk_faces_idx"], np.int64),
                   np.asarray(smplx["lmk_bary_coords"], np.float64))

    def apply(self, vertices: Tensor) -> tuple[Tensor, Tensor]:
        """(B, V, 3) whole-body vertices -> head vertices (B, n, 3) and the 7 NoW landmarks (B, 7, 3)."""
        dev = vertices.device
        lmk = barycentric_points(vertices, torch.as_tensor(self.body_faces, device=dev),
                                 torch.as_tensor(self.lmk_faces_idx, device=dev),
                                 torch.as_tensor(self.lmk_bary_coords, device=dev))
        return vertices[:, torch.as_tensor(self.vertex_ids, device=dev)], lmk[:, list(NOW_LANDMARKS_51)]


def open_head_cut() -> HeadCut:
    """HeadCut of the open SMPL-X (its face vertex set, the FLAME-layout part's vertex order)."""
    from common.open_model import ensure_open_model
    from common.open_model.part_models import ensure_open_part_models

    with np.load(ensure_open_model().smplx_path) as data:
        arrays = {k: data[k] for k in ("f", "lmk_faces_idx", "lmk_bary_coords")}
    return HeadCut.from_smplx(arrays, np.load(ensure_open_part_models().flame_vertex_ids))


def now_relative_stem(image_path: str) -> Path:
    """'.../<subject>/<challenge>/<name>.jpg' -> Path('<subject>/<challenge>/<name>') (compute_error.py's split)."""
    parts = Path(str(image_path).replace("\\", "/")).parts
    if len(parts) < 3:
        raise ValueError(f"{image_path}: a NoW image path needs <subject>/<challenge>/<name>")
    return Path(parts[-3], parts[-2], Path(parts[-1]).stem)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Plain Wavefront OBJ (1-based faces), metres."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, np.int64)]
    path.write_text("\n".join(lines) + "\n")


def export_now_sample(out_dir: str | Path, image_path: str, vertices: np.ndarray, faces: np.ndarray,
                      landmarks: np.ndarray) -> tuple[Path, Path]:
    """Write ``<stem>.obj`` (metres) and ``<stem>.npy`` ((7, 3) float64) under ``out_dir``; returns both paths."""
    stem = Path(out_dir) / now_relative_stem(image_path)
    obj, npy = stem.with_suffix(".obj"), stem.with_suffix(".npy")
    with writing(stem.parent, "NoW prediction"):
        stem.parent.mkdir(parents=True, exist_ok=True)
        write_obj(obj, vertices, faces)
        np.save(npy, np.asarray(landmarks, np.float64).reshape(7, 3))
    return obj, npy


class NoWExporter(Evaluator):
    """Writes the NoW files for every predicted sample (no GT: the organisers score them).

    Args:
        image_paths: NoW image path of every dataset index (``<subject>/<challenge>/<name>.jpg`` at the end).
        head: :class:`HeadCut` from the predicted whole-body mesh ``preds[vertices_key]`` (B, V, 3) m.
        export_dir: folder name under the output dir ('now_predictions').
    """

    def __init__(self, image_paths: Sequence[str], head: HeadCut, output_dir: str | Path | None = None,
                 vertices_key: str = "vertices", export_dir: str = "now_predictions",
                 allow_skipped: bool = False) -> None:
        super().__init__(output_dir, allow_skipped, save_per_sample=False)
        self.image_paths = [str(p) for p in image_paths]
        self.head, self.vertices_key, self.export_dir = head, vertices_key, export_dir

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        if self.vertices_key not in preds:
            raise EvaluationError(f"NoWExporter: predictions have no '{self.vertices_key}' (keys: {sorted(preds)})")
        if self.output_dir is None:
            raise EvaluationError("NoWExporter: needs an output folder to write the meshes")
        verts, lmk = self.head.apply(preds[self.vertices_key].detach().double())
        rows = []
        for b, i in enumerate(int(i) for i in batch["index"].reshape(-1).tolist()):
            obj, _ = export_now_sample(Path(self.output_dir) / self.export_dir, self.image_paths[i],
                                       verts[b].cpu().numpy(), self.head.faces, lmk[b].cpu().numpy())
            rows.append({"index": i, "file": str(obj)})
        return rows

    def headline_keys(self) -> tuple[str, ...]:
        return ("num_exported",)

    def summarize(self, rows: list[dict]) -> dict:
        return {"num_exported": len(rows), "export_dir": str(Path(self.output_dir or ".") / self.export_dir),
                "protocol": {"dataset": "now", "landmarks_68": list(NOW_LANDMARKS_68), "units": "m",
                             "head_vertices": int(len(self.head.vertex_ids)),
                             "note": "scan-to-mesh errors come from the organisers (compute_error.py)"}}
