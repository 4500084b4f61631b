"""Cached, atomic build of the open body model: ``ensure_open_model()``.

The model lives in ``cache_dir()/open_model/<key>/`` where the key hashes everything the output depends
on (builder version, anny and smplx versions, :class:`BuildParams`). A build writes into a temporary sibling
folder and renames it into place, under a file lock so that concurrent processes build it once.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from common.cache_folder import build_once
from common.open_model import files  # names and params; the builder (pipeline) is imported only to build
from common.paths import cache_dir

BUILDER_VERSION = 2  # bump whenever the builder's output changes for the same inputs
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenModelPaths:
    """Files of a built open model."""

    folder: Path
    smpl_path: Path  # SMPL_NEUTRAL.pkl (smplx.SMPL)
    smpl_npz_path: Path  # same arrays as .npz
    smplx_path: Path  # SMPLX_NEUTRAL.npz (smplx.SMPLX, ext='npz')
    regressors_path: Path  # joint_regressors.npz: crowdnet30, graph15, h36m17, coco17 (J, V)
    vertex_sets_path: Path  # vertex_sets.json
    manifest_path: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "OpenModelPaths":
        return cls(folder, folder / files.SMPL_FILE, folder / files.SMPL_NPZ_FILE, folder / files.SMPLX_FILE,
                   folder / files.REGRESSORS_FILE, folder / files.VERTEX_SETS_FILE,
                   folder / files.MANIFEST_FILE)

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.smpl_path, self.smpl_npz_path, self.smplx_path, self.regressors_path,
                                         self.vertex_sets_path, self.manifest_path))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def build_key(params: files.BuildParams) -> str:
    """16-hex-digit hash of every input of the build."""
    inputs = {"builder": BUILDER_VERSION, "anny": _version("anny"), "smplx": _version("smplx"),
              "params": asdict(params)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def ensure_open_model(force: bool = False, params: files.BuildParams | None = None) -> OpenModelPaths:
    """Return the open model's files, building them on first use (~2-3 min incl. anny's own first build).

    Later calls only check that the files exist. ``force=True`` rebuilds even if present.
    """
    params = params or files.BuildParams()
    paths = OpenModelPaths.in_folder(cache_dir() / "open_model" / build_key(params))

    def build(tmp: Path) -> None:
        from common.open_model.pipeline import build_files

        log.info("building the open body model into %s", paths.folder)
        build_files(tmp, params)

    build_once(paths.folder, lambda folder: OpenModelPaths.in_folder(folder).complete(), build, force)
    if not paths.complete():
        raise RuntimeError(f"open body model build did not produce all files in {paths.folder}")
    return paths
