"""Known-answer and round-trip tests for common.geometry.rotations."""
import math

import pytest
import torch

from common.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rot6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
)


def _random_axis_angle(shape, max_angle=math.pi * 0.999, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(*shape, 3, generator=g, dtype=dtype), dim=-1)
    angle = torch.rand(*shape, 1, generator=g, dtype=dtype) * max_angle
    return axis * angle


def test_90_degrees_about_z():
    r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(r, expected, atol=1e-6)
    assert torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(matrix_to_axis_angle(expected), torch.tensor([0.0, 0.0, math.pi / 2]), atol=1e-6)


def test_identity_and_zero():
    zero = torch.zeros(4, 3, dtype=torch.float32)
    eye = torch.eye(3).expand(4, 3, 3)
    assert torch.equal(axis_angle_to_matrix(zero), eye)
    assert torch.equal(matrix_to_axis_angle(eye), zero)
    assert torch.allclose(matrix_to_quaternion(eye), torch.tensor([1.0, 0, 0, 0]).expand(4, 4))
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(eye)), eye)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_any_leading_dims(dtype):
    aa = _random_axis_angle((2, 5, 7), dtype=dtype)
    r = axis_angle_to_matrix(aa)
    assert r.shape == (2, 5, 7, 3, 3) and r.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    eye = torch.eye(3, dtype=dtype)
    assert torch.allclose(r @ r.transpose(-1, -2), eye.expand_as(r), atol=tol)
    assert torch.allclose(torch.linalg.det(r), torch.ones((), dtype=dtype), atol=tol)
    assert torch.allclose(matrix_to_axis_angle(r), aa, atol=tol * 10)
    assert torch.allclose(quaternion_to_matrix(axis_angle_to_quaternion(aa)), r, atol=tol)
    assert torch.allclose(quaternion_to_axis_angle(matrix_to_quaternion(r)), aa, atol=tol * 10)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=tol)
    assert torch.allclose(rot6d_to_axis_angle(matrix_to_rot6d(r)), aa, atol=tol * 10)


def test_near_pi_and_tiny_angles():
    axis = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, -0.5], [0.0, 0.0, 1.0]], dtype=torch.float64), dim=-1)
    for angle in (math.pi, math.pi - 1e-7, 1e-9, 1e-5):
        aa = axis * angle
        back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
        assert torch.isfinite(back).all()
        # Exactly pi has two valid answers (+-axis); both give the same matrix.
        assert torch.allclose(axis_angle_to_matrix(back), axis_angle_to_matrix(aa), atol=1e-9)
        assert torch.allclose(back.norm(dim=-1), torch.full((2,), angle, dtype=torch.float64), atol=1e-7)
    # Gradients stay finite at exactly zero.
    zero = torch.zeros(3, requires_grad=True)
    axis_angle_to_matrix(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()
    zero = torch.zeros(3, requires_grad=True)
    matrix_to_axis_angle(axis_angle_to_matrix(zero)).sum().backward()
    assert torch.allclose(zero.grad, torch.ones(3))  # the round trip is the identity map


def test_rot6d_gram_schmidt_convention():
    # (3, 2) row-major: first column (2, 0, 0) -> x axis, second column (1, 3, 0) -> y axis after G-S.
    x = torch.tensor([2.0, 1.0, 0.0, 3.0, 0.0, 0.0])
    assert torch.allclose(rot6d_to_matrix(x), torch.eye(3))
    # Column order matters: swapping the columns gives b1 = y, b2 = x, b3 = -z.
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    expected = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    assert torch.allclose(rot6d_to_matrix(y), expected)


def test_bad_shape_names_the_argument():
    with pytest.raises(ValueError, match="axis_angle"):
        axis_angle_to_matrix(torch.zeros(4, 2))
