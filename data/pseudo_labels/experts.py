"""Part-expert outputs -> SMPL-X pieces in our conventions, and back (FuRPE's conversion rules, docs/furpe.md).

- Body (SPIN, SMPL): SMPL-X global orient + 21 body joints = SMPL's global orient + its first 21 body joints
  (the two SMPL hand joints are dropped; SMPL and SMPL-X share the pelvis and these 21 joints). SMPL betas are
  dropped (a shape prior pulls SMPL-X betas to zero instead).
- Hands (FrankMocap hand module, MANO layout in SMPL-X): ``pred_hand_pose`` (48,) = wrist + 15 fingers; the wrist
  is dropped. FrankMocap's fingers are relative to the SMPL-X file's hand mean (its smplx layer has
  ``flat_hand_mean=False``); our convention is absolute, so the mean of the expert's model file is added in
  axis-angle, exactly as smplx adds it (``hand_mean``; zeros for an expert that already predicts absolute
  fingers). The saved left hand is already mirrored back to the left-hand frame and so is relative to the left
  mean. A hand is dropped when any absolute component reaches 3.15 rad
  (:func:`~data.pseudo_labels.label.hand_label_ok`).
- Face (DECA, FLAME): ``pose`` (6,) = [neck/global 3, jaw 3] -> jaw = the last 3; ``exp`` (50,) -> SMPL-X
  expression = the first 10 (FLAME's and SMPL-X's expression spaces share their leading components).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from data.pseudo_labels.label import PseudoLabel, PseudoLabelError, check_array, hand_label_ok

SIDES = ("left", "right")
_WRIST_ROW = {"left": 20, "right": 21}  # SMPL-X joint index of each wrist
_HAND_ROWS = {"left": slice(25, 40), "right": slice(40, 55)}


def rotmat_to_aa(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, float32."""
    return matrix_to_axis_angle(torch.as_tensor(np.asarray(rot, np.float64))).numpy().astype(np.float32)


def aa_to_rotmat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3), float32."""
    return axis_angle_to_matrix(torch.as_tensor(np.asarray(aa, np.float64))).numpy().astype(np.float32)


def hand_means_from_layer(layer) -> dict[str, np.ndarray]:
    """side -> (45,) the hand mean of a :class:`~common.wholebody.layer.WholeBodyLayer`'s model file. For
    FrankMocap outputs this must be the layer of the model the expert was trained with (the official SMPL-X
    file), not the open model: the fingers are relative to that file's mean."""
    return {side: getattr(layer, f"{side}_hand_mean_aa").detach().cpu().numpy().astype(np.float32).reshape(45)
            for side in SIDES}


def body_from_smpl(smpl_pose_aa: np.ndarray, where: str = "", key: str = "pose") -> np.ndarray:
    """SMPL pose (24, 3) or (72,) axis-angle -> (22, 3) SMPL-X global orient + 21 body joints."""
    return check_array(smpl_pose_aa, (24, 3), where, key)[:22].copy()


def hand_from_frankmocap(pred_hand_pose: np.ndarray, hand_mean: np.ndarray | None, where: str = "",
                         key: str = "pred_hand_pose") -> tuple[np.ndarray, bool]:
    """FrankMocap ``pred_hand_pose`` (48,) (wrist + 15 mean-relative fingers) -> ((15, 3) absolute fingers, ok).

    ``hand_mean``: (45,) the hand mean of the expert's model file for this side (None: zeros). ``ok`` is the
    release's 3.15 rad rule applied to the absolute fingers (the release added the mean first, then checked).
    """
    pose = check_array(pred_hand_pose, (16, 3), where, key)
    mean = np.zeros((15, 3), np.float32) if hand_mean is None else check_array(hand_mean, (15, 3), where, "hand_mean")
    fingers = pose[1:] + mean
    return fingers, hand_label_ok(fingers)


def face_from_deca(pose: np.ndarray, exp: np.ndarray, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """DECA ``pose`` (6,) and ``exp`` (>= 10,) -> (jaw (3,), expression (10,))."""
    pose6 = check_array(pose, (6,), where, "pose")
    e = np.asarray(exp).reshape(-1)
    if e.size < 10:
        raise PseudoLabelError(f"{where}: key 'exp' has {e.size} values, expected at least 10")
    return pose6[3:].copy(), check_array(e[:10], (10,), where, "exp")


def assemble_label(body: np.ndarray | None = None, hands: Mapping[str, tuple[np.ndarray, bool]] | None = None,
                   face: tuple[np.ndarray, np.ndarray] | None = None,
                   features: Mapping[str, np.ndarray] | None = None, keypoints2d: np.ndarray | None = None,
                   source: str = "") -> PseudoLabel:
    """Converted pieces -> :class:`PseudoLabel`. ``body`` (22, 3) from :func:`body_from_smpl`; ``hands``
    side -> (fingers (15, 3), ok); ``face`` (jaw, expression). Missing pieces are invalid parts (rows zero);
    a feature is kept only for a valid part (the release attaches hand/face features only with their label)."""
    pose = np.zeros((55, 3), np.float32)
    expression = np.zeros(10, np.float32)
    valid = {"body": body is not None, "left_hand": False, "right_hand": False, "face": face is not None}
    if body is not None:
        pose[:22] = body
    for side, (fingers, ok) in (hands or {}).items():
        if ok:
            pose[_HAND_ROWS[side]] = fingers
            valid[f"{side}_hand"] = True
    if face is not None:
        pose[22], expression = face[0], face[1]
    feats = {part: check_array(f, (1024,), source, f"feature of {part}") for part, f in (features or {}).items()
             if valid.get(part, False)}
    return PseudoLabel(smplx_pose=pose, betas=np.zeros(10, np.float32), expression=expression, valid=valid,
                       features=feats, keypoints2d=keypoints2d, source=source).validate()


def expert_outputs_from_smplx(smplx_pose: np.ndarray, expression: np.ndarray,
                              hand_mean: Mapping[str, np.ndarray] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The inverse conversion, for tests and for labelling with our own experts: SMPL-X (55, 3) absolute pose +
    expression (10,) -> what SPIN, FrankMocap and DECA would output for that person (SPIN ``pred_rotmat`` (24,3,3)
    with identity SMPL hand joints, zero betas and camera; FrankMocap per side (48,) with the SMPL-X wrist and
    mean-relative fingers; DECA ``pose`` (6,) with zero neck and ``exp`` (50,) zero beyond the first 10)."""
    pose = np.asarray(smplx_pose, np.float32).reshape(55, 3)
    smpl = np.zeros((24, 3), np.float32)
    smpl[:22] = pose[:22]
    out: dict[str, dict[str, np.ndarray]] = {
        "spin": {"pred_rotmat": aa_to_rotmat(smpl), "pred_betas": np.zeros(10, np.float32),
                 "pred_camera": np.array([1.0, 0.0, 0.0], np.float32)}, "frankmocap": {}}
    for side in SIDES:
        mean = np.zeros(45, np.float32) if hand_mean is None else np.asarray(hand_mean[side], np.float32)
        rel = pose[_HAND_ROWS[side]] - mean.reshape(15, 3)
        out["frankmocap"][side] = np.concatenate([pose[_WRIST_ROW[side]][None], rel]).reshape(48)
    exp = np.zeros(50, np.float32)
    exp[:10] = np.asarray(expression, np.float32).reshape(10)
    out["deca"] = {"pose": np.concatenate([np.zeros(3, np.float32), pose[22]]), "exp": exp}
    return out
