"""Test helpers for the whole-body model: the open SMPL-X layer, a tiny model and a consistent batch.

The batch is generated from GT SMPL-X parameters (the mean pose plus small random turns) through the layer and
the model's weak-perspective camera, with the keys the whole-body mapper produces; images are smooth noise.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.models.wholebody.param_vector import body_vector_to_params, units_to_px, weak_perspective

S, H, CROP = 64, 128, 32


@functools.lru_cache(maxsize=1)
def open_layer():
    """WholeBodyLayer of the open SMPL-X (built once per test process; share it read-only)."""
    from common.body_models import build_body_model
    from common.wholebody.layer import WholeBodyLayer

    return WholeBodyLayer.from_body_model(build_body_model("smplx", source="open"))


def tiny_model(**kw):
    """ResNet-18 body at S = 64, HD 128, 32 px part crops, narrow IEF (fast on one CPU thread)."""
    from common.models.wholebody import WholeBodyModel

    args = dict(input_size=S, hd_size=H, backbone="resnet18", hand_crop_size=CROP, head_crop_size=CROP,
                ief_hidden=128)
    args.update(kw)
    return WholeBodyModel(open_layer(), **args)


def _turn(rotmats: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    noise = torch.randn(rotmats.shape[:-2] + (3,), generator=gen) * sigma
    return rotmats @ axis_angle_to_matrix(noise)


def make_batch(model, batch: int = 2, seed: int = 0, sigma: float = 0.3) -> dict:
    """A batch with every key of the whole-body mapper, GT consistent with the model's layer and camera."""
    gen = torch.Generator().manual_seed(seed)
    mean, _ = body_vector_to_params(model.body_net.mean[None].expand(batch, -1))
    gt = mean.replace(body_pose=_turn(mean.body_pose, sigma, gen),
                      left_hand_pose=_turn(mean.left_hand_pose, sigma, gen),
                      right_hand_pose=_turn(mean.right_hand_pose, sigma, gen), jaw_pose=_turn(mean.jaw_pose, 0.2, gen),
                      global_orient=_turn(mean.global_orient, 0.2, gen),
                      betas=torch.randn(batch, 10, generator=gen), expression=torch.randn(batch, 10, generator=gen))
    with torch.no_grad():
        out = model.layer(gt)
    camera = torch.tensor([0.9, 0.0, -0.1]).expand(batch, 3)
    kp2d = units_to_px(weak_perspective(out.keypoints, camera), S)
    img = F.interpolate(torch.rand(batch, 3, 8, 8, generator=gen), size=(S, S), mode="bilinear")
    kp_valid = model.layer.keypoints_valid.expand(batch, 137).clone()
    ones = torch.ones(batch)
    return {"img": img, "img_hd": F.interpolate(img, size=(H, H), mode="bilinear"),
            "keypoints2d": kp2d, "keypoints2d_valid": kp_valid,
            "keypoints3d": out.keypoints - out.joints[:, :1], "keypoints3d_valid": kp_valid.clone(),
            "smplx_pose": matrix_to_axis_angle(gt.rotmats()).reshape(batch, 55, 3), "smplx_betas": gt.betas,
            "smplx_expression": gt.expression, "smplx_valid": ones, "left_hand_valid": ones.clone(),
            "right_hand_valid": ones.clone(), "face_valid": ones.clone(), "index": torch.arange(batch),
            "bbox": torch.tensor([0.0, 0.0, 100.0, 100.0]).expand(batch, 4),
            "focal": torch.full((batch, 2), 500.0), "princpt": torch.full((batch, 2), 50.0),
            "crop_to_img": torch.tensor([[100 / S, 0.0, 0.0], [0.0, 100 / S, 0.0]]).expand(batch, 2, 3)}
