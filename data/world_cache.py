"""What both embedded worlds (``data/synthetic``, ``data/synthetic_wholebody``) share to render into the cache once:
a content key, a body-model fingerprint and a build that is atomic and runs in one process at a time."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

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


def locked_build(final: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """``final`` once ``final/marker`` exists; else ``build(tmp)`` under an exclusive file lock, then ``tmp`` is
    renamed to ``final`` (a killed build leaves only a temporary folder, never a half-written ``final``; the next
    build deletes it)."""
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / marker).is_file():  # another process finished meanwhile
            return final
        for stale in final.parent.glob(f".{final.name}.tmp-*"):  # a killed build's (we hold the lock: none runs)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        build(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    return final
