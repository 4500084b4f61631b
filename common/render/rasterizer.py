"""Pure-PyTorch z-buffer triangle rasterizer with perspective projection (CPU and CUDA, no OpenGL).

Conventions: camera frame x right, y down, z forward (metres); pixel (x, y) covers [x, x+1) x [y, y+1) and is
sampled at its centre (x + 0.5, y + 0.5), so a vertex projected by ``common.geometry.camera.perspective_project``
to (u, v) lies in pixel (floor(u), floor(v)). A pixel is covered when its centre is inside a triangle or on its
edge (inclusive, with a 1e-6 barycentric tolerance: no cracks between neighbours). The nearest face wins.

Algorithm (not differentiable): project vertices, drop faces with a vertex at z <= ``near`` (no clipping),
off-screen faces, degenerate faces and (optionally) back faces; each remaining face's pixel bbox is
enumerated in vectorised groups of similar size (most faces of a body mesh cover 0-4 pixels), barycentrics come
from edge functions in the face's local pixel frame (accurate in float32), and the z-buffer is one
``scatter_reduce(amin)`` over int64 keys (float32 depth bits << 32 | face index), so depth and face id are
resolved together. Depth and barycentrics are perspective-correct, computed in float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor

from common.geometry.camera import as_batched_pair

_WHERE = "common/render/rasterizer.py"
_EMPTY_KEY = torch.iinfo(torch.int64).max
_LOW32 = 0xFFFFFFFF
_INSIDE_EPS = 1e-6
_MAX_CANDIDATES = 1 << 21  # per vectorised chunk: bounds temporary memory to ~100 MB for huge faces


@dataclass
class Fragments:
    """Per-pixel rasterization result for a batch of B images of size H x W."""

    depth: Tensor  # (B, H, W) float32, camera-space z of the nearest surface, +inf where empty
    face_ids: Tensor  # (B, H, W) long, index into the given faces, -1 where empty
    bary: Tensor  # (B, H, W, 3) float32 perspective-correct barycentrics of the pixel centre, 0 where empty
    mask: Tensor  # (B, H, W) bool silhouette


@dataclass
class _FaceSetup:
    """Faces that can cover a pixel centre (K of them), channel-first so that per-face math is on (K,) rows."""

    face_index: Tensor  # (K,) long, index into the flattened (B * F) faces
    # (15, K) float32 rows: d(bary_i)/dx (3), d(bary_i)/dy (3), screen-space barycentrics at the centre of the
    # bbox's first pixel (3), 1 / z_i (3), and the screen-space plane of 1 / z: d/dx, d/dy, value (3).
    coef: Tensor
    # (5, K) long rows: x0, y0 (first pixel of the bbox), width, height (>= 1), flat index of (x0, y0) in (B, H, W)
    box: Tensor
    groups: list[tuple[int, int, int, int]]  # (start, stop, kw, kh): faces start:stop fit a kw x kh window


def _as_camera(x: Tensor | Sequence[float], batch: int, like: Tensor, name: str) -> Tensor:
    """Intrinsics (2,) or (B, 2) -> (B, 2) float32 (the rasterizer works in float32)."""
    return as_batched_pair(x, batch, like, name, dtype=torch.float32, where=_WHERE)


def _check_mesh(vertices: Tensor, faces: Tensor, image_size: Sequence[int]) -> None:
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"{_WHERE}: vertices must be (B, V, 3), got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[-1] != 3 or faces.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"{_WHERE}: faces must be an integer (F, 3) tensor, got {tuple(faces.shape)} {faces.dtype}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[1]):
        raise ValueError(f"{_WHERE}: faces index vertices outside [0, {vertices.shape[1]})")
    if len(image_size) != 2 or min(image_size) <= 0:
        raise ValueError(f"{_WHERE}: image_size must be (H, W) > 0, got {image_size}")


def _setup_faces(vertices: Tensor, faces: Tensor, focal: Tensor, princpt: Tensor, height: int, width: int,
                 cull_backfaces: bool, near: float) -> _FaceSetup:
    batch, n_verts = vertices.shape[:2]
    n_faces = faces.shape[0]
    verts = vertices.float()
    z = verts[..., 2]
    safe_z = z.clamp_min(near)  # faces touching z <= near are dropped below
    u = verts[..., 0] / safe_z * focal[:, :1] + princpt[:, :1]  # (B, V)
    v = verts[..., 1] / safe_z * focal[:, 1:] + princpt[:, 1:]
    # Channel-first gather: tri[c, i] is channel c (u, v, z) of corner i for all B * F faces, contiguous.
    screen = torch.stack([u, v, z]).reshape(3, batch * n_verts)
    corner_index = faces.T[:, None] + torch.arange(batch, device=faces.device)[:, None] * n_verts  # (3, B, F)
    tri = screen.index_select(1, corner_index.reshape(-1)).view(3, 3, batch * n_faces)
    (u0, u1, u2), (v0, v1, v2), (z0, z1, z2) = tri
    # First/last pixel whose centre can be inside: ceil(min - 0.5) .. floor(max - 0.5), clipped to the image.
    x0 = torch.ceil(torch.minimum(torch.minimum(u0, u1), u2) - 0.5).clamp_(0, width)
    x1 = torch.floor(torch.maximum(torch.maximum(u0, u1), u2) - 0.5).clamp_(-1, width - 1)
    y0 = torch.ceil(torch.minimum(torch.minimum(v0, v1), v2) - 0.5).clamp_(0, height)
    y1 = torch.floor(torch.maximum(torch.maximum(v0, v1), v2) - 0.5).clamp_(-1, height - 1)
    keep = (x0 <= x1) & (y0 <= y1) & (torch.minimum(torch.minimum(z0, z1), z2) > near)
    if cull_backfaces:
        corners = verts.reshape(-1, 3).index_select(0, corner_index.reshape(-1)).view(3, -1, 3)
        normal = torch.cross(corners[1] - corners[0], corners[2] - corners[0], dim=-1)
        keep &= (normal * corners[0]).sum(-1) < 0  # front face: normal points towards the camera
    idx = keep.nonzero().squeeze(1)
    width_px = (x1 - x0).index_select(0, idx).long() + 1
    height_px = (y1 - y0).index_select(0, idx).long() + 1
    size_order, groups = _size_order(width_px, height_px)
    # Faces of one size class become contiguous, so the groups are slices (no per-group gathers).
    idx, width_px, height_px = idx[size_order], width_px[size_order], height_px[size_order]
    packed = tri.reshape(9, -1).index_select(1, idx)  # (9, K)
    fu, fv, fz = packed[0:3], packed[3:6], packed[6:9]
    bx0, by0 = x0.index_select(0, idx), y0.index_select(0, idx)
    # Edge opposite corner i runs a -> b; bary_i(p) = ((b - a) x (p - a)) / area2, evaluated relative to the
    # first bbox pixel's centre so the constant term stays O(1) and float32 keeps its precision.
    ax, ay, bx, by = fu.roll(-1, 0), fv.roll(-1, 0), fu.roll(-2, 0), fv.roll(-2, 0)  # corners (1,2,0), (2,0,1)
    ex, ey = bx - ax, by - ay
    area2 = ex[0] * (fv[0] - ay[0]) - ey[0] * (fu[0] - ax[0])  # edge function of corner 0 at corner 0
    inv_area = 1.0 / area2
    grad_x, grad_y = -ey * inv_area, ex * inv_area
    at_origin = (ex * (by0 + 0.5 - ay) - ey * (bx0 + 0.5 - ax)) * inv_area
    inv_z = 1.0 / fz
    plane = torch.stack([(grad_x * inv_z).sum(0), (grad_y * inv_z).sum(0), (at_origin * inv_z).sum(0)])
    coef = torch.cat([grad_x, grad_y, at_origin, inv_z, plane])
    first_pixel = (torch.div(idx, n_faces, rounding_mode="floor") * (height * width)
                   + by0.long() * width + bx0.long())
    box = torch.stack([bx0.long(), by0.long(), width_px, height_px, first_pixel])
    # Zero-area faces get non-finite coefficients and therefore never pass the inside test.
    return _FaceSetup(face_index=idx, coef=coef, box=box, groups=groups)


def _size_order(width: Tensor, height: Tensor) -> tuple[Tensor, list[tuple[int, int, int, int]]]:
    """Order faces by bbox size class and return groups as (start, stop, kw, kh) slices of that order.

    A face of bbox w x h goes into the class of windows kw x kh = next powers of two >= (w, h), so the dense
    window wastes < 4x candidates; huge classes are split so one slice has at most _MAX_CANDIDATES.
    """
    # ceil(log2(n)) = float exponent of (n - 1) + 1 for n >= 2, 0 for n = 1 (exponent bits: fast, exact);
    # < 16 for images below 32k px.
    exponent = (torch.stack([width, height]).sub(1).float().view(torch.int32) >> 23) - 126
    log2 = exponent.clamp_min_(0)
    code = (log2[0] * 16 + log2[1]).to(torch.uint8)
    order = torch.argsort(code, stable=True)
    counts = torch.bincount(code.long(), minlength=256).tolist()
    groups, start = [], 0
    for c, count in enumerate(counts):
        if count == 0:
            continue
        kw, kh = 1 << (c // 16), 1 << (c % 16)
        step = max(1, _MAX_CANDIDATES // (kw * kh))
        groups.extend((s, min(s + step, start + count), kw, kh) for s in range(start, start + count, step))
        start += count
    return order, groups


def _candidates(setup: _FaceSetup, width: int, n_pixels: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Per size group: candidate (pixel, key) pairs, key = depth bits << 32 | compact face index (or
    _EMPTY_KEY where the pixel centre is outside), both flat long tensors."""
    dev = setup.coef.device
    for start, stop, kw, kh in setup.groups:
        # Dense kw x kh window per face: cheaper than compacting, the z-buffer ignores _EMPTY_KEY entries.
        dy, dx = torch.meshgrid(torch.arange(kh, device=dev), torch.arange(kw, device=dev), indexing="ij")
        dx, dy = dx.reshape(1, -1), dy.reshape(1, -1)  # (1, n) pixel offsets inside the window
        fdx, fdy = dx.float(), dy.float()
        coef = setup.coef[:, start:stop, None]  # (15, G, 1): broadcasts over the n offsets
        box = setup.box[:, start:stop, None]  # (5, G, 1)
        # (3, G, n) screen-space barycentrics; channel-first keeps the reductions below elementwise.
        bary = torch.addcmul(torch.addcmul(coef[6:9], fdx, coef[0:3]), fdy, coef[3:6])
        inside = torch.minimum(torch.minimum(bary[0], bary[1]), bary[2]) >= -_INSIDE_EPS
        if kw > 1:
            inside &= dx < box[2]
        if kh > 1:
            inside &= dy < box[3]
        inv_depth = torch.addcmul(torch.addcmul(coef[14], fdx, coef[12]), fdy, coef[13])  # (G, n)
        depth_bits = torch.reciprocal(inv_depth).view(torch.int32).long()
        face = torch.arange(start, stop, device=dev)[:, None]
        keys = torch.where(inside, (depth_bits << 32) | face, _EMPTY_KEY).reshape(-1)
        # Window pixels outside the bbox may run past the buffer's end: clamp (their key is empty anyway).
        pixels = (box[4] + dy * width + dx).clamp_max_(n_pixels - 1).reshape(-1)
        yield pixels, keys


def _empty_zbuffer(n_pixels: int, device: torch.device) -> Tensor:
    return torch.full((n_pixels,), _EMPTY_KEY, dtype=torch.long, device=device)


def _resolve(zbuf: Tensor, pixels: Tensor, keys: Tensor) -> None:
    """Z-test in place: zbuf[p] = min(zbuf[p], key) -- nearest depth first, then lowest face index."""
    zbuf.scatter_reduce_(0, pixels, keys, reduce="amin", include_self=True)


def _fragments(zbuf: Tensor, setup: _FaceSetup, batch: int, height: int, width: int, n_faces: int) -> Fragments:
    """Decode a resolved z-buffer (batch * H * W,) of keys into Fragments."""
    dev = zbuf.device
    n_pix = batch * height * width
    depth = torch.full((n_pix,), float("inf"), device=dev)
    face_ids = torch.full((n_pix,), -1, dtype=torch.long, device=dev)
    bary = torch.zeros((n_pix, 3), device=dev)
    pix = (zbuf != _EMPTY_KEY).nonzero().squeeze(1)
    keys = zbuf.index_select(0, pix)
    face = keys & _LOW32
    coef = setup.coef.index_select(1, face)  # (15, N)
    box = setup.box.index_select(1, face)
    local = pix % (height * width)
    dx = (local % width - box[0]).float()
    dy = (torch.div(local, width, rounding_mode="floor") - box[1]).float()
    screen = torch.addcmul(torch.addcmul(coef[6:9], dx, coef[0:3]), dy, coef[3:6])  # (3, N)
    weights = screen * coef[9:12]
    depth.index_copy_(0, pix, (keys >> 32).int().view(torch.float32))  # exactly the z-buffer's value
    bary.index_copy_(0, pix, (weights / weights.sum(0)).T)
    face_ids.index_copy_(0, pix, setup.face_index.index_select(0, face) % n_faces)
    mask = face_ids >= 0
    shape = (batch, height, width)
    return Fragments(depth.view(shape), face_ids.view(shape), bary.view(shape + (3,)), mask.view(shape))


@torch.no_grad()
def rasterize(vertices: Tensor, faces: Tensor, focal: Tensor | Sequence[float], princpt: Tensor | Sequence[float],
              image_size: Sequence[int], cull_backfaces: bool = False, near: float = 1e-3) -> Fragments:
    """Rasterize a batch of meshes sharing one topology.

    Args:
        vertices: (B, V, 3) camera coordinates (x right, y down, z forward), metres.
        faces: (F, 3) long vertex indices.
        focal: (B, 2) or (2,) (fx, fy) in pixels.  princpt: (B, 2) or (2,) (cx, cy) in pixels.
        image_size: (H, W) in pixels.
        cull_backfaces: drop faces whose normal (v1 - v0) x (v2 - v0) points away from the camera.
        near: faces with any vertex at z <= near (metres) are skipped entirely (no clipping).
    Returns:
        Fragments on the device of ``vertices``.
    """
    _check_mesh(vertices, faces, image_size)
    batch, height, width = vertices.shape[0], int(image_size[0]), int(image_size[1])
    faces = faces.to(device=vertices.device, dtype=torch.long)
    setup = _setup_faces(vertices, faces, _as_camera(focal, batch, vertices, "focal"),
                         _as_camera(princpt, batch, vertices, "princpt"), height, width, cull_backfaces, near)
    zbuf = _empty_zbuffer(batch * height * width, vertices.device)
    for pixels, keys in _candidates(setup, width, batch * height * width):
        _resolve(zbuf, pixels, keys)
    return _fragments(zbuf, setup, batch, height, width, faces.shape[0])
