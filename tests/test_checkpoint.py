"""Checkpoints: round trip, atomic writes, keep-last-K, latest pointer, clear errors, strict loading."""
import random

import numpy as np
import pytest
import torch
from torch import nn

from common.config import config_from_dict
from common.engine import (
    CheckpointError,
    build_grad_scaler,
    build_optimizer,
    build_scheduler,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    load_model_weights,
    resolve_resume,
    save_checkpoint,
)
from common.engine import checkpoint as ckpt_module
from engine_fixtures import ToyBodyModel, ToyModel, toy_config


def _parts(cfg, seed=0):
    torch.manual_seed(seed)
    model = ToyModel(ToyBodyModel())
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, iters_per_epoch=1)
    return model, optimizer, scheduler, build_grad_scaler(True, torch.device("cpu"))


def _one_step(model, optimizer, scheduler):
    out = model.net(torch.randn(4, 16))
    out.square().mean().backward()
    optimizer.step()
    scheduler.step()


def test_round_trip_restores_everything(tmp_path):
    cfg = toy_config(tmp_path)
    model, optimizer, scheduler, scaler = _parts(cfg)
    _one_step(model, optimizer, scheduler)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    path = save_checkpoint(checkpoint_path(tmp_path, 3), model, optimizer, scheduler, scaler, epoch=3,
                           iteration=42, cfg=cfg, extra={"note": "x"})
    expected_draws = (random.random(), np.random.rand(), torch.rand(1))
    model2, optimizer2, scheduler2, scaler2 = _parts(cfg, seed=1)
    payload = load_checkpoint(path, model2, optimizer2, scheduler2, scaler2, restore_rng=True)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected_draws  # RNG streams continue
    assert payload["epoch"] == 3 and payload["iteration"] == 42 and payload["extra"] == {"note": "x"}
    assert config_from_dict(payload["config"]) == cfg
    for key, value in model.state_dict().items():
        assert torch.equal(value, model2.state_dict()[key]) and not key.startswith("module.")
    assert str(optimizer2.state_dict()) == str(optimizer.state_dict())
    assert scheduler2.state_dict() == scheduler.state_dict() and scheduler2.get_last_lr() == [0.005]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_epoch0003.pth", "latest"]  # no temp files


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "ckpt_epoch0001.pth", model, epoch=1)
    before = path.read_bytes()

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_epoch0001.pth", "latest"]


def test_keep_last_and_latest_pointer(tmp_path):
    model = nn.Linear(2, 2)
    for epoch in range(1, 6):
        save_checkpoint(checkpoint_path(tmp_path, epoch), model, epoch=epoch, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("ckpt_epoch*.pth")) == ["ckpt_epoch0004.pth", "ckpt_epoch0005.pth"]
    assert (tmp_path / "latest").read_text().strip() == "ckpt_epoch0005.pth"
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt_epoch0005.pth"
    assert resolve_resume("auto", tmp_path) == tmp_path / "ckpt_epoch0005.pth"
    assert resolve_resume(str(tmp_path), tmp_path) == tmp_path / "ckpt_epoch0005.pth"
    (tmp_path / "latest").unlink()  # pointer lost: fall back to the highest epoch
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt_epoch0005.pth"


def test_resume_resolution_errors(tmp_path):
    assert resolve_resume("", tmp_path) is None
    assert resolve_resume("auto", tmp_path / "empty") is None  # nothing yet: start fresh
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        resolve_resume(str(tmp_path / "missing.pth"), tmp_path)


def test_corrupt_truncated_and_foreign_files(tmp_path):
    model = nn.Linear(2, 2)
    good = save_checkpoint(tmp_path / "good.pth", model)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.zeros(2)}, foreign)
    for path, message in ((truncated, "truncated or corrupt"), (garbage, "truncated or corrupt"),
                          (foreign, "not a crowdmesh checkpoint")):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path, model)
        assert str(path) in str(err.value) and message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth", model)


def test_strict_loading_lists_mismatches(tmp_path):
    path = save_checkpoint(tmp_path / "a.pth", nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1), nn.Linear(1, 1)))
    assert "missing keys (2): 2.bias, 2.weight" in str(err.value)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(2\): 1.bias, 1.weight"):
        load_checkpoint(path, nn.Sequential(nn.Linear(2, 3)))
    with pytest.raises(CheckpointError, match=r"shape mismatch \(2\): 0.bias \(3,\) vs model \(4,\)"):
        load_checkpoint(path, nn.Sequential(nn.Linear(2, 4), nn.Linear(3, 1)))


def test_wrapped_model_saved_without_module_prefix(tmp_path):
    inner = nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "w.pth", nn.DataParallel(inner))
    assert list(torch.load(path, weights_only=True)["model"]) == ["weight", "bias"]
    target = nn.Linear(2, 2)
    meta = load_model_weights(path, target)
    assert torch.equal(target.weight, inner.weight) and meta["epoch"] == 0


def test_official_checkpoint_goes_through_the_model_loader(tmp_path):
    path = tmp_path / "snapshot_10.pth.tar"
    torch.save({"network": {"module.backbone.conv1.weight": torch.zeros(1)}, "epoch": 10}, path)
    with pytest.raises(CheckpointError, match="snapshot_10.pth.tar"):  # not a 4-D conv1: refused, file named
        load_model_weights(path, nn.Linear(2, 2))
