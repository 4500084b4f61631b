"""Whole-body model pieces on the open SMPL-X: parameter vectors, mean init, part starts, crops, the merge."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import UserError
from common.geometry.rotations import axis_angle_to_matrix
from common.models.wholebody import parts
from common.models.wholebody.crops import apply_affines, box_affines, invert_affines, sample_crops
from common.models.wholebody.kinematics import SMPLX_PARENTS_23, global_rotations
from common.models.wholebody.mean_init import load_wholebody_mean_params, write_wholebody_mean_params
from common.models.wholebody.param_vector import (
    BODY_LAYOUT,
    body_vector_to_params,
    inverse_softplus,
    params_to_body_vector,
    units_to_px,
    weak_perspective,
)
from common.wholebody.layout import HEAD_IDS, LEFT_HAND, RIGHT_HAND
from common.wholebody.params import SMPLXParams, mirror_rotmats
from wholebody_model_fixtures import H, S, make_batch, open_layer, tiny_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tiny_model().eval()


def test_parents_match_the_body_model():
    from common.body_models import build_body_model

    parents = build_body_model("smplx", source="open").layer.parents[:23].tolist()
    assert tuple(parents) == SMPLX_PARENTS_23


def test_vector_roundtrip_and_mean(model):
    assert BODY_LAYOUT.size == 341
    gen = torch.Generator().manual_seed(1)
    params = SMPLXParams.from_axis_angle(torch.randn(3, 55, 3, generator=gen), torch.randn(3, 10, generator=gen),
                                         torch.randn(3, 10, generator=gen))
    camera = torch.tensor([[0.5, 0.1, -0.2]]).expand(3, 3)
    back, cam = body_vector_to_params(params_to_body_vector(params, camera))
    torch.testing.assert_close(back.rotmats(), params.rotmats(), atol=1e-5, rtol=0)
    torch.testing.assert_close(cam, camera)
    mean = model.body_net.mean
    torch.testing.assert_close(mean[BODY_LAYOUT.slices()["camera"]], torch.stack([inverse_softplus(0.9),
                                                                                 torch.tensor(0.0),
                                                                                 torch.tensor(0.0)]))
    p, cam = body_vector_to_params(mean[None])
    torch.testing.assert_close(cam, torch.tensor([[0.9, 0.0, 0.0]]))
    torch.testing.assert_close(p.global_orient[0], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    torch.testing.assert_close(p.left_hand_pose[0], open_layer().hands_mean_rotmats("left").float(), atol=1e-5,
                               rtol=0)
    assert p.betas.abs().sum() == 0 and p.expression.abs().sum() == 0


def test_mean_person_is_upright_and_faces_the_camera(model):
    params, _ = body_vector_to_params(model.body_net.mean[None])
    with torch.no_grad():
        out = model.layer(params)
    joints = out.joints[0]
    assert joints[15, 1] < joints[0, 1] - 0.3  # head above the pelvis: y points down
    assert out.keypoints[0, 0, 2] < joints[15, 2]  # the nose (OpenPose 0) is nearer the camera than the head joint


def test_mean_params_file(tmp_path):
    pose = np.zeros((55, 3))
    pose[0] = (np.pi, 0, 0)
    pose[30] = (0.3, 0.0, 0.1)
    write_wholebody_mean_params(str(tmp_path / "m.npz"), pose, expression=np.arange(10))
    p = load_wholebody_mean_params(str(tmp_path / "m.npz"))
    torch.testing.assert_close(p.left_hand_pose[0, 5], axis_angle_to_matrix(torch.tensor([0.3, 0.0, 0.1])))
    torch.testing.assert_close(p.expression[0], torch.arange(10.0))
    np.savez(tmp_path / "bad.npz", pose=np.zeros(12))
    with pytest.raises(UserError, match=r"bad\.npz.*'pose'"):
        load_wholebody_mean_params(str(tmp_path / "bad.npz"))
    with pytest.raises(UserError, match="missing.npz"):
        load_wholebody_mean_params(str(tmp_path / "missing.npz"))


def test_part_starts_reproduce_the_body_projection(model):
    """Part cameras initialised from the body camera project the part keypoints exactly where the body does."""
    batch = make_batch(model, seed=3)
    params, camera = body_vector_to_params(model.body_net.mean[None].expand(2, -1))
    camera = camera + torch.tensor([[0.1, 0.05, -0.02]])
    out = model.layer(params)
    rotations = global_rotations(params)
    boxes = model._boxes(weak_perspective(out.keypoints, camera))
    kp_hd = units_to_px(weak_perspective(out.keypoints, camera), H)
    for side, idx, wrist in (("left", LEFT_HAND, 20), ("right", RIGHT_HAND, 21)):
        init = parts.hand_init(params, out.joints, rotations, camera, boxes[f"{side}_hand"], H, side)
        aff = box_affines(boxes[f"{side}_hand"], 32, mirror=side == "left")
        got = parts.part_keypoints_in_crop(out.keypoints[:, idx], out.joints[:, wrist], init["camera"], 32,
                                           mirror=side == "left")
        torch.testing.assert_close(got, apply_affines(kp_hd[:, idx], invert_affines(aff)), atol=1e-3, rtol=0)
        back = parts.unmirror_hand(init) if side == "left" else init
        torch.testing.assert_close(back["wrist"], rotations[wrist])
    init = parts.head_init(params, out.joints, rotations, camera, boxes["head"], H)
    aff = box_affines(boxes["head"], 32)
    got = parts.part_keypoints_in_crop(out.keypoints[:, list(HEAD_IDS)], out.joints[:, 15], init["camera"], 32)
    torch.testing.assert_close(got, apply_affines(kp_hd[:, list(HEAD_IDS)], invert_affines(aff)), atol=1e-3, rtol=0)
    assert batch["img"].shape[-1] == S


def test_left_hand_mirroring_twice_is_identity(model):
    gen = torch.Generator().manual_seed(2)
    rot = axis_angle_to_matrix(torch.randn(4, 15, 3, generator=gen))
    torch.testing.assert_close(mirror_rotmats(mirror_rotmats(rot)), rot)
    img = torch.rand(2, 3, 8, 8, generator=gen)
    torch.testing.assert_close(img.flip(-1).flip(-1), img)
    out = {"wrist": rot[:, 0], "hand_pose": rot, "camera": torch.ones(4, 3)}
    twice = parts.unmirror_hand(parts.unmirror_hand(out))
    torch.testing.assert_close(twice["hand_pose"], rot)
    # the network sees the left crop flipped: the left crop is the mirror of a plain crop of the same box
    model.keep_crops = True
    try:
        batch = make_batch(model, seed=4)
        with torch.no_grad():
            preds = model(batch)
    finally:
        model.keep_crops = False
    plain = sample_crops(batch["img_hd"], box_affines(preds["left_hand_box"], 32), 32)
    torch.testing.assert_close(preds["left_hand_crop"], plain.flip(-1))


def test_hand_and_head_networks_alone(model):
    """The FreiHAND / NoW paths: a part network on crops alone, from its mean start or a given one."""
    imgs = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        hand = model.hand_forward(imgs)
        head = model.head_forward(imgs)
        again = model.hand_forward(imgs, init={k: hand[k] for k in ("wrist", "hand_pose", "betas", "camera")})
    shapes = {"wrist": (3, 3, 3), "hand_pose": (3, 15, 3, 3), "betas": (3, 10), "camera": (3, 3), "feature": (3, 512)}
    assert {k: tuple(hand[k].shape) for k in shapes} == shapes
    shapes = {"head_pose": (3, 3, 3), "jaw_pose": (3, 3, 3), "expression": (3, 10), "camera": (3, 3)}
    assert {k: tuple(head[k].shape) for k in shapes} == shapes and "betas" not in head
    assert len(hand["stages"]) == 3 and not torch.allclose(again["camera"], hand["camera"])
    assert float(hand["camera"][:, 0].min()) > 0  # softplus scale


def test_ief_keeps_float32_parameters_under_autocast():
    from common.models.wholebody.ief import IEFRegressor

    ief = IEFRegressor(8, 5, hidden=16, stages=3, dropout=0.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stages = ief(torch.rand(2, 8), torch.ones(5))
    assert len(stages) == 3 and all(s.dtype == torch.float32 for s in stages)
    torch.testing.assert_close(stages[0], torch.ones(2, 5), atol=0.05, rtol=0)  # near-zero last layer: starts at init
