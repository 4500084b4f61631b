"""Known-answer tests for common.render (rasterizer, shading, visualisation)."""
import numpy as np
import pytest
import torch

from common.geometry.camera import perspective_project
from common.render.mesh_raster import concat_meshes, rasterize_meshes
from common.render.rasterizer import rasterize
from common.render.shading import composite, shade_lambert, vertex_normals
from common.render.visualize import draw_pose2d, overlay_mesh

FOCAL, PRINCPT, SIZE = (32.0, 32.0), (16.0, 16.0), (32, 32)


def _unproject(uv, depth):
    """Pixel coordinates (N, 2) at given depths (N,) -> camera points (N, 3) for FOCAL/PRINCPT."""
    uv, depth = torch.as_tensor(uv, dtype=torch.float64), torch.as_tensor(depth, dtype=torch.float64)
    xy = (uv - torch.tensor(PRINCPT, dtype=torch.float64)) / torch.tensor(FOCAL, dtype=torch.float64)
    return torch.cat([xy * depth[:, None], depth[:, None]], dim=1).float()


def _brute_force(vertices, faces, focal, princpt, height, width):
    """Reference z-buffer in float64 numpy: loop over faces, test every pixel centre."""
    v = vertices.double().numpy()
    u = v[:, 0] / v[:, 2] * focal[0] + princpt[0]
    w = v[:, 1] / v[:, 2] * focal[1] + princpt[1]
    py, px = np.mgrid[0:height, 0:width] + 0.5
    depth, face_ids = np.full((height, width), np.inf), np.full((height, width), -1)
    for k, tri in enumerate(faces.numpy()):
        if v[tri, 2].min() <= 1e-3:
            continue
        (x0, x1, x2), (y0, y1, y2) = u[tri], w[tri]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0:
            continue
        l0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) / area
        l1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) / area
        l2 = 1 - l0 - l1
        d = 1 / (l0 / v[tri[0], 2] + l1 / v[tri[1], 2] + l2 / v[tri[2], 2])
        update = (l0 >= 0) & (l1 >= 0) & (l2 >= 0) & (d < depth)
        depth[update], face_ids[update] = d[update], k
    return depth, face_ids


def _cube(center, half):
    corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float32)
    faces = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return corners * half + torch.tensor(center), faces


def test_two_overlapping_triangles_nearest_wins_and_plane_depth():
    near = _unproject([[2.3, 3.1], [22.7, 4.2], [5.2, 27.9]], [2.0, 2.0, 2.0])  # fronto-parallel, z = 2
    far = _unproject([[9.6, 6.4], [30.2, 12.3], [14.1, 30.6]], [3.0, 4.0, 3.5])  # tilted plane
    verts = torch.cat([near, far])[None]
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    frag = rasterize(verts, faces, FOCAL, PRINCPT, SIZE)
    ref_depth, ref_ids = _brute_force(verts[0], faces, FOCAL, PRINCPT, *SIZE)
    assert np.array_equal(frag.face_ids[0].numpy(), ref_ids)
    alone = [_brute_force(verts[0], faces[i:i + 1], FOCAL, PRINCPT, *SIZE)[1] == 0 for i in (0, 1)]
    overlap = alone[0] & alone[1]
    assert overlap.sum() > 20 and (alone[1] & ~alone[0]).sum() > 20  # both visible, and they overlap
    assert (frag.face_ids[0].numpy()[overlap] == 0).all()
    assert torch.allclose(frag.depth[0][frag.face_ids[0] == 0], torch.tensor(2.0), rtol=1e-6)
    # Depth of the far face = intersection of each pixel-centre ray with its plane.
    p = verts[0, 3:].double()
    normal = torch.linalg.cross(p[1] - p[0], p[2] - p[0])
    ys, xs = torch.nonzero(frag.face_ids[0] == 1, as_tuple=True)
    rays = torch.stack([(xs + 0.5 - PRINCPT[0]) / FOCAL[0], (ys + 0.5 - PRINCPT[1]) / FOCAL[1],
                        torch.ones_like(xs, dtype=torch.float64)], dim=1)
    plane_depth = (normal @ p[0]) / (rays @ normal)
    assert torch.allclose(frag.depth[0, ys, xs].double(), plane_depth, rtol=1e-5)
    assert torch.isinf(frag.depth[0][~frag.mask[0]]).all() and frag.mask.sum() == (ref_ids >= 0).sum()


def test_random_triangle_soup_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    verts = torch.rand(1, 60, 3, generator=g) * torch.tensor([2.0, 2.0, 1.0]) - torch.tensor([1.0, 1.0, -1.5])
    faces = torch.randint(0, 60, (80, 3), generator=g)
    frag = rasterize(verts, faces, (40.0, 45.0), (24.0, 20.0), (40, 48))
    ref_depth, ref_ids = _brute_force(verts[0], faces, (40.0, 45.0), (24.0, 20.0), 40, 48)
    assert np.array_equal(frag.face_ids[0].numpy(), ref_ids)
    covered = ref_ids >= 0
    assert np.allclose(frag.depth[0].numpy()[covered], ref_depth[covered], rtol=1e-5)


def test_full_cover_offscreen_and_behind_camera():
    big = torch.tensor([[[-10.0, -10.0, 1.0], [30.0, -10.0, 1.0], [-10.0, 30.0, 1.0]]])
    tri = torch.tensor([[0, 1, 2]])
    assert rasterize(big, tri, FOCAL, PRINCPT, SIZE).mask.all()
    offscreen = big * torch.tensor([1.0, 1.0, 1.0]) + torch.tensor([100.0, 0.0, 0.0])
    behind = big * torch.tensor([1.0, 1.0, -1.0])
    crossing = big.clone()
    crossing[0, 0, 2] = -0.5  # one vertex behind the camera: the face is skipped (no clipping)
    for verts in (offscreen, behind, crossing):
        frag = rasterize(verts, tri, FOCAL, PRINCPT, SIZE)
        assert not frag.mask.any() and (frag.face_ids == -1).all() and torch.isinf(frag.depth).all()


def test_barycentrics_interpolate_positions_and_pixel_convention():
    verts, faces = _cube((0.1, -0.2, 4.0), 1.0)
    verts = verts[None]
    frag = rasterize(verts, faces, FOCAL, PRINCPT, SIZE)
    assert frag.mask.sum() > 100
    ys, xs = torch.nonzero(frag.mask[0], as_tuple=True)
    bary = frag.bary[0, ys, xs]
    assert torch.allclose(bary.sum(-1), torch.ones(len(ys)), atol=1e-5)
    assert (bary > -1e-4).all()
    corners = verts[0][faces[frag.face_ids[0, ys, xs]]]  # (N, 3 vertices, 3)
    points = (bary[..., None] * corners).sum(1)
    assert torch.allclose(points[:, 2], frag.depth[0, ys, xs], rtol=1e-5)
    uv = perspective_project(points[None], FOCAL, PRINCPT)[0]  # lands on the pixel centre
    assert torch.allclose(uv, torch.stack([xs, ys], 1).float() + 0.5, atol=1e-3)
    # A vertex projected to (u, v) lies in pixel (floor(u), floor(v)): a tiny triangle around (12.3, 7.8).
    tiny = _unproject([[12.3 - 0.6, 7.8 - 0.6], [12.3 + 0.9, 7.8 - 0.6], [12.3 - 0.6, 7.8 + 0.9]], [2.0] * 3)
    mask = rasterize(tiny[None], torch.tensor([[0, 1, 2]]), FOCAL, PRINCPT, SIZE).mask[0]
    assert mask.sum() == 1 and mask[7, 12]


def test_rasterize_meshes_two_cubes_occlusion():
    near_v, near_f = _cube((-0.3, 0.0, 4.0), 0.6)
    far_v, far_f = _cube((0.6, 0.2, 6.0), 1.0)
    result = rasterize_meshes([near_v, far_v], [near_f, far_f], FOCAL, PRINCPT, SIZE, return_per_mesh=True)
    near_alone, far_alone = result.per_mesh.mask
    assert near_alone.any() and far_alone.any() and (near_alone & far_alone).any()
    assert torch.equal(result.mesh_ids == 0, near_alone)
    assert torch.equal(result.mesh_ids == 1, far_alone & ~near_alone)
    assert result.mesh_ids[16, 12] == 0 and result.mesh_ids[14, 22] == 1 and result.mesh_ids[0, 0] == -1
    # Same result as rendering the concatenated mesh; face ids index the concatenated faces.
    verts, faces, face_mesh = concat_meshes([near_v, far_v], [near_f, far_f])
    single = rasterize(verts[None], faces, FOCAL, PRINCPT, SIZE)
    assert torch.equal(single.face_ids, result.fragments.face_ids)
    assert torch.equal(face_mesh[result.fragments.face_ids[0][result.fragments.mask[0]]],
                       result.mesh_ids[result.fragments.mask[0]])
    far_only = rasterize(far_v[None], far_f, FOCAL, PRINCPT, SIZE)
    assert torch.equal(far_only.mask[0], far_alone)
    assert torch.equal(far_only.face_ids[0][far_alone] + len(near_f), result.per_mesh.face_ids[1][far_alone])


def test_batch_elements_and_backface_culling():
    verts, faces = _cube((0.0, 0.0, 3.0), 0.8)
    moved = verts + torch.tensor([0.5, 0.0, 1.0])
    batch = torch.stack([verts, moved, verts])
    frag = rasterize(batch, faces, torch.tensor(FOCAL).expand(3, 2), PRINCPT, SIZE)
    for field in ("depth", "face_ids", "bary", "mask"):
        value = getattr(frag, field)
        assert torch.equal(value[0], value[2])
        assert torch.equal(value[1], getattr(rasterize(moved[None], faces, FOCAL, PRINCPT, SIZE), field)[0])
    # Outward-wound cube: culling back faces keeps the visible surface; with the winding flipped, culling
    # keeps the far walls instead (same silhouette, larger depth).
    culled = rasterize(verts[None], faces, FOCAL, PRINCPT, SIZE, cull_backfaces=True)
    assert torch.equal(culled.mask, frag.mask[:1]) and torch.equal(culled.depth, frag.depth[:1])
    flipped = rasterize(verts[None], faces[:, [0, 2, 1]], FOCAL, PRINCPT, SIZE, cull_backfaces=True)
    assert torch.equal(flipped.mask, frag.mask[:1])
    assert (flipped.depth[flipped.mask] > frag.depth[:1][flipped.mask]).all()
    assert frag.depth[0, 16, 16] == pytest.approx(2.2) and flipped.depth[0, 16, 16] == pytest.approx(3.8)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="vertices must be"):
        rasterize(torch.zeros(3, 3), torch.zeros(1, 3, dtype=torch.long), FOCAL, PRINCPT, SIZE)
    with pytest.raises(ValueError, match="faces index"):
        rasterize(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 5]]), FOCAL, PRINCPT, SIZE)


def test_shading_normals_and_composite():
    verts, faces = _cube((0.0, 0.0, 3.0), 0.5)
    normals = vertex_normals(verts[None], faces)[0]
    assert torch.allclose(normals.norm(dim=-1), torch.ones(8))
    outward = torch.nn.functional.normalize(verts - torch.tensor([0.0, 0.0, 3.0]), dim=-1)
    assert ((normals * outward).sum(-1) > 0.8).all()  # corner normals point out of the cube
    square = _unproject([[-5.0, -5.0], [40.0, -5.0], [40.0, 40.0], [-5.0, 40.0]], [2.0] * 4)[None]
    square_faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # normal towards the camera (-z)
    assert torch.allclose(vertex_normals(square, square_faces), torch.tensor([0.0, 0.0, -1.0]).expand(1, 4, 3))
    frag = rasterize(square, square_faces, FOCAL, PRINCPT, SIZE)
    rgb = shade_lambert(frag, square, square_faces, colors=(1.0, 0.5, 0.0), ambient=0.3, diffuse=0.6)
    assert torch.allclose(rgb, torch.tensor([0.9, 0.45, 0.0]).expand(1, 32, 32, 3), atol=1e-5)
    background = torch.full((1, 32, 32, 3), 0.2)
    out = composite(rgb, frag.mask, background, alpha=0.5)
    assert torch.allclose(out[0, 5, 5], torch.tensor([0.55, 0.325, 0.1]), atol=1e-5)


def test_overlay_and_pose_drawing():
    image = np.full((32, 32, 3), 10, np.uint8)
    verts, faces = _cube((0.0, 0.0, 4.0), 0.5)
    out = overlay_mesh(image, verts, faces, FOCAL, PRINCPT, color=(0.0, 0.0, 1.0), alpha=1.0)
    mask = rasterize(verts[None], faces, FOCAL, PRINCPT, SIZE).mask[0].numpy()
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert (out[~mask] == 10).all() and (out[mask][:, 2] > 100).all() and (out[mask][:, :2] == 0).all()
    joints = np.array([[5.5, 5.5], [25.5, 5.5], [15.5, 25.5]])
    drawn = draw_pose2d(np.zeros((32, 32, 3), np.uint8), joints, np.array([1, 1, 0]), [(0, 1), (1, 2)],
                        color=(1.0, 0.0, 0.0), radius=1)
    assert drawn[5, 5, 0] == 255 and drawn[5, 15, 0] > 0  # joint 0 and the bone 0-1
    assert drawn[25, 15].sum() == 0 and drawn[20, 20].sum() == 0  # invalid joint 2 and its bone are skipped
