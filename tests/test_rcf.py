"""RCF edge network: layout of the RCF-PyTorch weights, output shapes, strict loading (random weights)."""
from __future__ import annotations

import pytest
import torch

from common.nets.rcf import (
    CAFFE_BGR_MEAN,
    RCF,
    bilinear_upsample_kernel,
    build_rcf,
    load_rcf_weights,
    rcf_input_from_rgb,
)


@pytest.fixture(scope="module")
def rcf() -> RCF:
    torch.manual_seed(0)
    return RCF().eval()


def test_parameter_layout(rcf):
    state = rcf.state_dict()
    assert len(state) == 2 * (13 + 13 + 5 + 1)  # conv, conv_down, score_dsn, score_final: weight + bias
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert state["conv5_3.weight"].shape == (512, 512, 3, 3) and rcf.conv5_3.dilation == (2, 2)
    assert state["conv4_2_down.weight"].shape == (21, 512, 1, 1)
    assert state["score_dsn3.weight"].shape == (1, 21, 1, 1)
    assert state["score_final.weight"].shape == (1, 5, 1, 1)
    assert not any(k.startswith("upsample") for k in state)  # fixed bilinear kernels are not saved


def test_forward_shapes(rcf):
    with torch.no_grad():
        outputs = rcf(rcf_input_from_rgb(torch.rand(2, 3, 72, 56)))
    assert len(outputs) == 6
    for out in outputs:
        assert out.shape == (2, 1, 72, 56)
        assert torch.isfinite(out).all() and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert rcf.edge_map(torch.rand(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_bilinear_kernel_and_preprocessing():
    kernel = bilinear_upsample_kernel(4)[0, 0]
    ramp = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(kernel, torch.outer(ramp, ramp))
    rgb = torch.zeros(1, 3, 1, 1)
    rgb[0, 0] = 1.0  # pure red
    bgr = rcf_input_from_rgb(rgb)[0, :, 0, 0]
    assert torch.allclose(bgr, torch.tensor([-CAFFE_BGR_MEAN[0], -CAFFE_BGR_MEAN[1], 255.0 - CAFFE_BGR_MEAN[2]]))


def test_loading_published_layouts(tmp_path, rcf):
    wrapped = {"module." + k: v for k, v in rcf.state_dict().items()}
    path = tmp_path / "RCFcheckpoint_epoch12.pth"
    torch.save({"epoch": 12, "state_dict": wrapped}, path)
    loaded = build_rcf(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded.score_final.weight, rcf.score_final.weight)


def test_wrong_keys_raise_one_error_naming_file_and_keys(tmp_path, rcf):
    state = dict(rcf.state_dict())
    state["score_fuse.weight"] = state.pop("score_final.weight")  # the yun-liu/RCF-PyTorch naming
    path = tmp_path / "other_rcf.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_rcf_weights(RCF(), path)
    message = str(err.value)
    assert "other_rcf.pth" in message and "score_final.weight" in message and "score_fuse.weight" in message
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_rcf(tmp_path / "missing.pth")
