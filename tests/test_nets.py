"""Building blocks of the regressor: backbone, heatmaps, soft-argmax, graph conv (batched == loop), VPoser."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.geometry.rotations import rot6d_to_matrix
from common.nets.backbone import ResNetBackbone
from common.nets.heatmaps import render_gaussian_heatmaps, sample_feature_map, sample_volume, soft_argmax_3d
from common.nets.position_net import PositionNet
from common.nets.rotation_net import (
    GRAPH15_FLIP_PAIRS,
    GRAPH15_SKELETON,
    GraphConvBlock,
    GraphResBlock,
    RotationNet,
    normalized_adjacency,
)
from common.nets.vposer import VPoserDecoder, VPoserV1


@pytest.mark.parametrize("name,size,channels", [("resnet18", 128, (64, 128, 256, 512)),
                                                ("resnet50", 256, (256, 512, 1024, 2048))])
def test_backbone_named_features(name, size, channels):
    net = ResNetBackbone(name).eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        stem = net.stem(x)
        feats = net.forward_layers(stem)
    assert stem.shape == (2, 64, size // 4, size // 4)
    strides = (4, 8, 16, 32)
    for i, (c, s) in enumerate(zip(channels, strides), start=1):
        assert feats[f"layer{i}"].shape == (2, c, size // s, size // s)
        assert net.layer_channels[f"layer{i}"] == c
    assert net.out_channels == channels[-1]
    assert not any(k.startswith("fc.") for k in net.state_dict())


def test_backbone_adapts_rgb_weights_to_four_channels(tmp_path):
    rgb = ResNetBackbone("resnet18")
    path = tmp_path / "r18.pth"
    torch.save({**rgb.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, path)
    torch.manual_seed(0)
    rgbe = ResNetBackbone("resnet18", in_channels=4, pretrained=str(path))
    w = rgbe.conv1.weight
    assert w.shape == (64, 4, 7, 7)
    assert torch.equal(w[:, :3], rgb.conv1.weight)
    assert 0 < w[:, 3].std() < 0.005  # N(0, 0.001)
    assert torch.equal(rgbe.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        ResNetBackbone("resnet18", pretrained=str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="partial.pth.*missing"):
        ResNetBackbone("resnet18", pretrained=str(tmp_path / "partial.pth"))
    with pytest.raises(ValueError, match="in_channels"):
        ResNetBackbone("resnet18", in_channels=2)


def test_gaussian_heatmaps_peak_at_joint_and_zero_when_invalid():
    pts = torch.tensor([[[5.0, 9.0], [float("nan"), 3.0]]])
    hm = render_gaussian_heatmaps(pts, torch.tensor([[1.0, 0.0]]), 16, 12, sigma=2.5)
    assert hm.shape == (1, 2, 16, 12)
    assert hm[0, 0, 9, 5] == 1.0 and hm[0, 0].argmax() == 9 * 12 + 5
    assert math.isclose(float(hm[0, 0, 9, 7]), math.exp(-4 / (2 * 2.5 ** 2)), rel_tol=1e-6)
    assert torch.count_nonzero(hm[0, 1]) == 0


def test_soft_argmax_of_one_hot_volume_gives_that_voxel():
    logits = torch.full((2, 3, 8, 4, 5), -1e4)
    voxels = [(1, 2, 6), (4, 0, 0), (0, 3, 7)]  # (x, y, z)
    for j, (x, y, z) in enumerate(voxels):
        logits[:, j, z, y, x] = 0.0
    coords, probs = soft_argmax_3d(logits)
    assert torch.allclose(coords, torch.tensor(voxels, dtype=torch.float32).expand(2, 3, 3), atol=1e-5)
    assert torch.allclose(sample_volume(probs, coords), torch.ones(2, 3), atol=1e-5)
    # half-way between two voxels the trilinear score is the mean of their probabilities
    half = sample_volume(probs, coords + torch.tensor([0.5, 0.0, 0.0]))
    assert torch.allclose(half[:, 0], torch.full((2,), 0.5), atol=1e-5)


def test_position_net_shapes_and_range():
    net = PositionNet(in_channels=32, num_joints=15, depth_bins=8)
    coords, scores = net(torch.randn(2, 32, 4, 4))
    assert coords.shape == (2, 15, 3) and scores.shape == (2, 15)
    assert (coords[..., :2] >= 0).all() and (coords[..., :2] <= 3).all() and (coords[..., 2] <= 7).all()
    assert net.conv[0].weight.shape == (120, 32, 1, 1)


def test_sample_feature_map_is_bilinear_with_aligned_corners():
    h, w = 5, 7
    xs = torch.arange(w, dtype=torch.float32).expand(h, w)
    ys = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    feat = torch.stack([xs, ys])[None]  # channel 0 = x, channel 1 = y
    out = sample_feature_map(feat, torch.tensor([[[2.25, 3.5], [0.0, 0.0], [6.0, 4.0]]]))
    assert torch.allclose(out[0], torch.tensor([[2.25, 3.5], [0.0, 0.0], [6.0, 4.0]]), atol=1e-5)


def test_normalized_adjacency_values():
    a = normalized_adjacency(15, GRAPH15_SKELETON, GRAPH15_FLIP_PAIRS)
    assert torch.allclose(a, a.t())
    # pelvis: self + L_Hip, R_Hip, Neck -> degree 4; L_Hip: self + pelvis, L_Knee, R_Hip (flip) -> 4
    assert math.isclose(float(a[0, 0]), 0.25, rel_tol=1e-6) and math.isclose(float(a[0, 1]), 0.25, rel_tol=1e-6)
    assert a[0, 3] == 0  # pelvis - L_Knee: not adjacent
    # Neck: self + pelvis, head top, shoulders -> 5; head top: self + neck -> 2
    assert math.isclose(float(a[7, 8]), 1 / math.sqrt(10), rel_tol=1e-6)


class LoopGraphConv(nn.Module):
    """The straightforward official form: one Linear + BatchNorm1d per node in a Python loop."""

    def __init__(self, adj, dim_in, dim_out):
        super().__init__()
        self.adj = adj
        self.fcbn_list = nn.ModuleList([nn.Sequential(nn.Linear(dim_in, dim_out), nn.BatchNorm1d(dim_out))
                                        for _ in range(adj.shape[0])])

    def forward(self, x):
        y = torch.stack([fcbn(x[:, i]) for i, fcbn in enumerate(self.fcbn_list)], 1)
        return F.relu(torch.bmm(self.adj[None].expand(x.shape[0], -1, -1), y))


class LoopResBlock(nn.Module):
    def __init__(self, adj, dim):
        super().__init__()
        self.graph_block1, self.graph_block2 = LoopGraphConv(adj, dim, dim), LoopGraphConv(adj, dim, dim)

    def forward(self, x):
        return self.graph_block2(self.graph_block1(x)) + x


def test_batched_graph_conv_equals_loop_version():
    torch.manual_seed(0)
    adj = normalized_adjacency(15, GRAPH15_SKELETON, GRAPH15_FLIP_PAIRS)
    batched = nn.Sequential(GraphConvBlock(adj, 20, 16), GraphResBlock(adj, 16))
    loop = nn.Sequential(LoopGraphConv(adj, 20, 16), LoopResBlock(adj, 16))
    with torch.no_grad():  # non-trivial BN affine / running stats
        for t in batched.parameters():
            t.add_(torch.randn_like(t) * 0.1)
        for name, t in batched.named_buffers():
            if "running" in name:
                t.add_(torch.rand_like(t))
    assert list(batched.state_dict()) == list(loop.state_dict())  # official per-node keys, same order
    loop.load_state_dict(batched.state_dict(), strict=True)
    x = torch.randn(6, 15, 20, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    for mode in (True, False, True):
        batched.train(mode), loop.train(mode)
        out_b, out_l = batched(x), loop(x2)
        assert torch.allclose(out_b, out_l, atol=1e-5, rtol=1e-5)
        out_b.square().sum().backward()
        out_l.square().sum().backward()
        assert torch.allclose(x.grad, x2.grad, atol=1e-5, rtol=1e-4)
    for (k, vb), (k2, vl) in zip(batched.state_dict().items(), loop.state_dict().items()):
        assert k == k2 and torch.allclose(vb.float(), vl.float(), atol=1e-5), k  # running stats updated alike
    grads_b = dict(batched.named_parameters())["0.fcbn_list.weight"].grad
    assert torch.allclose(grads_b[3], loop[0].fcbn_list[3][0].weight.grad, atol=1e-4, rtol=1e-4)


def test_graph_conv_strict_load_reports_missing_and_shape_errors():
    adj = normalized_adjacency(15, GRAPH15_SKELETON, GRAPH15_FLIP_PAIRS)
    block = GraphConvBlock(adj, 8, 4)
    state = block.state_dict()
    del state["fcbn_list.3.1.running_var"]
    state["fcbn_list.4.0.weight"] = torch.zeros(4, 9)
    state["fcbn_list.15.0.weight"] = torch.zeros(4, 8)
    with pytest.raises(RuntimeError) as err:
        block.load_state_dict(state, strict=True)
    msg = str(err.value)
    assert "fcbn_list.3.1.running_var" in msg and "fcbn_list.4.0.weight" in msg and "fcbn_list.15.0.weight" in msg


def test_rotation_net_outputs():
    net = RotationNet(feat_channels=32, hidden=16, num_res_blocks=2, pose_dim=126).eval()
    joints = torch.rand(3, 15, 3) * 3
    root, pose, betas, cam = net(torch.randn(3, 32, 4, 4), joints, torch.rand(3, 15))
    assert root.shape == (3, 6) and pose.shape == (3, 126) and betas.shape == (3, 10) and cam.shape == (3, 3)
    assert set(k.split(".")[0] for k in net.state_dict()) == {"graph_block", "root_pose_out", "pose_out",
                                                             "shape_out", "cam_out"}


def test_zero_6d_head_with_identity_bias_gives_identity_and_random_6d_gives_rotations():
    head = nn.Linear(20, 6)
    nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([1.0, 0, 0, 1, 0, 0]))
    rot = rot6d_to_matrix(head(torch.randn(4, 20)))
    assert torch.allclose(rot, torch.eye(3).expand(4, 3, 3))
    r = rot6d_to_matrix(torch.randn(100, 6))
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(100, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(100), atol=1e-5)


def test_vposer_decoder_loads_file_and_zeroes_hands(tmp_path):
    torch.manual_seed(0)
    src = VPoserV1()
    path = tmp_path / "vposer_v1.pt"
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, path)
    dec = VPoserDecoder(str(path))
    assert all(not p.requires_grad for p in dec.parameters())
    dec.train()
    assert not dec.training and not dec.vposer.training
    z = torch.randn(5, 32)
    pose = dec(z)
    assert pose.shape == (5, 69) and torch.count_nonzero(pose[:, 63:]) == 0
    assert torch.allclose(dec(z), pose)  # deterministic (no dropout)
    # axis-angle of decoded 6D rotations: angle <= pi
    assert (pose[:, :63].reshape(5, 21, 3).norm(dim=-1) <= math.pi + 1e-5).all()
    assert dec.vposer.encode_mean(pose[:, :63]).shape == (5, 32)
    with pytest.raises(RuntimeError, match="VPoser weights are not loaded"):
        VPoserDecoder()(z)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        VPoserDecoder(str(tmp_path / "nope.pt"))
    torch.save({"bodyprior_dec_fc1.weight": torch.zeros(512, 32)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt.*missing"):
        VPoserDecoder(str(tmp_path / "bad.pt"))
