"""Minimal PLY vertex reader/writer (ascii and binary, any vertex properties; faces are skipped when read).

EHF ships its GT meshes as ``NN_align.ply``; reading them needs only the x, y, z vertex properties. The reader
is strict: a truncated or malformed file raises PlyError naming the file and what is wrong.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from common.errors import UserError

_SCALARS = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


class PlyError(UserError, ValueError):
    """A PLY file is missing, truncated or not a vertex PLY this reader understands."""


def _parse_header(path: Path, raw: bytes) -> tuple[str, list[tuple[str, int, list]], int]:
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise PlyError(f"{path}: not a PLY file (missing 'ply' magic or 'end_header')")
    body_start = raw.index(b"\n", end) + 1
    fmt, elements = "", []
    for line in raw[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            elements[-1][2].append(words[1:])
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise PlyError(f"{path}: unsupported PLY format '{fmt}'")
    return fmt, elements, body_start


def read_ply_vertices(path: str | os.PathLike) -> np.ndarray:
    """Vertices (V, 3) float64 of a PLY file (metres for EHF). Raises PlyError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PlyError(f"{path}: PLY file not found")
    raw = path.read_bytes()
    fmt, elements, offset = _parse_header(path, raw)
    if not elements or elements[0][0] != "vertex":
        raise PlyError(f"{path}: the first PLY element must be 'vertex'")
    _, count, props = elements[0]
    if any(p[0] == "list" for p in props):
        raise PlyError(f"{path}: list properties in the vertex element are not supported")
    names = [p[1] for p in props]
    if not {"x", "y", "z"} <= set(names):
        raise PlyError(f"{path}: vertex element lacks x/y/z properties (has {names})")
    if fmt == "ascii":
        lines = raw[offset:].decode("ascii", errors="replace").split("\n")
        rows = [ln.split() for ln in lines[:count]]
        if len(rows) < count or any(len(r) < len(names) for r in rows):
            raise PlyError(f"{path}: truncated vertex data (expected {count} vertices)")
        table = np.asarray(rows, dtype=np.float64)
        cols = [names.index(c) for c in "xyz"]
        verts = table[:, cols]
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        try:
            dtype = np.dtype([(p[1], order + _SCALARS[p[0]]) for p in props])
        except KeyError as err:
            raise PlyError(f"{path}: unknown PLY property type {err}") from None
        if len(raw) - offset < count * dtype.itemsize:
            raise PlyError(f"{path}: truncated vertex data (expected {count} vertices of {dtype.itemsize} bytes)")
        table = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        verts = np.stack([table[c].astype(np.float64) for c in "xyz"], axis=1)
    if not np.all(np.isfinite(verts)):
        raise PlyError(f"{path}: vertex coordinates contain NaN/inf")
    return verts


def write_ply(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray | None = None) -> None:
    """Write a binary little-endian PLY with float32 x, y, z vertices and optional triangle faces (F, 3)."""
    vertices = np.asarray(vertices, dtype="<f4").reshape(-1, 3)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertices)}",
              "property float x", "property float y", "property float z"]
    face_bytes = b""
    if faces is not None and len(faces):
        faces = np.asarray(faces, dtype="<i4").reshape(-1, 3)
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
        rec = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        rec["n"], rec["idx"] = 3, faces
        face_bytes = rec.tobytes()
    header.append("end_header")
    Path(path).write_bytes(("\n".join(header) + "\n").encode("ascii") + vertices.tobytes() + face_bytes)
