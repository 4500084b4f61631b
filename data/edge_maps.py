"""SEFD edge maps of one sample, on its augmented crop grid: rendered from GT SMPL params or read from PNGs.

Which maps a sample carries is the experiment plan's decision (``common/config/plan.py``,
``ExperimentPlan.edge_maps``; :func:`sample_edge_kinds` asks it):

- ``teacher``: ``edge`` = ``sefd.teacher_edge`` (the stage-1 network's 4th channel, also at test time);
- ``student``: ``teacher_edge`` = ``sefd.teacher_edge`` while training (the frozen teacher's input), and
  ``edge`` = ``sefd.edge_source`` when that is an SMPL kind;
- ``edge_input``: ``edge`` = ``sefd.edge_source`` when that is an SMPL kind;
- Canny / RCF channels are computed from the batch by the model (``common/models/sefd.py: build_edge_fn``).

On the fly, the people of the image (the record's SMPL params first, then ``others_smpl_*``) are rendered
straight into the crop through the mapper's image->crop affine, so the map gets exactly the crop, scale,
rotation and flip of the RGB crop (``common/edges/smpl_edges.py``). With ``sefd.edge_dir`` the image-aligned
PNGs of ``tool/precompute_edges.py`` are found through their manifest (by image path and person id, so subsets
and re-ordered record lists work) and resampled with the same affine. Records without SMPL params (or without
a camera-frame translation) get an all-zero map; :func:`count_unrenderable` counts them for the loaders' log.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from common.config.plan import SMPL_EDGE_KINDS, ExperimentPlan

EDGE_SAMPLE_KEYS = ("edge", "teacher_edge")


def sample_edge_kinds(plan: ExperimentPlan, train: bool) -> dict[str, str]:
    """{sample key: edge kind} the mapper must produce (the plan's ``edge_maps``; empty for the baseline)."""
    return plan.edge_maps(train)


def renderable(record) -> bool:
    """True when the record's person can be drawn: SMPL params and a camera-frame translation."""
    return record.has_smpl and record.smpl_transl is not None


def count_unrenderable(records: Sequence) -> int:
    """Number of records whose edge maps will be all zero (no SMPL params or no translation)."""
    return sum(not renderable(r) for r in records)


def record_smpl_people(record, strict: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(pose (P,72), betas (P,10), transl (P,3)) float32 of the record's person (row 0) and the others.

    None when the record has no SMPL params. Neighbours without a translation cannot be placed: ``strict``
    raises ValueError naming the image, otherwise they are left out (and the target too if it lacks one: None).
    """
    if not record.has_smpl:
        return None
    if record.smpl_transl is None and not strict:
        return None
    poses, betas, transl = [record.smpl_pose], [record.smpl_betas], [record.smpl_transl]
    if record.others_smpl_pose is not None and len(record.others_smpl_pose):
        if record.others_smpl_transl is not None:
            poses += list(record.others_smpl_pose)
            betas += list(record.others_smpl_betas)
            transl += list(record.others_smpl_transl)
        elif strict:
            transl.append(None)
    if any(t is None for t in transl):
        raise ValueError(f"{record.image_path}: SMPL translation missing for person {record.person_id!r} or a "
                         "neighbour; edges need people placed in the camera frame")

    def rows(values: list, width: int) -> np.ndarray:
        return np.asarray(values, np.float32).reshape(-1, width)

    return rows(poses, 72), rows(betas, 10), rows(transl, 3)


class CropEdgeMaker:
    """Edge maps of a record on its (S,S) crop grid, for the sample keys of :func:`sample_edge_kinds`.

    Args:
        kinds: {sample key: 'smpl_overlap' | 'smpl_edge'}.
        body_model: CPU BodyModel that draws the people (on-the-fly rendering; unused with ``edge_dir``).
        edge_dir: root of precomputed edge PNGs ('' = render on the fly).
        dataset, split: where the precomputed files of these records live (needed with ``edge_dir``).
    """

    def __init__(self, kinds: Mapping[str, str], body_model=None, edge_dir: str = "", dataset: str = "",
                 split: str = "") -> None:
        bad = {k: v for k, v in kinds.items() if k not in EDGE_SAMPLE_KEYS or v not in SMPL_EDGE_KINDS}
        if bad:
            raise ValueError(f"data/edge_maps.py: unsupported edge maps {bad}; keys {EDGE_SAMPLE_KEYS}, kinds "
                             f"{SMPL_EDGE_KINDS}")
        if not edge_dir and body_model is None:
            raise ValueError("data/edge_maps.py: rendering SMPL edge maps on the fly needs the mapper's body model "
                             "(pass body_model to the loaders) or precomputed maps (sefd.edge_dir)")
        if edge_dir and not (dataset and split):
            raise ValueError(f"data/edge_maps.py: sefd.edge_dir={edge_dir!r} needs the dataset name and split of the "
                             "records (build datasets with data.registry.build_dataset)")
        self.kinds = dict(kinds)
        self.body_model = body_model
        self.edge_dir, self.dataset, self.split = str(edge_dir), dataset, split
        self._file_index: dict[str, dict[tuple[str, str], int]] = {}  # kind -> {record key: file index}

    def __call__(self, record, image_hw: tuple[int, int], img_to_crop: np.ndarray, size: int) -> dict[str, np.ndarray]:
        """{sample key: (S,S) float32 map in [0, 1]} for ``record`` whose image is ``image_hw`` (H, W) px."""
        wanted = sorted(set(self.kinds.values()))
        if not renderable(record):
            maps = {kind: np.zeros((size, size), np.float32) for kind in wanted}
        elif self.edge_dir:
            maps = {kind: self._read(kind, record, image_hw, img_to_crop, size) for kind in wanted}
        else:
            maps = self._render(wanted, record, image_hw, img_to_crop, size)
        return {key: maps[kind] for key, kind in self.kinds.items()}

    def _render(self, kinds: list[str], record, image_hw: tuple[int, int], img_to_crop: np.ndarray,
                size: int) -> dict[str, np.ndarray]:
        """Both kinds share one rendering and one Canny of the people (see common/edges/smpl_edges.py).

        The crop may reach beyond the image, where the release's full-image edge files hold nothing (and the
        RGB crop is black): the maps are multiplied by the crop of an all-ones image, as a precomputed map is.
        """
        from common.edges.smpl_edges import (
            edge_kernel_size,
            edge_magnitudes,
            overlap_from_magnitudes,
            people_vertices,
            shade_people,
            visible_from_magnitudes,
        )
        from common.geometry.transforms2d import warp_crop

        pose, betas, transl = (torch.from_numpy(a) for a in record_smpl_people(record, strict=False))
        with torch.no_grad():
            vertices = people_vertices(self.body_model, pose, betas, transl)
            scene, each = shade_people(vertices, self.body_model.faces, record.focal, record.princpt, (size, size),
                                       img_to_crop)
            magnitudes = edge_magnitudes(scene, each)
            kernel = edge_kernel_size(float(record.bbox[2] * record.bbox[3]), img_to_crop)
            out = {}
            for kind in kinds:
                edge = overlap_from_magnitudes(magnitudes, kernel) if kind == "smpl_overlap" else \
                    visible_from_magnitudes(magnitudes, kernel)
                out[kind] = edge.float().numpy()
        inside = warp_crop(np.ones(tuple(int(v) for v in image_hw), np.float32), img_to_crop, (size, size))
        return {kind: edge * inside for kind, edge in out.items()}

    def _read(self, kind: str, record, image_hw: tuple[int, int], img_to_crop: np.ndarray, size: int) -> np.ndarray:
        from common.edges.precomputed import edge_file, manifest_file, read_edge_png, record_key
        from common.geometry.transforms2d import warp_crop

        if kind not in self._file_index:
            path = manifest_file(self.edge_dir, self.dataset, self.split, kind)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no edge manifest; run python -m tool.precompute_edges --dataset "
                                        f"{self.dataset} --split {self.split} --kind {kind} (sefd.edge_dir)")
            manifest = json.loads(path.read_text())
            self._file_index[kind] = {tuple(key): int(index) for index, key in manifest.items()}
        key = tuple(record_key(record))
        if key not in self._file_index[kind]:
            path = manifest_file(self.edge_dir, self.dataset, self.split, kind)
            raise FileNotFoundError(f"{path}: no precomputed {kind} edge for {key[0]} person {key[1]}; the records "
                                    "changed since tool/precompute_edges.py ran: recompute them (--overwrite)")
        edge = read_edge_png(edge_file(self.edge_dir, self.dataset, self.split, kind, self._file_index[kind][key]),
                             expected_hw=image_hw)
        return warp_crop(edge, img_to_crop, (size, size)).astype(np.float32)
