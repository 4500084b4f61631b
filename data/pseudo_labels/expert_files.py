"""Readers (and writers, for tests and our own experts) of the files the public expert demos produce.

Formats (sources in docs/furpe.md):
- **SPIN** (nkolot/SPIN). ``demo.py`` writes only renders; its in-memory outputs ``pred_rotmat`` (B, 24, 3, 3),
  ``pred_betas`` (B, 10), ``pred_camera`` (B, 3) are accepted as a dict file (.npz / pickled .npy / .pkl) with
  those keys. ``eval.py --result_file`` writes an .npz with ``pose`` (N, 72) axis-angle, ``betas`` (N, 10),
  ``camera`` (N, 3), ``pred_joints`` (N, 17, 3); ``index`` picks the row.
- **FrankMocap hand demo** (facebookresearch/frankmocap ``demo_handmocap.py --save_pred_pkl``): pickle
  ``mocap/<image>_prediction_result.pkl`` = {demo_type 'hand', smpl_type, image_path, body_bbox_list,
  hand_bbox_list, save_mesh, pred_output_list}; each person is {'left_hand': {...}, 'right_hand': {...}} with
  ``pred_hand_pose`` (1, 48), ``pred_hand_betas`` (1, 10), ``pred_camera``, ``bbox_scale_ratio``,
  ``bbox_top_left``, ``faces``, ``img_cropped`` (+ vertices with --save_mesh). A hand that was not detected is
  saved as an empty dict (the demo's save function rebinds a local to None) or None: both read as absent.
- **DECA** (yfeng95/DECA): ``deca.encode`` returns the codedict {shape (B,100), tex (B,50), exp (B,50),
  pose (B,6), cam (B,3), light (B,9,3), images, detail, euler_jaw_pose}; ``demos/demo_reconstruct.py --saveMat``
  writes only the decoded ``opdict`` (verts, landmarks, renders), which has no parameters. We read a codedict
  saved as .npz / pickled .npy / .pkl / .mat; an opdict-only file is refused with a message saying so.
Every expert file may also carry ``feature`` (1024,), the expert's hidden feature (FuRPE's ``save_feature_*``).
Pickled files are unpickled: read only files you trust.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from data.pseudo_labels.experts import (
    SIDES,
    assemble_label,
    body_from_smpl,
    face_from_deca,
    hand_from_frankmocap,
    rotmat_to_aa,
)
from data.pseudo_labels.label import PseudoLabel, PseudoLabelError, check_array, check_keys, to_numpy

SPIN_DEMO_KEYS = frozenset({"pred_rotmat", "pred_betas", "pred_camera", "feature"})
SPIN_EVAL_KEYS = frozenset({"pose", "betas", "camera", "pred_joints", "feature"})
FRANK_TOP_KEYS = frozenset({"demo_type", "smpl_type", "image_path", "body_bbox_list", "hand_bbox_list",
                            "save_mesh", "pred_output_list"})
FRANK_HAND_KEYS = frozenset({"pred_hand_pose", "pred_hand_betas", "pred_camera", "bbox_scale_ratio",
                             "bbox_top_left", "faces", "img_cropped", "pred_vertices_smpl", "pred_vertices_img",
                             "feature"})
DECA_CODE_KEYS = frozenset({"shape", "tex", "exp", "pose", "cam", "light", "images", "detail", "euler_jaw_pose",
                            "feature"})
DECA_OPDICT_KEYS = frozenset({"verts", "trans_verts", "landmarks2d", "landmarks3d", "landmarks3d_world", "grid",
                              "rendered_images", "alpha_images", "normal_images", "albedo", "uv_texture", "normals",
                              "uv_detail_normals", "displacement_map", "uv_texture_gt"})


def load_dict_file(path: str | os.PathLike) -> dict[str, Any]:
    """A dict of arrays from .npz, pickled .npy (np.save of a dict), .pkl or .mat; PseudoLabelError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise PseudoLabelError(f"{path}: file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if path.suffix == ".npy":
            obj = np.load(path, allow_pickle=True)
            obj = obj.item() if obj.dtype == object and obj.shape == () else obj
        elif path.suffix == ".pkl":
            with open(path, "rb") as handle:
                obj = pickle.load(handle)
        elif path.suffix == ".mat":
            from scipy.io import loadmat

            obj = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        else:
            raise PseudoLabelError(f"{path}: unsupported file type {path.suffix!r} (.npz, .npy, .pkl, .mat)")
    except PseudoLabelError:
        raise
    except Exception as err:  # noqa: BLE001  (any unreadable file is the user's input)
        raise PseudoLabelError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise PseudoLabelError(f"{path}: expected a dict of arrays, got {type(obj).__name__}")
    return obj


def _feature(data: Mapping[str, Any], where: str) -> np.ndarray | None:
    return check_array(data["feature"], (1024,), where, "feature") if "feature" in data else None


def _sample(value: Any, index: int, shape: tuple[int, ...], where: str, key: str) -> np.ndarray:
    """One sample of ``shape`` from a value that is either that sample or a batch of them (row ``index``)."""
    arr, n = to_numpy(value), int(np.prod(shape))
    if arr.size != n and arr.ndim >= 1 and arr.shape[0] > 0 and arr.size == arr.shape[0] * n:
        if index >= arr.shape[0]:
            raise PseudoLabelError(f"{where}: key {key!r} has no row {index} (shape {tuple(arr.shape)})")
        arr = arr[index]
    return check_array(arr, shape, where, key)


def read_spin_output(path: str | os.PathLike, index: int = 0) -> dict[str, np.ndarray | None]:
    """SPIN output -> {'body' (22, 3) SMPL-X global + 21 body joints, 'betas' (10,) (dropped by the conversion,
    kept for reference), 'camera' (3,), 'feature' (1024,) or None}. ``index``: the row of a batch file."""
    where, data = str(path), load_dict_file(path)
    if "pred_rotmat" in data:
        check_keys(data, SPIN_DEMO_KEYS, where, ("pred_rotmat", "pred_betas", "pred_camera"))
        pose = rotmat_to_aa(_sample(data["pred_rotmat"], index, (24, 3, 3), where, "pred_rotmat"))
        betas, cam = data["pred_betas"], data["pred_camera"]
    else:
        check_keys(data, SPIN_EVAL_KEYS, where, ("pose", "betas", "camera"))
        pose, betas, cam = _sample(data["pose"], index, (24, 3), where, "pose"), data["betas"], data["camera"]
    return {"body": body_from_smpl(pose, where), "betas": _sample(betas, index, (10,), where, "betas"),
            "camera": _sample(cam, index, (3,), where, "camera"), "feature": _feature(data, where)}


def read_frankmocap_hand_output(path: str | os.PathLike, person: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """FrankMocap hand-demo pickle -> side ('left'/'right') -> {'pred_hand_pose' (48,), 'feature'?}; an
    undetected hand is absent from the result."""
    where, data = str(path), load_dict_file(path)
    check_keys(data, FRANK_TOP_KEYS, where, ("pred_output_list",))
    if data.get("demo_type", "hand") != "hand":
        raise PseudoLabelError(f"{where}: key 'demo_type' is {data['demo_type']!r}; only the hand demo's "
                               "output ('hand') is a hand-expert label")
    people = data["pred_output_list"]
    if not isinstance(people, list) or person >= len(people):
        raise PseudoLabelError(f"{where}: key 'pred_output_list' has no person {person}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for side in SIDES:
        hand = (people[person] or {}).get(f"{side}_hand")
        if not hand:
            continue
        check_keys(hand, FRANK_HAND_KEYS, f"{where} [{side}_hand]", ("pred_hand_pose",))
        entry = {"pred_hand_pose": check_array(hand["pred_hand_pose"], (48,), where, f"{side}_hand.pred_hand_pose")}
        if "feature" in hand:
            entry["feature"] = check_array(hand["feature"], (1024,), where, f"{side}_hand.feature")
        out[side] = entry
    return out


def read_deca_output(path: str | os.PathLike, index: int = 0) -> dict[str, np.ndarray | None]:
    """DECA codedict file -> {'pose' (6,), 'exp' (50,) (or as many as saved, >= 10), 'feature' or None}."""
    where, data = str(path), load_dict_file(path)
    if "exp" not in data and set(map(str, data)) & DECA_OPDICT_KEYS:
        raise PseudoLabelError(f"{where}: key 'exp' is missing: this is DECA's decoded output (--saveMat), "
                               "which has no parameters; save deca.encode's codedict instead")
    check_keys(data, DECA_CODE_KEYS, where, ("exp", "pose"))
    exp = to_numpy(data["exp"])
    if exp.ndim == 2:
        if index >= len(exp):
            raise PseudoLabelError(f"{where}: key 'exp' has no row {index} (shape {tuple(exp.shape)})")
        exp = exp[index]
    return {"pose": _sample(data["pose"], index, (6,), where, "pose"),
            "exp": check_array(exp, (exp.size,), where, "exp"), "feature": _feature(data, where)}


def pseudo_label_from_expert_files(spin: str | os.PathLike | None = None, frankmocap: str | os.PathLike | None = None,
                                   deca: str | os.PathLike | None = None,
                                   hand_mean: Mapping[str, np.ndarray] | None = None,
                                   keypoints2d: np.ndarray | None = None) -> PseudoLabel:
    """One image's expert files -> :class:`PseudoLabel` (a missing file = that part invalid). ``hand_mean``: side
    -> (45,) the hand mean of the hand expert's SMPL-X file (FrankMocap: the official file's
    ``hands_mean{l,r}``, e.g. ``WholeBodyLayer.{left,right}_hand_mean_aa`` of the official model); None = zeros."""
    body, hands, face, feats = None, {}, None, {}
    if spin is not None:
        out = read_spin_output(spin)
        body = out["body"]
        if out["feature"] is not None:
            feats["body"] = out["feature"]
    if frankmocap is not None:
        for side, hand in read_frankmocap_hand_output(frankmocap).items():
            mean = None if hand_mean is None else hand_mean[side]
            hands[side] = hand_from_frankmocap(hand["pred_hand_pose"], mean, str(frankmocap), f"{side}_hand")
            if "feature" in hand:
                feats[f"{side}_hand"] = hand["feature"]
    if deca is not None:
        out = read_deca_output(deca)
        face = face_from_deca(out["pose"], out["exp"], str(deca))
        if out["feature"] is not None:
            feats["face"] = out["feature"]
    source = ", ".join(str(p) for p in (spin, frankmocap, deca) if p is not None)
    return assemble_label(body, hands, face, feats, keypoints2d, source)


def write_spin_output(path: str | os.PathLike, pred_rotmat: np.ndarray, pred_betas: np.ndarray,
                      pred_camera: np.ndarray, feature: np.ndarray | None = None) -> None:
    """The SPIN demo's outputs for one image as .npz (batch of 1)."""
    extra = {} if feature is None else {"feature": np.asarray(feature, np.float32).reshape(1024)}
    np.savez(path, pred_rotmat=np.asarray(pred_rotmat, np.float32).reshape(1, 24, 3, 3),
             pred_betas=np.asarray(pred_betas, np.float32).reshape(1, 10),
             pred_camera=np.asarray(pred_camera, np.float32).reshape(1, 3), **extra)


def write_frankmocap_hand_output(path: str | os.PathLike, hands: Mapping[str, np.ndarray | None],
                                 features: Mapping[str, np.ndarray] | None = None) -> None:
    """A FrankMocap hand-demo pickle for one person; ``hands`` side -> (48,) pose or None (not detected)."""
    person: dict[str, Any] = {}
    for side in SIDES:
        pose = hands.get(side)
        if pose is None:
            person[f"{side}_hand"] = {}
            continue
        hand = {"pred_hand_pose": np.asarray(pose, np.float32).reshape(1, 48),
                "pred_hand_betas": np.zeros((1, 10), np.float32), "pred_camera": np.array([5.0, 0, 0], np.float32)}
        if features and side in features:
            hand["feature"] = np.asarray(features[side], np.float32).reshape(1024)
        person[f"{side}_hand"] = hand
    data = {"demo_type": "hand", "smpl_type": "smplx", "image_path": "", "body_bbox_list": [None],
            "hand_bbox_list": [None], "save_mesh": False, "pred_output_list": [person]}
    with open(path, "wb") as handle:
        pickle.dump(data, handle)


def write_deca_output(path: str | os.PathLike, pose: np.ndarray, exp: np.ndarray,
                      feature: np.ndarray | None = None) -> None:
    """A DECA codedict (pose (1, 6), exp (1, 50)) as a pickled .npy dict."""
    data = {"pose": np.asarray(pose, np.float32).reshape(1, 6), "exp": np.asarray(exp, np.float32).reshape(1, -1)}
    if feature is not None:
        data["feature"] = np.asarray(feature, np.float32).reshape(1024)
    np.save(path, data, allow_pickle=True)
