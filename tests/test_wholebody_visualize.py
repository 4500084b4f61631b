"""Whole-body pictures: the mesh drawn with the weak-perspective camera lands where its keypoints project."""
from __future__ import annotations

import numpy as np
import torch

from common.geometry.camera import weak_perspective_project
from common.render.wholebody_visualize import mesh_on_crop, wholebody_pictures


def test_mesh_lands_on_its_projected_keypoints():
    from common.body_models import build_body_model
    from common.wholebody.layer import WholeBodyLayer
    from common.wholebody.params import SMPLXParams

    layer = WholeBodyLayer.from_body_model(build_body_model("smplx", source="open"))
    pose = torch.zeros(1, 55, 3)
    pose[0, 0, 0] = np.pi  # upright in the camera frame (y down)
    out = layer(SMPLXParams.from_axis_angle(pose, torch.zeros(1, 10), torch.zeros(1, 10)))
    verts, kp = out.vertices - out.joints[:, :1], out.keypoints - out.joints[:, :1]
    cam, size = torch.tensor([[0.8, 0.2, -0.1]]), 96
    kp2d = weak_perspective_project(kp, cam, size)
    black = np.zeros((size, size, 3), np.uint8)
    mask = mesh_on_crop(black, verts[0], layer.faces, cam[0]).sum(-1) > 0
    ys, xs = np.nonzero(mask)
    body = kp2d[0, :25][layer.keypoints_valid[:25] > 0]
    assert abs(ys.min() - float(body[:, 1].min())) < 6 and abs(ys.max() - float(body[:, 1].max())) < 6
    assert abs(xs.mean() - float(body[:, 0].mean())) < 3
    batch = {"img": torch.zeros(1, 3, size, size), "img_hd": torch.zeros(1, 3, 2 * size, 2 * size),
             "keypoints2d": kp2d, "keypoints2d_valid": layer.keypoints_valid[None]}
    preds = {"vertices": verts, "camera": cam, "keypoints2d": kp2d, "head_box": torch.tensor([[80.0, 10, 110, 40]])}
    pics = wholebody_pictures(batch, preds, layer.faces)
    assert pics["keypoints"].shape == pics["mesh"].shape == (size, size, 3)
    assert pics["keypoints"][..., 1].max() == 255 and pics["keypoints"][..., 0].max() == 255  # GT green, pred red
