"""Edge maps: student Canny channel vs. the release's kornia calls, adaptive dilation, SMPL overlap edges."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from kornia.color import bgr_to_rgb, rgb_to_grayscale
from kornia.filters import canny
from kornia.morphology import dilation

from common.edges.canny import CannyEdgeChannel, canny_edge_channel, canny_magnitude, to_gray
from common.edges.dilation import adaptive_kernel_size, grey_dilation
from common.edges.precomputed import check_edge_manifest, edge_file, read_edge_png, write_edge_png
from common.edges.smpl_edges import edge_kernel_size, shade_people, smpl_edge, smpl_overlap_edge

FOCAL, PRINCPT, SIZE = (400.0, 400.0), (48.0, 48.0), (96, 96)


def fixed_images() -> torch.Tensor:
    """(3,3,64,64) deterministic RGB crops: coloured rectangles, a diagonal ramp, a disc, seeded noise."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    a = torch.zeros(3, 64, 64)
    a[0, 10:40, 12:50], a[1, 20:60, 5:30], a[2] = 0.8, 0.6, (xx + yy) / 126.0
    b = torch.stack([((xx - 32) ** 2 + (yy - 30) ** 2 < 300).float(), xx / 63.0, 1 - yy / 63.0])
    c = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    return torch.stack([a, b, c])


def reference_channel(img: torch.Tensor) -> torch.Tensor:
    """Exactly the release's calls: bgr_to_rgb -> rgb_to_grayscale -> canny (default) [0] -> dilation 5x5."""
    return dilation(canny(rgb_to_grayscale(bgr_to_rgb(img)))[0], kernel=torch.ones(5, 5))


def test_canny_channel_matches_release_calls():
    img = fixed_images()
    ours = canny_edge_channel(img)
    assert ours.shape == (3, 1, 64, 64)
    assert torch.equal(ours, reference_channel(img))
    assert len(torch.unique(ours)) > 100  # the NMS magnitude (continuous), not the thresholded 0/1 edges
    assert torch.equal(CannyEdgeChannel()(img), ours)
    assert torch.equal(canny_edge_channel(img[0]), reference_channel(img[:1])[0])  # unbatched input


def test_hysteresis_off_gives_identical_magnitude():
    gray = rgb_to_grayscale(fixed_images())
    assert torch.equal(canny_magnitude(gray), canny(gray)[0])


def test_gray_modes():
    img = fixed_images()
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    assert torch.allclose(to_gray(red, "release"), torch.full((1, 1, 4, 4), 0.114))  # release swaps R and B
    assert torch.allclose(to_gray(red, "standard"), torch.full((1, 1, 4, 4), 0.299))
    expected = dilation(canny(rgb_to_grayscale(img))[0], kernel=torch.ones(5, 5))
    assert torch.equal(canny_edge_channel(img, gray="standard"), expected)
    with pytest.raises(ValueError, match="gray"):
        canny_edge_channel(img, gray="bgr")


@pytest.mark.parametrize("area, kernel", [(0, 1), (256, 1), (257, 3), (4096, 3), (4097, 5), (65536, 5),
                                          (65537, 7), (1e7, 7)])
def test_adaptive_dilation_thresholds(area, kernel):
    assert adaptive_kernel_size(area) == kernel


def test_grey_dilation_matches_kornia():
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    for k in (3, 5, 7):
        assert torch.equal(grey_dilation(x, k), dilation(x, torch.ones(k, k)))
    assert grey_dilation(x, 1) is x
    with pytest.raises(ValueError):
        grey_dilation(x, 4)
    with pytest.raises(ValueError):
        adaptive_kernel_size(-1.0)


def test_kernel_scales_with_crop_zoom():
    assert edge_kernel_size(5000.0) == 5
    assert edge_kernel_size(5000.0, np.array([[2.0, 0, 0], [0, 2.0, 0]])) == 11  # 5 px in image = 10 px in crop
    assert edge_kernel_size(70000.0, np.array([[0.5, 0, 0], [0, 0.5, 0]])) == 3  # 7 * 0.5 = 3.5 -> 3


def sphere(center, radius) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    return torch.tensor(mesh.vertices + np.asarray(center), dtype=torch.float32), torch.tensor(mesh.faces)


def box(center, extents) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.box(extents=extents)
    return torch.tensor(mesh.vertices + np.asarray(center), dtype=torch.float32), torch.tensor(mesh.faces)


def test_overlap_edge_empty_without_occlusion():
    left, faces = sphere([-0.4, 0.0, 4.0], 0.25)
    right, _ = sphere([0.4, 0.0, 4.0], 0.25)
    edge = smpl_overlap_edge([left, right], faces, FOCAL, PRINCPT, SIZE, bbox_area_px2=3000.0)
    assert edge.shape == SIZE
    assert float(edge.max()) == 0.0
    visible = smpl_edge([left, right], faces, FOCAL, PRINCPT, SIZE, bbox_area_px2=3000.0)
    assert float(visible.max()) > 0.5  # both outlines are visible edges


def test_overlap_edge_of_fully_hidden_contour():
    hidden, sphere_faces = sphere([0.0, 0.0, 5.0], 0.2)  # projects to a disc of radius 16 px
    wall, wall_faces = box([0.0, 0.0, 3.0], [1.0, 1.0, 0.1])  # in front of it, covers the whole image
    edge = smpl_overlap_edge([hidden, wall], [sphere_faces, wall_faces], FOCAL, PRINCPT, SIZE, bbox_area_px2=1000.0)
    yy, xx = torch.meshgrid(torch.arange(96.0) + 0.5, torch.arange(96.0) + 0.5, indexing="ij")
    radius = torch.sqrt((xx - 48.0) ** 2 + (yy - 48.0) ** 2)
    ring = (radius > 14.0) & (radius < 18.0)
    assert float(edge[ring].mean()) > 0.5  # the sphere's outline, hidden by the wall, is the overlap edge
    assert float(edge[radius > 24.0].max()) == 0.0
    alone = smpl_edge([hidden, wall], [sphere_faces, wall_faces], FOCAL, PRINCPT, SIZE, 1000.0, target=0)
    assert float(alone[ring].mean()) > 0.5  # the SMPL edge of the hidden person alone shows it too...
    scene = smpl_edge([hidden, wall], [sphere_faces, wall_faces], FOCAL, PRINCPT, SIZE, 1000.0)
    assert float(scene[ring].max()) == 0.0  # ...the scene's visible edges do not


def test_render_through_crop_affine_equals_adjusted_camera():
    person, faces = sphere([0.1, -0.05, 4.0], 0.3)
    affine = np.array([[2.0, 0.0, -10.0], [0.0, 2.0, -20.0]])
    via_affine, _ = shade_people([person], faces, FOCAL, PRINCPT, SIZE, img_to_out=affine)
    direct, _ = shade_people([person], faces, (800.0, 800.0), (86.0, 76.0), SIZE)
    assert torch.allclose(via_affine, direct, atol=1e-5)
    mirror = np.array([[-1.0, 0.0, 96.0], [0.0, 1.0, 0.0]])
    mirrored, _ = shade_people([person], faces, FOCAL, PRINCPT, SIZE, img_to_out=mirror)
    plain, _ = shade_people([person], faces, FOCAL, PRINCPT, SIZE)
    assert (mirrored == plain.flip(1)).float().mean() > 0.995  # shading uses |n_z|: mirror-invariant


def test_precomputed_roundtrip_and_size_check(tmp_path):
    path = edge_file(tmp_path, "synthetic", "train", "smpl_overlap", 7)
    assert path.name == "00000007.png" and path.parent.name == "smpl_overlap"
    edge = np.zeros((20, 30), np.float32)
    edge[5:8, 3:25] = 1.0
    edge[10, 10] = 0.5
    write_edge_png(path, edge)
    back = read_edge_png(path, expected_hw=(20, 30))
    assert back.shape == (20, 30) and np.abs(back - edge).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match=str(path.name)):
        read_edge_png(path, expected_hw=(30, 20))
    with pytest.raises(FileNotFoundError, match="00000008.png"):
        read_edge_png(edge_file(tmp_path, "synthetic", "train", "smpl_overlap", 8))


class BallBody(torch.nn.Module):
    """Stand-in body model: a sphere of radius 0.3 m placed at ``transl`` (pose and shape ignored)."""

    def __init__(self) -> None:
        super().__init__()
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
        self.register_buffer("template", torch.tensor(mesh.vertices, dtype=torch.float32))
        self.register_buffer("faces", torch.tensor(mesh.faces))

    def forward(self, global_orient, body_pose, betas, transl=None):
        return type("Out", (), {"vertices": self.template[None] + transl[:, None]})


def test_precompute_tool_writes_image_aligned_edges(tmp_path):
    from common.config import load_config
    from data.records import PersonRecord
    from tool.precompute_edges import precompute

    def person(transl, others, bbox, smpl=True, pid=0):
        zeros = np.zeros((len(others), 72), np.float32)
        return PersonRecord(image_path="scene.jpg", bbox=np.array(bbox, np.float32), focal=np.array([300.0, 300.0]),
                            princpt=np.array([40.0, 30.0]), smpl_pose=np.zeros(72) if smpl else None,
                            smpl_betas=np.zeros(10) if smpl else None, smpl_transl=np.array(transl, np.float32),
                            others_smpl_pose=zeros, others_smpl_betas=np.zeros((len(others), 10)),
                            others_smpl_transl=np.array(others, np.float32).reshape(-1, 3), image_hw=(60, 80),
                            person_id=pid)
    front, back = [-0.15, 0.0, 4.0], [0.15, 0.0, 5.0]  # the front ball hides part of the back one
    records = [person(front, [back], [20, 0, 30, 60], pid=0), person(back, [front], [30, 5, 25, 50], pid=1),
               person(back, [], [0, 0, 10, 10], smpl=False, pid=2)]
    cfg = load_config()
    counts = precompute(cfg, "toy", "train", "smpl_overlap", tmp_path, records=records, body_model=BallBody(),
                        progress=False)
    assert counts == {"written": 2, "existing": 0, "no_smpl": 1}
    first = read_edge_png(edge_file(tmp_path, "toy", "train", "smpl_overlap", 0), expected_hw=(60, 80))
    yy, xx = np.mgrid[0:60, 0:80] + 0.5
    in_front = np.hypot(xx - 28.75, yy - 30.0) < 22.5 + 3  # the front ball's disc (radius 22.5 px) + dilation
    assert first[in_front].max() > 0.5 and first[~in_front].max() == 0.0  # hidden contour, behind the front ball
    assert not edge_file(tmp_path, "toy", "train", "smpl_overlap", 2).exists()
    again = precompute(cfg, "toy", "train", "smpl_overlap", tmp_path, records=records, body_model=BallBody(),
                       progress=False)
    assert again == {"written": 0, "existing": 2, "no_smpl": 1}
    check_edge_manifest(tmp_path, "toy", "train", "smpl_overlap", records)
    with pytest.raises(ValueError, match="manifest.json.*recompute"):
        check_edge_manifest(tmp_path, "toy", "train", "smpl_overlap", records[::-1])


def test_edge_from_smpl_params_matches_precompute_path():
    from common.edges.smpl_edges import edge_from_smpl_params

    body = BallBody()
    transl = torch.tensor([[-0.15, 0.0, 4.0], [0.15, 0.0, 5.0]])
    zeros = torch.zeros(2, 72), torch.zeros(2, 10)
    edge = edge_from_smpl_params("smpl_overlap", body, *zeros, transl, (300.0, 300.0), (40.0, 30.0), (60, 80), 900.0)
    direct = smpl_overlap_edge(list(body(None, None, None, transl).vertices), body.faces, (300.0, 300.0),
                               (40.0, 30.0), (60, 80), 900.0)
    assert torch.equal(edge, direct) and float(edge.max()) > 0.5
    with pytest.raises(ValueError, match="kind"):
        edge_from_smpl_params("canny", body, *zeros, transl, (300.0, 300.0), (40.0, 30.0), (60, 80), 900.0)
