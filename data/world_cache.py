"""What both embedded worlds (``data/synthetic``, ``data/synthetic_wholebody``) share to name their cache folders:
a content key and a body-model fingerprint (the folders are built by :func:`common.cache_folder.build_once`)."""
from __future__ import annotations

import hashlib
import json

import numpy as np


def content_key(payload: dict) -> str:
    """16 hex digits of SHA-1 over ``payload`` as sorted JSON: everything that determines a rendered folder."""
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def mesh_fingerprint(prefix: str, faces: np.ndarray, vertices: np.ndarray) -> str:
    """'<prefix>-<V>v-<16 hex>': SHA-1 of a body model's faces (F,3) and of its vertices (V,3) for a fixed pose,
    rounded to 0.1 mm so that float noise between machines does not change it."""
    digest = hashlib.sha1(np.asarray(faces).astype(np.int64).tobytes())
    digest.update(np.round(np.asarray(vertices, dtype=np.float64), 4).tobytes())
    return f"{prefix}-{len(vertices)}v-{digest.hexdigest()[:16]}"
