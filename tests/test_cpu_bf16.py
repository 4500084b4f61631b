"""CPU bfloat16 autocast (``train.cpu_bf16``) and the fused Adam: which precision runs where, and that a bf16
training step computes what the float32 step computes up to bf16 rounding of the networks."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from common.config import load_config
from common.engine.optim import autocast_dtype, build_grad_scaler, build_optimizer, training_autocast
from common.models import CrowdNetRegressor
from model_fixtures import TinySMPL, random_batch


@pytest.mark.parametrize("amp,cpu_bf16,device,expected", [
    (True, False, "cuda", torch.float16), (False, True, "cuda", None),  # cpu_bf16 does not touch CUDA
    (True, False, "cpu", None), (False, True, "cpu", torch.bfloat16), (True, True, "cpu", torch.bfloat16),
    (False, False, "cpu", None)])
def test_autocast_dtype_per_device(amp, cpu_bf16, device, expected):
    assert autocast_dtype(amp, cpu_bf16, torch.device(device)) == expected


def test_no_grad_scaler_on_cpu_even_with_bf16():
    assert not build_grad_scaler(True, torch.device("cpu")).is_enabled()  # bf16 keeps float32's exponent range


def _step(model, batch, bf16: bool):
    """Losses and gradients of one training forward/backward, autocast as the trainer enters it."""
    model.zero_grad(set_to_none=True)
    with training_autocast(False, bf16, torch.device("cpu")):
        preds = model(batch)
        terms = model.losses(batch, preds)
    sum(terms.values()).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return preds, {k: float(v.detach()) for k, v in terms.items()}, grads


def test_bf16_step_runs_the_backbone_in_bf16_and_the_body_model_in_float32():
    torch.manual_seed(0)
    body = TinySMPL(seed=0)
    # eval-mode BatchNorm: batch statistics of 4 random, near-identical inputs would amplify any rounding
    # (float32 vs float64 too); the real runs' first-epoch losses agree to 0.2 % (docs/benchmarks.md)
    model = CrowdNetRegressor(body, backbone="resnet18", input_size=64).eval()
    batch = random_batch(body, 4, 64)
    ref_model, seen = copy.deepcopy(model), {}  # copied before the hook (a deepcopy would copy the hook too)
    conv = model.backbone.layer4[0].conv1  # (BatchNorm outputs float32 under CPU autocast; the convs are bf16)
    hook = conv.register_forward_hook(lambda m, i, o: seen.update(layer4=o.dtype))  # returns None: output kept
    preds, terms, grads = _step(model, batch, True)
    _, ref_terms, ref_grads = _step(ref_model, batch, False)
    hook.remove()
    assert seen["layer4"] == torch.bfloat16  # the convolutions ran in bf16 ...
    for key in ("vertices", "joints_cam", "joints_proj", "root_pose", "body_pose", "betas"):
        assert preds[key].dtype == torch.float32, key  # ... the body model and the rotation decoding did not
    for key, value in ref_terms.items():  # bf16 has 8 mantissa bits
        assert terms[key] == pytest.approx(value, rel=0.01, abs=1e-4), key
    cosine = torch.nn.functional.cosine_similarity(grads, ref_grads, dim=0)
    assert cosine > 0.99, float(cosine)


def test_fused_adam_on_cpu_matches_the_reference_update(tmp_path):
    cfg = load_config(None, ["train.lr=0.01"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ref = copy.deepcopy(model)
    fused, plain = build_optimizer(model, cfg.train), torch.optim.Adam(ref.parameters(), lr=0.01)
    assert fused.defaults["fused"] is True
    x = torch.randn(16, 6)
    for _ in range(5):
        for net, opt in ((model, fused), (ref, plain)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_training_loop_runs_and_learns_under_cpu_bf16(tmp_path):
    from engine_fixtures import run_toy_training, toy_config

    _, state, _ = run_toy_training(toy_config(tmp_path, "train.cpu_bf16=true", "train.epochs=3"))
    lines = (tmp_path / "toy" / "metrics.jsonl").read_text().splitlines()
    epochs = [r for r in map(json.loads, lines) if r["split"] == "train_epoch"]
    assert state.iteration == 12 and epochs[-1]["total"] < 0.8 * epochs[0]["total"]
