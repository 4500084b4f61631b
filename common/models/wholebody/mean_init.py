"""Mean parameters the body regressor starts from (HMR / ExPose mean-parameter initialisation).

Default (``wholebody.mean_params`` = ''): the rest pose of an upright person facing the camera (root = a
half-turn about x, as the SMPL regressor's mean file, tool/make_mean_params.py), body joints and jaw at identity,
hands at the layer's ``hands_mean_rotmats`` (the file's mean hand pose, absolute), zero betas and expression,
camera (s = wholebody.camera_scale_mean, t = 0).

Optional file (``wholebody.mean_params``, .npz): ``pose`` (55, 3) or (165,) axis-angle in the SMPL-X core's
convention (absolute fingers; eyes ignored), optional ``betas`` (10,) and ``expression`` (10,) (default 0).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from common.errors import UserError
from common.models.mean_params import resolve_asset_path
from common.models.wholebody.param_vector import UPRIGHT_FACING_CAMERA, params_to_body_vector
from common.wholebody.params import SMPLXParams


class WholeBodyMeanParamsError(UserError, ValueError):
    """A whole-body mean-parameter file is missing or malformed."""


def rest_params(layer) -> SMPLXParams:
    """Batch-1 SMPLXParams of the default mean (see the module docstring); ``layer``: WholeBodyLayer."""
    eye = torch.eye(3)
    return SMPLXParams(global_orient=UPRIGHT_FACING_CAMERA[None].clone(), body_pose=eye.repeat(1, 21, 1, 1),
                       left_hand_pose=layer.hands_mean_rotmats("left").detach().float().cpu()[None],
                       right_hand_pose=layer.hands_mean_rotmats("right").detach().float().cpu()[None],
                       jaw_pose=eye[None].clone(), betas=torch.zeros(1, 10), expression=torch.zeros(1, 10))


def load_wholebody_mean_params(path: str) -> SMPLXParams:
    """Read a mean-parameter .npz (module docstring); one-line errors name the file and the field."""
    file = resolve_asset_path(path)
    try:
        data = np.load(file)
    except (OSError, ValueError) as err:
        raise WholeBodyMeanParamsError(f"{file}: cannot read mean parameters (wholebody.mean_params): {err}") from None
    if "pose" not in data.files:
        raise WholeBodyMeanParamsError(f"{file}: no 'pose' array (wholebody.mean_params: pose (55, 3) axis-angle)")
    arrays = {}
    for key, size in (("pose", 165), ("betas", 10), ("expression", 10)):
        if key not in data.files:
            arrays[key] = np.zeros(size, np.float32)
            continue
        value = np.asarray(data[key], dtype=np.float64)
        if value.size != size or not np.isfinite(value).all():
            raise WholeBodyMeanParamsError(f"{file}: '{key}' must hold {size} finite numbers, got shape "
                                           f"{value.shape} (wholebody.mean_params)")
        arrays[key] = value.reshape(size).astype(np.float32)
    return SMPLXParams.from_axis_angle(torch.from_numpy(arrays["pose"]).reshape(1, 55, 3),
                                       torch.from_numpy(arrays["betas"])[None],
                                       torch.from_numpy(arrays["expression"])[None])


def write_wholebody_mean_params(path: str, pose: np.ndarray, betas: np.ndarray | None = None,
                                expression: np.ndarray | None = None) -> None:
    """Write (55, 3) axis-angle pose (+ betas, expression, default 0) in the layout above."""
    np.savez(path, pose=np.asarray(pose, np.float32).reshape(55, 3),
             betas=np.zeros(10, np.float32) if betas is None else np.asarray(betas, np.float32).reshape(10),
             expression=np.zeros(10, np.float32) if expression is None else np.asarray(expression,
                                                                                       np.float32).reshape(10))


def mean_body_vector(layer, camera_scale_mean: float = 0.9, mean_params: str = "") -> Tensor:
    """(341,) float32 start of the body regressor: the file's parameters or the rest pose, camera (s, 0, 0)."""
    params = load_wholebody_mean_params(mean_params) if mean_params else rest_params(layer)
    camera = torch.tensor([[float(camera_scale_mean), 0.0, 0.0]])
    return params_to_body_vector(params, camera)[0].float()
