"""14 LSP joints regressed from an SMPL-X mesh (the FuRPE / ExPose 3DPW and EHF protocol).

ExPose ships ``SMPLX_to_J14.pkl``: a (14, 10475) matrix for the official SMPL-X, rows in SPIN's LSP-14 order
(R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow, R shoulder, L shoulder, L elbow, L wrist,
neck, head top). The GT side is the H36M-17 regressor on the GT mesh reordered by SPIN's ``H36M_TO_J14``; the
root is the middle of the two hips (LSP 2, 3). The open SMPL and SMPL-X share one mesh, so the open SMPL-X's
equivalent is the open H36M-17 regressor reordered the same way (:func:`open_smplx_j14_regressor`).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common.errors import UserError

H36M_TO_J14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)  # SPIN constants: H36M-17 rows -> LSP-14
J14_HIPS = (2, 3)


class J14RegressorError(UserError, ValueError):
    """An SMPL-X -> J14 regressor file that cannot be used (the message names the file)."""


def j14_from_h36m17(h36m17: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """(17, V) H36M regressor (or (B, 17, 3) joints) -> its 14 LSP rows in ``H36M_TO_J14`` order."""
    if h36m17.shape[-2 if h36m17.ndim == 3 else 0] != 17:
        raise ValueError(f"j14_from_h36m17: expected 17 H36M rows, got shape {tuple(h36m17.shape)}")
    return h36m17[:, list(H36M_TO_J14)] if h36m17.ndim == 3 else h36m17[list(H36M_TO_J14)]


def load_smplx_j14_regressor(path: str | Path, num_vertices: int | None = None) -> np.ndarray:
    """(14, V) float64 from ``SMPLX_to_J14.pkl`` (pickled array or sparse matrix), ``.npy`` or ``.npz``
    (first array); checks the shape (and V against ``num_vertices`` when given)."""
    path = Path(path)
    if not path.is_file():
        raise J14RegressorError(f"{path}: SMPL-X J14 regressor file not found")
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                raw = pickle.load(f, encoding="latin1")
        elif path.suffix == ".npz":
            with np.load(path) as data:
                raw = data[data.files[0]]
        else:
            raw = np.load(path)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, IndexError) as err:
        raise J14RegressorError(f"{path}: cannot read the J14 regressor ({type(err).__name__}: {err})") from None
    matrix = np.asarray(raw.toarray() if hasattr(raw, "toarray") else raw, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != 14:
        raise J14RegressorError(f"{path}: J14 regressor has shape {matrix.shape}, expected (14, V)")
    if num_vertices is not None and matrix.shape[1] != num_vertices:
        raise J14RegressorError(f"{path}: J14 regressor covers {matrix.shape[1]} vertices, the SMPL-X model "
                                f"has {num_vertices}")
    return matrix


def open_smplx_j14_regressor() -> np.ndarray:
    """(14, V) for the open SMPL-X (V = 13,718): the open H36M-17 regressor in LSP-14 order."""
    from common.open_model import ensure_open_model

    with np.load(ensure_open_model().regressors_path) as reg:
        return j14_from_h36m17(reg["h36m17"].astype(np.float64))


def smplx_to_j14(vertices: Tensor, regressor: Tensor | np.ndarray) -> Tensor:
    """(B, V, 3) SMPL-X vertices (m) -> (B, 14, 3) LSP joints (m) with a (14, V) regressor."""
    reg = torch.as_tensor(regressor, device=vertices.device, dtype=vertices.dtype)
    if vertices.ndim != 3 or vertices.shape[1] != reg.shape[1]:
        raise ValueError(f"smplx_to_j14: vertices {tuple(vertices.shape)} do not match the (14, {reg.shape[1]}) "
                         "regressor")
    return torch.einsum("jv,bvc->bjc", reg, vertices)


def hip_centred(joints: Tensor) -> Tensor:
    """(B, 14, 3) LSP joints minus the middle of the two hips (FuRPE's pelvis)."""
    return joints - joints[:, list(J14_HIPS)].mean(1, keepdim=True)
