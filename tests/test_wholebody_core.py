"""The whole-body core (common/wholebody/): layout, parameters, flip, and the layer against smplx itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.joint_sets import flip_permutation
from common.open_model.joint_maps import SMPLX_JOINT_NAMES
from common.wholebody.layout import (
    FACE,
    HEAD_IDS,
    LEFT_HAND,
    OPENPOSE137_FLIP,
    OPENPOSE137_NAMES,
    RIGHT_HAND,
    SMPLX_FLIP,
    SOURCES,
)
from common.wholebody.params import SMPLXParams, flip_params, mirror_axis_angle, mirror_rotmats

# smplx's extra joints after the 55 kinematic ones (use_feet_keypoints, hand tips), then the 51 landmarks
SMPLX_EXTRA_ORDER = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
                     "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex", "rmiddle",
                     "rring", "rpinky"]


@pytest.fixture(scope="module")
def smplx_model():
    from common.body_models import build_body_model
    from common.wholebody.layer import WholeBodyLayer

    body = build_body_model("smplx", source="open")
    return body, WholeBodyLayer.from_body_model(body)


def random_params(batch: int, seed: int = 0, expression: bool = True) -> tuple[torch.Tensor, SMPLXParams]:
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(batch, 55, 3, generator=g) * 0.3
    pose[:, 23:25] = 0  # eyes are not parameters
    betas = torch.randn(batch, 10, generator=g)
    expr = torch.randn(batch, 10, generator=g) if expression else torch.zeros(batch, 10)
    return pose, SMPLXParams.from_axis_angle(pose, betas, expr)


def test_layout_names_and_flips_are_consistent():
    assert len(OPENPOSE137_NAMES) == len(set(OPENPOSE137_NAMES)) == 137
    assert np.array_equal(OPENPOSE137_FLIP[OPENPOSE137_FLIP], np.arange(137))
    assert np.array_equal(flip_permutation("openpose137"), OPENPOSE137_FLIP)
    assert list(OPENPOSE137_FLIP[LEFT_HAND]) == list(range(RIGHT_HAND.start, RIGHT_HAND.stop))
    # the SMPL-X flip pairs agree with the joint names
    for i, j in enumerate(SMPLX_FLIP):
        name = SMPLX_JOINT_NAMES[i]
        want = name.replace("left_", "#").replace("right_", "left_").replace("#", "right_")
        assert SMPLX_JOINT_NAMES[j] == want
    # right-hand sources are the left-hand ones shifted by 15 joints
    for lsrc, rsrc in zip(SOURCES[LEFT_HAND], SOURCES[RIGHT_HAND]):
        assert lsrc[0] == rsrc[0]
        assert (rsrc[1] == lsrc[1] + 15) if lsrc[0] == "joint" and lsrc[1] >= 25 else True
    assert all(FACE.start <= i < FACE.stop or i < 25 for i in HEAD_IDS)


def test_flip_params_twice_is_identity_and_mirrors_axis_angle():
    pose, params = random_params(4)
    twice = flip_params(flip_params(params))
    assert torch.allclose(twice.rotmats(), params.rotmats(), atol=1e-6)
    from common.geometry.rotations import axis_angle_to_matrix

    aa = pose[:, 1]
    assert torch.allclose(axis_angle_to_matrix(mirror_axis_angle(aa)), mirror_rotmats(axis_angle_to_matrix(aa)),
                          atol=1e-6)
    round_trip = SMPLXParams.from_axis_angle(params.to_axis_angle(), params.betas, params.expression)
    assert torch.allclose(round_trip.rotmats(), params.rotmats(), atol=1e-5)


def test_layer_equals_smplx_with_the_files_hand_mean_removed(smplx_model):
    body, layer = smplx_model
    pose, params = random_params(3)
    out = layer(params, transl=torch.tensor([[0.1, -0.2, 3.0]]).expand(3, 3))
    b = pose.shape[0]
    ref = body.layer(global_orient=pose[:, 0], body_pose=pose[:, 1:22].reshape(b, 63), betas=params.betas,
                     jaw_pose=pose[:, 22], leye_pose=torch.zeros(b, 3), reye_pose=torch.zeros(b, 3),
                     left_hand_pose=pose[:, 25:40].reshape(b, 45) - layer.left_hand_mean_aa,
                     right_hand_pose=pose[:, 40:55].reshape(b, 45) - layer.right_hand_mean_aa,
                     expression=params.expression, transl=torch.tensor([[0.1, -0.2, 3.0]]).expand(3, 3))
    assert torch.allclose(out.vertices, ref.vertices, atol=1e-5)
    assert torch.allclose(out.joints, ref.joints[:, :55], atol=1e-5)
    for k, src in enumerate(SOURCES):  # every defined keypoint is the smplx joint / vertex / landmark it names
        if src is None:
            assert float(layer.keypoints_valid[k]) == 0.0
            continue
        kind, what = src
        j = what if kind == "joint" else (55 + SMPLX_EXTRA_ORDER.index(what) if kind == "vertex" else 76 + what)
        assert torch.allclose(out.keypoints[:, k], ref.joints[:, j], atol=1e-5), OPENPOSE137_NAMES[k]
    assert int(layer.keypoints_valid.sum()) == 137 - 17 - 2  # no face contour, no pupils


def test_flipped_params_give_the_mirrored_skeleton(smplx_model):
    _, layer = smplx_model
    _, params = random_params(2, seed=3, expression=False)
    out, flipped = layer(params), layer(flip_params(params))
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    rel = lambda o, x: x - o.joints[:, :1]  # noqa: E731  (pelvis-relative; the template is left/right symmetric)
    joints = (rel(out, out.joints) * mirror)[:, torch.as_tensor(SMPLX_FLIP.copy())]
    assert (rel(flipped, flipped.joints) - joints).norm(dim=-1).max() < 0.005  # m
    valid = layer.keypoints_valid > 0
    kp = (rel(out, out.keypoints) * mirror)[:, torch.as_tensor(OPENPOSE137_FLIP.copy())]
    assert (rel(flipped, flipped.keypoints) - kp)[:, valid].norm(dim=-1).max() < 0.01  # m (nose vertex: 7 mm)


def test_hand_mean_and_bad_model_kind(smplx_model):
    body, layer = smplx_model
    from common.geometry.rotations import matrix_to_axis_angle
    from common.wholebody.layer import WholeBodyLayer

    mean = layer.hands_mean_rotmats("left")
    assert mean.shape == (15, 3, 3)
    assert torch.allclose(matrix_to_axis_angle(mean).reshape(45), layer.left_hand_mean_aa, atol=1e-5)
    with pytest.raises(ValueError, match="side"):
        layer.hands_mean_rotmats("middle")
    with pytest.raises(ValueError, match="SMPL-X"):
        WholeBodyLayer.from_body_model(type("Fake", (), {"kind": "smpl"})())
