"""Known-answer tests for common.geometry.camera and common.geometry.transforms2d."""
import math

import numpy as np
import pytest
import torch

from common.geometry.camera import (
    crowdnet_cam_translation,
    crowdnet_depth_scale,
    crowdnet_virtual_camera,
    perspective_project,
)
from common.geometry.transforms2d import (
    apply_affine,
    bbox_center_scale,
    bbox_to_affine,
    invert_affine,
    process_bbox,
    warp_crop,
)


def test_perspective_project_known_answer():
    pts = torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [0.2, 0.4, 4.0]]])
    uv = perspective_project(pts, torch.tensor([[1000.0, 500.0]]), torch.tensor([[320.0, 240.0]]))
    expected = torch.tensor([[[320.0, 240.0], [820.0, 115.0], [370.0, 290.0]]])
    assert torch.allclose(uv, expected)
    uv2 = perspective_project(pts, (1000.0, 500.0), (320.0, 240.0))  # (2,) intrinsics broadcast
    assert torch.allclose(uv2, expected)
    with pytest.raises(ValueError, match="focal"):
        perspective_project(pts, torch.ones(3, 2), torch.ones(1, 2))


def test_crowdnet_camera():
    k = math.sqrt(5000 * 5000 * 2.5 * 2.5 / (256 * 256))
    assert crowdnet_depth_scale() == pytest.approx(k)  # 48.828125 m
    cam = torch.tensor([[0.1, -0.2, 0.0], [0.0, 0.0, 100.0]])
    t = crowdnet_cam_translation(cam)
    assert torch.allclose(t, torch.tensor([[0.1, -0.2, k / 2], [0.0, 0.0, k]]))
    focal, princpt = crowdnet_virtual_camera((256, 256))
    assert focal == (5000.0, 5000.0) and princpt == (128.0, 128.0)
    assert crowdnet_virtual_camera((256, 192))[1] == (96.0, 128.0)  # (H, W) in, (cx, cy) out
    # A 2.5 m box at depth k spans the 256 px crop.
    uv = perspective_project(torch.tensor([[[-1.25, 0.0, k], [1.25, 0.0, k]]]), focal, princpt)
    assert torch.allclose(uv[0, :, 0], torch.tensor([0.0, 256.0]))


def test_bbox_to_affine_maps_box_to_crop():
    center, scale = np.array([100.0, 50.0]), np.array([40.0, 80.0])
    m = bbox_to_affine(center, scale, 0.0, (64, 128))
    corners = np.array([[80.0, 10.0], [120.0, 90.0], [100.0, 50.0]])
    assert np.allclose(apply_affine(corners, m), [[0, 0], [64, 128], [32, 64]])
    m_inv = bbox_to_affine(center, scale, 0.0, (64, 128), inverse=True)
    assert np.allclose(m_inv, invert_affine(m))
    assert np.allclose(apply_affine(apply_affine(corners, m), m_inv), corners)


def test_bbox_to_affine_rotation_convention():
    # Window rotated by 90 deg: its x axis is the source +y axis, so a point below the centre maps right.
    m = bbox_to_affine((0.0, 0.0), (10.0, 10.0), 90.0, (10, 10))
    assert np.allclose(apply_affine(np.array([[0.0, 5.0]]), m), [[10.0, 5.0]])
    pts = torch.tensor([[0.0, 5.0]], dtype=torch.float64)
    assert torch.allclose(apply_affine(pts, m), torch.tensor([[10.0, 5.0]], dtype=torch.float64))


def test_process_bbox_aspect_and_enlarge():
    box = process_bbox([10, 20, 100, 50], out_size=(256, 256))
    assert np.allclose(box, [-2.5, -17.5, 125.0, 125.0])  # square, 1.25x, same centre (60, 45)
    box = process_bbox([0, 0, 30, 100], out_size=(192, 256))  # W/H = 0.75
    assert np.allclose(box[2:] / 1.25, [75.0, 100.0])
    assert np.allclose(bbox_center_scale(box)[0], [15.0, 50.0])
    assert process_bbox([-50, -50, 40, 40], img_size=(640, 480)) is None  # fully outside after clipping
    clipped = process_bbox([-10, 0, 30, 20], out_size=(256, 256), img_size=(640, 480), enlarge=1.0)
    assert np.allclose(clipped, [0.0, -0.0, 20.0, 20.0])


def test_warp_crop_pixel_convention():
    image = np.zeros((20, 20), np.float32)
    image[5, 7] = 1.0  # pixel (x=7, y=5), centre (7.5, 5.5)
    m = bbox_to_affine((7.5, 5.5), (4.0, 4.0), 0.0, (4, 4))  # 1:1 crop centred on that pixel centre
    crop = warp_crop(image, m, (4, 4))
    # The crop centre (2, 2) is the corner shared by pixels 1 and 2; the source pixel centre maps there,
    # so the value is spread equally over the 2x2 block around it.
    assert np.allclose(crop[1:3, 1:3], 0.25) and crop.sum() == pytest.approx(1.0)
    m = bbox_to_affine((8.0, 6.0), (4.0, 4.0), 0.0, (4, 4))
    crop = warp_crop(image, m, (4, 4))
    assert crop[1, 1] == pytest.approx(1.0) and crop.sum() == pytest.approx(1.0)


def test_weak_perspective_equals_a_far_pinhole_camera_at_the_root_depth():
    from common.geometry.camera import perspective_project, weak_perspective_project, weak_perspective_translation

    cam = torch.tensor([[0.9, 0.1, -0.2], [1.2, 0.0, 0.3]])
    flat = torch.randn(2, 6, 3) * 0.3
    flat[..., 2] = 0  # points at the root's depth: exact
    wp = weak_perspective_project(flat, cam, 256)
    assert torch.allclose(wp[0, :1], (0.9 * (flat[0, :1, :2] + cam[0, 1:]) + 1) * 128)
    pin = perspective_project(flat + weak_perspective_translation(cam, 5000.0, 256)[:, None],
                              torch.tensor([5000.0, 5000.0]), torch.tensor([128.0, 128.0]))
    assert torch.allclose(wp, pin, atol=1e-3)
