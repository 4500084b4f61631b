"""Finding and reading the user's official SMPL / SMPL-X / MANO files, and their joint regressors.

(Kept beside the open model because both produce the same arrays; ``common.body_models`` is the consumer.)
Official SMPL and MANO ``.pkl`` files pickle chumpy objects, and chumpy does not work with NumPy >= 1.24;
:func:`load_model_arrays` unpickles them without chumpy (see :class:`ChumpyFreeUnpickler`).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from common.errors import UserError


class ModelFileError(UserError, ValueError):
    """A user's SMPL / SMPL-X / MANO (or regressor) file that cannot be read; the message names it."""

DOWNLOAD = {"smpl": "https://smpl.is.tue.mpg.de", "smplx": "https://smpl-x.is.tue.mpg.de",
            "mano": "https://mano.is.tue.mpg.de"}
CROWDNET_FACE_VERTICES = [331, 2802, 6262, 3489, 3990]  # SMPL vertices: Nose, L_Eye, R_Eye, L_Ear, R_Ear
_G = {"neutral": ("NEUTRAL", "neutral"), "male": ("MALE", "m"), "female": ("FEMALE", "f")}


def candidate_names(kind: str, gender: str) -> list[str]:
    upper, short = _G[gender]
    if kind == "smpl":
        return [f"SMPL_{upper}.pkl", f"SMPL_{upper}.npz", f"basicmodel_{short}_lbs_10_207_0_v1.0.0.pkl",
                f"basicModel_{short}_lbs_10_207_0_v1.0.0.pkl", f"basicmodel_{short}_lbs_10_207_0_v1.1.0.pkl"]
    if kind == "smplx":
        return [f"SMPLX_{upper}.npz", f"SMPLX_{upper}.pkl"]
    return ["MANO_RIGHT.pkl", "MANO_RIGHT.npz"]


def find_model_file(kind: str, model_path: str | None, gender: str) -> Path:
    """Resolve ``model_path`` (a file, or a folder holding the usual file names) or raise one clear error."""
    site = DOWNLOAD[kind]
    key = {"smpl": "smpl_path", "smplx": "smplx_path", "mano": "mano_path"}[kind]
    if not model_path:
        raise FileNotFoundError(f"official {kind.upper()} model: no file given (set body_model.{key} to e.g. "
                                f"{candidate_names(kind, gender)[0]}); get it from {site}")
    path = Path(model_path).expanduser()
    looked = [path]
    if path.is_file():
        return path
    if path.is_dir():
        looked = [d / n for d in (path, path / kind, path / kind.upper()) for n in candidate_names(kind, gender)]
        for p in looked:
            if p.is_file():
                return p
    where = ", ".join(str(p) for p in looked)
    raise FileNotFoundError(f"official {kind.upper()} model ({gender}) not found; looked for: {where}; "
                            f"get the file from {site} and set body_model.{key}")


class _ChumpyStandIn:
    """Receives a chumpy object's pickled state; the array is in ``state['x']`` for plain ``Ch`` objects."""

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"x": state}


class ChumpyFreeUnpickler(pickle.Unpickler):
    """Maps every ``chumpy.*`` class to :class:`_ChumpyStandIn`; everything else loads normally."""

    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module.startswith("scipy.sparse"):  # old private module paths (scipy.sparse.csc, ...)
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _plain(value, key: str, path: Path):
    """Array (or plain value) behind a chumpy stand-in / scipy sparse matrix / list."""
    if isinstance(value, _ChumpyStandIn):
        if "x" not in value.state:
            raise ModelFileError(f"{path}: field {key!r} is a chumpy expression without a stored value "
                             f"(state keys {sorted(value.state)}); re-export it with chumpy installed")
        return np.asarray(value.state["x"])
    if hasattr(value, "toarray"):  # scipy.sparse, e.g. J_regressor
        return np.asarray(value.toarray())
    return value


def _reason(exc: BaseException) -> str:
    """First line of an exception's message (one-line errors), or its type."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def load_model_arrays(path: Path | str) -> dict:
    """Arrays of a SMPL-family model file (.pkl with or without chumpy, or .npz) as a dict of numpy arrays."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=True) as data:
                return {k: data[k] for k in data.files}
        except Exception as exc:  # noqa: BLE001 - truncated zip, not an npz, ...
            raise ModelFileError(f"{path}: cannot read as a SMPL-family model .npz ({_reason(exc)})") from None
    with open(path, "rb") as f:
        try:
            raw = ChumpyFreeUnpickler(f, encoding="latin1").load()
        except Exception as exc:  # noqa: BLE001 - corrupted or not a model pickle
            raise ModelFileError(f"{path}: cannot read as a SMPL-family model pickle ({_reason(exc)}); "
                                 "download it again") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: expected a pickled dict of arrays, got {type(raw).__name__}")
    return {k: _plain(v, k, path) for k, v in raw.items()}


def _load_regressor(path: str, num_vertices: int, what: str) -> np.ndarray:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what}: file not found: {p}")
    try:
        mat = np.load(p, allow_pickle=True)
        mat = mat.toarray() if hasattr(mat, "toarray") else np.asarray(mat)
    except Exception as exc:  # noqa: BLE001 - truncated or not a .npy
        raise ModelFileError(f"{what}: cannot read {p} as a .npy regressor ({_reason(exc)})") from None
    if mat.ndim != 2 or mat.shape[1] != num_vertices:
        raise ModelFileError(f"{what}: {p} has shape {mat.shape}, expected (J, {num_vertices})")
    return mat.astype(np.float32)


def official_regressors(kind: str, j_regressor: np.ndarray, h36m_path: str | None, extra_path: str | None):
    """Named regressors for official files: (regressors, row names, {missing name: error message}).

    SMPL: crowdnet30 = 24 joints + one-hot face vertices + head top (row 3 of J_regressor_extra.npy);
    graph15 = rows of crowdnet30; h36m17 from J_regressor_h36m_correct.npy; coco17 from the joints and the
    smplx face vertex ids. Other kinds: coco17 only (from the joints and the smplx face vertex ids).
    """
    from smplx.vertex_ids import vertex_ids

    from common.open_model import named_regressors as nr

    n_verts = j_regressor.shape[1]
    regs, missing = {}, {}
    ids = vertex_ids["smplh" if kind == "smpl" else "smplx"]
    face_ids = [ids[k] for k in ("nose", "leye", "reye", "lear", "rear")]
    topology_ok = max(face_ids + CROWDNET_FACE_VERTICES) < n_verts  # False for a non-SMPL mesh
    wrong_topology = ("regressor {!r} needs the official %s topology (this file has %d vertices)"
                      % (kind.upper(), n_verts))
    if kind in ("smpl", "smplx") and topology_ok:
        joint = {n: j_regressor[i] for i, n in enumerate(nr.CROWDNET30_NAMES[:22])}
        body = [joint[n] for n in nr.COCO17_NAMES[5:]]
        regs["coco17"] = np.vstack([nr.one_hot_rows(face_ids, n_verts), np.stack(body)]).astype(np.float32)
    elif kind in ("smpl", "smplx"):
        missing["coco17"] = wrong_topology.format("coco17")
    if kind == "smpl":
        for name in ("crowdnet30", "graph15"):
            if not topology_ok:
                missing[name] = wrong_topology.format(name)
            elif not extra_path:
                missing[name] = (f"regressor {name!r} needs the head top from J_regressor_extra.npy (row 3): set "
                                 "body_model.extra_regressor_path")
        if topology_ok and extra_path:
            head_top = _load_regressor(extra_path, n_verts, "J_regressor_extra (body_model.extra_regressor_path)")[3]
            crowd = nr.crowdnet30(j_regressor, CROWDNET_FACE_VERTICES, head_top)
            regs["crowdnet30"], regs["graph15"] = crowd, nr.graph15(crowd)
        if h36m_path:
            regs["h36m17"] = _load_regressor(h36m_path, n_verts, "J_regressor_h36m (body_model.h36m_regressor_path)")
        else:
            missing["h36m17"] = ("regressor 'h36m17' needs J_regressor_h36m_correct.npy: set "
                                 "body_model.h36m_regressor_path")
    return regs, nr.REGRESSOR_NAMES, missing
