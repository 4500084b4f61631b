"""Batched rotation conversions (torch, any leading dims, float32/float64, CPU/CUDA).

Conventions:
- axis-angle: (..., 3) vector, direction = axis, norm = angle in radians (right-hand rule).
- rotation matrix: (..., 3, 3), acts on column vectors (x' = R @ x).
- quaternion: (..., 4) as (w, x, y, z), unit norm; q and -q are the same rotation.
- rot6d: (..., 6) read row-major as a 3x2 matrix whose two columns are the first two columns of R
  (Zhou et al. 2019, as used by 3DCrowdNet / VPoser): b1 = normalise(a1), b2 = normalise(a2 - <b1,a2> b1),
  b3 = b1 x b2, R = [b1 b2 b3].
All functions are numerically safe at angle 0 and near pi (no division by sin(angle)).
"""
from __future__ import annotations

import torch
from torch import Tensor

_SMALL_ANGLE = 1e-4  # below this (radians) the series expansions are exact to float64 precision


def _check_last_dims(x: Tensor, shape: tuple[int, ...], name: str) -> None:
    if not torch.is_tensor(x) or tuple(x.shape[-len(shape):]) != shape:
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"common/geometry/rotations.py: {name} must have trailing shape {shape}, got {got}")


def skew_matrix(v: Tensor) -> Tensor:
    """Cross-product matrix [v]_x (..., 3, 3) such that [v]_x @ w = v x w for v (..., 3)."""
    _check_last_dims(v, (3,), "v")
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues: (..., 3) axis-angle -> (..., 3, 3) rotation matrix.

    R = I + A(t) K + B(t) K^2 with K = [v]_x of the *unnormalised* vector, A = sin(t)/t, B = (1-cos t)/t^2,
    so no axis normalisation (and no 0/0) is needed; small angles use the Taylor series of A and B.
    """
    _check_last_dims(axis_angle, (3,), "axis_angle")
    theta2 = (axis_angle * axis_angle).sum(-1)
    small = theta2 < _SMALL_ANGLE**2
    # sqrt only of safe values: its gradient at 0 is infinite and would leak NaN through torch.where.
    safe_theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    coef_a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(safe_theta) / safe_theta)
    half_sin = torch.sin(safe_theta / 2)  # 1 - cos t = 2 sin^2(t/2): no cancellation for small t in float32
    coef_b = torch.where(small, 0.5 - theta2 / 24.0, 2.0 * half_sin * half_sin / (safe_theta * safe_theta))
    k = skew_matrix(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + coef_a[..., None, None] * k + coef_b[..., None, None] * (k @ k)


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternion (w, x, y, z) with w >= 0 for angles <= pi."""
    _check_last_dims(axis_angle, (3,), "axis_angle")
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < _SMALL_ANGLE**2
    safe_theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    # sin(t/2)/t -> 1/2 - t^2/48 and cos(t/2) -> 1 - t^2/8 as t -> 0
    scale = torch.where(small, 0.5 - theta2 / 48.0, torch.sin(safe_theta / 2) / safe_theta)
    w = torch.where(small, 1.0 - theta2 / 8.0, torch.cos(safe_theta / 2))
    return torch.cat([w, axis_angle * scale], dim=-1)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3) rotation matrix."""
    _check_last_dims(quaternion, (4,), "quaternion")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(quaternion.dtype).tiny)
    w, x, y, z = q.unbind(-1)
    m = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(m, dim=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 4) unit quaternion (w, x, y, z) with w >= 0.

    Shepperd's method: build the four candidate quaternions (each divides by one of 4w^2, 4x^2, 4y^2, 4z^2)
    and keep, per element, the one with the largest denominator, which is always >= 1 for a rotation.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    # 4*q_i^2 for i = w, x, y, z
    sq = torch.stack([1 + trace, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    r21, r12 = m[..., 2, 1], m[..., 1, 2]
    r02, r20 = m[..., 0, 2], m[..., 2, 0]
    r10, r01 = m[..., 1, 0], m[..., 0, 1]
    # candidate i is (4 q_i q_w, 4 q_i q_x, 4 q_i q_y, 4 q_i q_z), i.e. 4 q_i * q
    cand = torch.stack([
        torch.stack([sq[..., 0], r21 - r12, r02 - r20, r10 - r01], dim=-1),
        torch.stack([r21 - r12, sq[..., 1], r10 + r01, r02 + r20], dim=-1),
        torch.stack([r02 - r20, r10 + r01, sq[..., 2], r21 + r12], dim=-1),
        torch.stack([r10 - r01, r02 + r20, r21 + r12, sq[..., 3]], dim=-1),
    ], dim=-2)  # (..., 4 candidates, 4)
    best = sq.argmax(dim=-1)
    q = torch.gather(cand, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternion (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    _check_last_dims(quaternion, (4,), "quaternion")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(quaternion.dtype).tiny)
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz, w = q[..., 1:], q[..., :1]
    sin2 = (xyz * xyz).sum(-1, keepdim=True)
    small = sin2 < _SMALL_ANGLE**2
    safe_sin = torch.where(small, torch.ones_like(sin2), sin2).sqrt()
    angle = 2 * torch.atan2(safe_sin, w)  # robust at 0 and pi, unlike acos/asin
    # angle / sin(angle/2) = 2 asin(s) / s -> 2 (1 + s^2 / 6) as s = sin(angle/2) -> 0 (q is unit)
    scale = torch.where(small, 2.0 * (1.0 + sin2 / 6.0), angle / safe_sin)
    return xyz * scale


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle, angle in [0, pi] (via the quaternion)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rot6d_to_matrix(rot6d: Tensor) -> Tensor:
    """(..., 6) continuous 6D representation -> (..., 3, 3) rotation matrix (Gram-Schmidt, see module doc)."""
    _check_last_dims(rot6d, (6,), "rot6d")
    a = rot6d.reshape(rot6d.shape[:-1] + (3, 2))
    a1, a2 = a[..., 0], a[..., 1]
    eps = torch.finfo(rot6d.dtype).eps
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(eps)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True).clamp_min(eps)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 6): its first two columns, flattened row-major as (3, 2)."""
    _check_last_dims(matrix, (3, 3), "matrix")
    return matrix[..., :, :2].reshape(matrix.shape[:-2] + (6,))


def rot6d_to_axis_angle(rot6d: Tensor) -> Tensor:
    """(..., 6) 6D rotation -> (..., 3) axis-angle (the VPoser / 3DCrowdNet decoding path)."""
    return matrix_to_axis_angle(rot6d_to_matrix(rot6d))
