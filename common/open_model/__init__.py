"""License-free body model built from the Apache-2.0 ``anny`` package, in the official SMPL / SMPL-X layouts.

``ensure_open_model()`` builds it into the cache on first use and returns the paths of its files.
See docs/open_body_model.md.
"""
from common.open_model.build import OpenModelPaths, ensure_open_model

__all__ = ["OpenModelPaths", "ensure_open_model"]
