"""Official 3DCrowdNet / SEFD checkpoints: exact key layout, strict loading, clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models import CrowdNetRegressor, load_official_checkpoint
from common.models.official_checkpoint import checkpoint_input_channels, read_official_checkpoint
from common.nets.vposer import VPoserV1
from model_fixtures import TinySMPL, random_batch

REFERENCE = Path("/work/shared/reference")
OFFICIAL_TRAINABLE = {3: 29_863_979, 4: 29_867_115}  # excluding VPoser (frozen)


@pytest.fixture(scope="module")
def body_model():
    return TinySMPL(seed=0)


@pytest.fixture(scope="module")
def vposer_file(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("vposer") / "vposer_v1.pt"
    torch.save(VPoserV1().state_dict(), path)
    return str(path)


def official_model(body_model, vposer_file, in_channels=3, input_size=256, seed=0):
    torch.manual_seed(seed)
    return CrowdNetRegressor(body_model, backbone="resnet50", input_size=input_size, in_channels=in_channels,
                             pose_head="vposer", vposer_path=vposer_file)


def save_official_file(model, path, epoch=7):
    """The release layout: {'epoch', 'network' (DataParallel 'module.' keys), 'optimizer'}."""
    network = torch.nn.DataParallel(model).state_dict()  # CPU: a plain wrapper, keys get 'module.'
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    torch.save({"epoch": epoch, "network": network, "optimizer": optimizer.state_dict()}, path)


@pytest.mark.parametrize("in_channels,listing", [(3, "crowdnet_official_state_dict.txt"),
                                                 (4, "sefd_official_state_dict.txt")])
def test_state_dict_matches_the_official_key_list_line_by_line(body_model, vposer_file, in_channels, listing):
    reference = (REFERENCE / listing).read_text().splitlines()
    model = official_model(body_model, vposer_file, in_channels)
    ours = [f"{k} {tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}" for k, v in model.state_dict().items()]
    assert len(ours) == len(reference) == 1304
    for line, (mine, ref) in enumerate(zip(ours, reference), start=1):
        assert mine == ref, f"line {line}: {mine} != {ref}"
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == OFFICIAL_TRAINABLE[in_channels]
    assert sum(p.numel() for p in model.vposer.parameters()) > 0 and not any(
        p.requires_grad for p in model.vposer.parameters())


def test_official_file_loads_strictly_and_reproduces_outputs(body_model, vposer_file, tmp_path):
    source = official_model(body_model, vposer_file, in_channels=4, input_size=64, seed=0)
    with torch.no_grad():  # make BN statistics non-trivial so that a wrong copy would show
        for name, buf in source.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.01)
    path = tmp_path / "SEFD.pth.tar"
    save_official_file(source.eval(), path)
    state, epoch = read_official_checkpoint(str(path))
    assert epoch == 7 and not any(k.startswith("module.") for k in state) and checkpoint_input_channels(state) == 4

    target = CrowdNetRegressor(body_model, backbone="resnet50", input_size=64, in_channels=4, pose_head="vposer")
    info = load_official_checkpoint(str(path), target)
    assert info == {"epoch": 7, "input_channels": 4, "num_tensors": 1304}
    batch = random_batch(body_model, 2, 64, in_channels=4)
    with torch.no_grad():
        expected, got = source.eval()(batch), target.eval()(batch)
    for key in ("joints_img", "joints_score", "root_pose", "body_pose", "betas", "cam_trans", "vertices",
                "joints_proj"):
        assert torch.equal(expected[key], got[key]), key


def test_mismatching_model_gets_one_error_listing_the_differences(body_model, vposer_file, tmp_path):
    path = tmp_path / "snapshot_12.pth.tar"
    save_official_file(official_model(body_model, vposer_file, in_channels=4, input_size=64), path)
    rgb = CrowdNetRegressor(body_model, backbone="resnet50", input_size=64, pose_head="6d")
    with pytest.raises(ValueError) as err:
        load_official_checkpoint(str(path), rgb)
    msg = str(err.value)
    assert str(path) in msg
    assert "backbone.conv1.weight: file (64, 4, 7, 7) vs model (64, 3, 7, 7)" in msg
    assert "rotation_net.pose_out.0.weight: file (32, 1920) vs model (126, 1920)" in msg
    assert "unexpected keys (24): vposer.vposer.bodyprior_enc_bn1.weight" in msg
    assert "sefd.mode=edge_input" in msg and "model.pose_head='vposer'" in msg

    state = torch.load(path, weights_only=True)
    del state["network"]["module.rotation_net.cam_out.0.bias"]
    state["network"]["module.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys \(1\): rotation_net.cam_out.0.bias") as err:
        load_official_checkpoint(str(path), official_model(body_model, vposer_file, 4, 64))
    assert "unexpected keys (1): extra.weight" in str(err.value)


def test_unreadable_or_foreign_files_are_named(body_model, vposer_file, tmp_path):
    model = CrowdNetRegressor(body_model, backbone="resnet18", input_size=64)
    good = tmp_path / "small.pth.tar"
    torch.save({"epoch": 1, "network": {"module.x": torch.zeros(3)}, "optimizer": {}}, good)
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ValueError, match="truncated.pth.tar: not a readable PyTorch checkpoint"):
        load_official_checkpoint(str(truncated), model)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.txt: not a readable"):
        load_official_checkpoint(str(text), model)
    other = tmp_path / "state_only.pth"
    torch.save(model.state_dict(), other)
    with pytest.raises(ValueError, match="state_only.pth: not an official .*'network'"):
        load_official_checkpoint(str(other), model)
    with pytest.raises(FileNotFoundError, match="absent.pth.tar"):
        load_official_checkpoint(str(tmp_path / "absent.pth.tar"), model)
    with pytest.raises(ValueError, match="small.pth.tar: no 4-D 'backbone.conv1.weight'"):
        load_official_checkpoint(str(good), model)
