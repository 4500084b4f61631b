"""Open MANO- and FLAME-layout part models cut from the open SMPL-X: ``ensure_open_part_models()``.

Built on first use (a second or two) into ``<open model folder>/parts_v<N>/``, atomically, beside the SMPL-X
file they are cut from (see :mod:`common.open_model.part_cut` for what is kept and why pasting is exact):

- ``MANO_RIGHT.pkl``, ``MANO_LEFT.pkl``: ``smplx.MANO`` layout (16 joints, 10 betas, the open SMPL-X hand
  mean and PCA components; ``flat_hand_mean=False`` adds the same mean as the SMPL-X layer does);
- ``FLAME_NEUTRAL.pkl`` + ``flame_static_embedding.pkl`` (51 landmarks): ``smplx.FLAME(model_path=folder)``
  with 10 shape and 10 expression coefficients (its short layout); no ``flame_dynamic_embedding.npy``, so
  ``use_face_contour`` must stay False;
- ``MANO_SMPLX_vertex_ids.pkl`` ({'left_hand', 'right_hand'}: (n,) SMPL-X vertex of each MANO vertex) and
  ``SMPL-X__FLAME_vertex_ids.npy`` ((n,) SMPL-X vertex of each FLAME vertex): the official files' meaning.

Vertex counts are the open part sets' (1,602 per hand, 3,681 face), not MANO's 778 / FLAME's 5,023.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cache_folder import build_once
from common.open_model.build import ensure_open_model
from common.open_model.part_cut import cut_flame, cut_mano

PARTS_VERSION = 1  # bump when the cut changes
MANO_FILES = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}
FLAME_FILE, FLAME_EMBEDDING_FILE = "FLAME_NEUTRAL.pkl", "flame_static_embedding.pkl"
MANO_IDS_FILE, FLAME_IDS_FILE = "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"


@dataclass(frozen=True)
class OpenPartPaths:
    """Files of the open part models (all in ``folder``; pass ``folder`` as smplx.FLAME's model_path)."""

    folder: Path
    mano_right: Path
    mano_left: Path
    flame: Path
    flame_embedding: Path
    mano_vertex_ids: Path
    flame_vertex_ids: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "OpenPartPaths":
        return cls(folder, folder / MANO_FILES["right"], folder / MANO_FILES["left"], folder / FLAME_FILE,
                   folder / FLAME_EMBEDDING_FILE, folder / MANO_IDS_FILE, folder / FLAME_IDS_FILE)

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.mano_right, self.mano_left, self.flame, self.flame_embedding,
                                         self.mano_vertex_ids, self.flame_vertex_ids))


def _dump(path: Path, data: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


def build_part_files(out: Path, smplx_path: Path, vertex_sets_path: Path) -> dict:
    """Cut the part models from ``smplx_path`` with the smplx-layout sets of ``vertex_sets_path`` into ``out``."""
    with np.load(smplx_path) as data:
        smplx = {k: data[k] for k in data.files}
    sets = json.loads(Path(vertex_sets_path).read_text())["smplx"]
    hand_ids = {}
    for side in ("right", "left"):
        mano, hand_ids[side] = cut_mano(smplx, np.asarray(sets[f"{side}_hand"]), side)
        _dump(out / MANO_FILES[side], mano)
    flame, embedding, face_ids = cut_flame(smplx, np.asarray(sets["face"]))
    _dump(out / FLAME_FILE, flame)
    _dump(out / FLAME_EMBEDDING_FILE, embedding)
    _dump(out / MANO_IDS_FILE, {"left_hand": hand_ids["left"], "right_hand": hand_ids["right"]})
    np.save(out / FLAME_IDS_FILE, face_ids)
    return {"right_hand": len(hand_ids["right"]), "left_hand": len(hand_ids["left"]), "face": len(face_ids)}


def ensure_open_part_models(force: bool = False) -> OpenPartPaths:
    """Return the open part models' files, cutting them from the open SMPL-X on first use (builds that too)."""
    model = ensure_open_model()
    paths = OpenPartPaths.in_folder(model.folder / f"parts_v{PARTS_VERSION}")
    build_once(paths.folder, lambda folder: OpenPartPaths.in_folder(folder).complete(),
               lambda tmp: build_part_files(tmp, model.smplx_path, model.vertex_sets_path), force)
    if not paths.complete():
        raise RuntimeError(f"open part models: the cut did not produce all files in {paths.folder}")
    return paths
