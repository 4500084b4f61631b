"""Where a dataset lives and its adapter options, read from the config (``data.roots``, ``data.adapter_options``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from data.adapters.coco_style import AnnotationError


def dataset_root(cfg: Any, name: str) -> Path:
    """``cfg.data.roots[name]`` as a Path; a clear error when unset or missing."""
    roots = getattr(cfg.data, "roots", {}) or {}
    if name not in roots or not roots[name]:
        raise AnnotationError(f"data.roots['{name}'] is not set; point it at your copy of the dataset "
                              f"(--opts data.roots={{{name}: /path}} or the YAML; see docs/datasets.md)")
    root = Path(roots[name]).expanduser()
    if not root.exists():
        raise AnnotationError(f"{root}: data.roots['{name}'] does not exist")
    return root


def adapter_options(cfg: Any, name: str) -> dict:
    """Optional per-dataset keyword overrides ``cfg.data.adapter_options[name]`` (absent key = none)."""
    return dict((getattr(cfg.data, "adapter_options", None) or {}).get(name, {}) or {})
