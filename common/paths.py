"""Where generated artefacts live.

Everything the project generates (the open body model, synthetic crowds, test fixtures) goes into one
git-ignored cache folder, built on first use. ``CROWDMESH_CACHE`` overrides the location.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Root of the generated-artefact cache (``$CROWDMESH_CACHE`` or ``<repo>/.cache``), created on demand."""
    root = Path(os.environ.get("CROWDMESH_CACHE", REPO_ROOT / ".cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root
