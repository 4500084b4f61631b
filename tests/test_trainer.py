"""The training loop on the toy model: exact resume, schedules, logging, clipping, evaluation, CLI errors."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.engine import (
    CheckpointError,
    DistInfo,
    TrainingRun,
    build_grad_scaler,
    build_optimizer,
    build_scheduler,
    fit,
    iterations_per_epoch,
)
from common.engine.logger import RunLogger
from common.evaluation import MeshEvaluator
from common.render import visualize as _visualize  # noqa: F401  (imported directly: a broken module fails here)
from common.render.training_images import training_visualizer
from engine_fixtures import ToyBodyModel, ToyDataset, ToyModel, make_loader, run_toy_training, toy_config

REPO = Path(__file__).resolve().parent.parent


def _records(run_dir, split):
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_reproduces_uninterrupted_run_bitwise(tmp_path, num_workers):
    opts = ("train.grad_clip=1.0", "train.epochs=2")
    straight, s_state, _ = run_toy_training(toy_config(tmp_path / "a", *opts), dropout=0.3, augment=True,
                                            num_workers=num_workers)
    first = toy_config(tmp_path / "b", *opts, "train.epochs=1")
    run_toy_training(first, dropout=0.3, augment=True, num_workers=num_workers)
    ckpt = tmp_path / "b" / "toy" / "ckpt_epoch0001.pth"
    resumed, r_state, _ = run_toy_training(toy_config(tmp_path / "b", *opts), dropout=0.3, augment=True,
                                           num_workers=num_workers, resume=str(ckpt))
    assert (r_state.epoch, r_state.iteration) == (s_state.epoch, s_state.iteration) == (2, 8)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert r_state.last_train == s_state.last_train
    # The comparison is sensitive: another seed (other shuffle/dropout/augmentation) gives other weights.
    other, _, _ = run_toy_training(toy_config(tmp_path / "c", *opts, "experiment.seed=1"), dropout=0.3,
                                   augment=True, num_workers=num_workers)
    assert not all(torch.equal(straight[k], other[k]) for k in straight)


def test_logging_schedule_and_checkpoints(tmp_path):
    cfg = toy_config(tmp_path, "train.epochs=3", "train.keep_last=2", "train.log_every=2")
    _, state, _ = run_toy_training(cfg)
    run_dir = tmp_path / "toy"
    iters = _records(run_dir, "train")
    assert [r["iteration"] for r in iters] == [2, 4, 6, 8, 10, 12]  # 16 samples / batch 4 = 4 steps per epoch
    assert set(iters[0]) >= {"pose_param", "shape_param", "total", "lr", "epoch"}
    assert iters[0]["total"] == pytest.approx(iters[0]["pose_param"] + iters[0]["shape_param"], rel=1e-6)
    epochs = _records(run_dir, "train_epoch")
    assert [r["lr"] for r in epochs] == pytest.approx([0.01, 0.005, 0.005])  # lr_steps=[1], factor 0.5
    assert epochs[-1]["total"] < 0.8 * epochs[0]["total"]  # it learns
    assert sorted(p.name for p in run_dir.glob("ckpt_*.pth")) == ["ckpt_epoch0002.pth", "ckpt_epoch0003.pth"]
    assert (run_dir / "latest").read_text().strip() == "ckpt_epoch0003.pth"


def _toy_parts(cfg, num_samples=16):
    torch.manual_seed(0)
    model = ToyModel(ToyBodyModel())
    optimizer = build_optimizer(model, cfg.train)
    loader = make_loader(ToyDataset(num_samples), cfg.data.batch_size, 0)
    steps = iterations_per_epoch(len(loader), cfg.train.max_iters_per_epoch)
    return (model, loader, optimizer, build_scheduler(optimizer, cfg.train, steps),
            build_grad_scaler(cfg.train.amp, torch.device("cpu")))


def test_max_iters_grad_clip_and_images(tmp_path, monkeypatch):
    cfg = toy_config(tmp_path, "train.max_iters_per_epoch=3", "train.grad_clip=0.25", "train.image_log_every=2",
                     "train.ckpt_every=2")
    model, loader, optimizer, scheduler, scaler = _toy_parts(cfg)
    clip_calls, shown = [], []
    original = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda params, max_norm, **kw: clip_calls.append(max_norm) or original(params, max_norm))

    def visualize(batch, preds):
        shown.append(preds["vertices"].shape)
        return {"img": torch.zeros(8, 8, 3, dtype=torch.uint8).numpy()}

    info = DistInfo()
    logger = RunLogger(tmp_path / "run", tensorboard=True)
    state = fit(TrainingRun(model, loader, optimizer, scheduler, scaler, cfg, tmp_path / "run", info, logger,
                            visualize=visualize, progress=False))
    logger.close()
    assert state.iteration == 6 and clip_calls == [0.25] * 6  # 2 epochs x 3 capped steps, each clipped
    assert len(shown) == 3  # iterations 2, 4, 6
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    # ckpt_every=2 (0 is now a config error): only the second epoch is saved
    assert [p.name for p in (tmp_path / "run").glob("ckpt_*.pth")] == ["ckpt_epoch0002.pth"]


def test_non_finite_loss_stops_with_clear_error(tmp_path):
    cfg = toy_config(tmp_path)
    model, loader, optimizer, scheduler, scaler = _toy_parts(cfg)
    model.losses = lambda batch, preds: {"bad": preds["pose"].sum() * float("nan")}
    with pytest.raises(FloatingPointError, match="iteration 0: non-finite loss"):
        fit(TrainingRun(model, loader, optimizer, scheduler, scaler, cfg, tmp_path, DistInfo(), RunLogger(None),
                        progress=False))


def test_periodic_evaluation_writes_metrics(tmp_path):
    cfg = toy_config(tmp_path, "train.eval_every=1", "train.epochs=2")
    model, loader, optimizer, scheduler, scaler = _toy_parts(cfg)
    test_loader = make_loader(ToyDataset(7), 3, 0, shuffle=False)
    evaluator = MeshEvaluator(ToyBodyModel())
    run_dir = tmp_path / "run"
    state = fit(TrainingRun(model, loader, optimizer, scheduler, scaler, cfg, run_dir, DistInfo(), RunLogger(run_dir),
                            evaluator=evaluator, test_loader=test_loader, progress=False))
    assert state.last_eval["num_evaluated"] == 7 and state.last_eval["complete"]
    for epoch in (1, 2):
        saved = json.loads((run_dir / "eval" / f"epoch{epoch:04d}" / "metrics.json").read_text())
        assert saved["num_evaluated"] == 7 and saved["mpjpe"] > 0
    tests = _records(run_dir, "test")
    assert [r["epoch"] for r in tests] == [1, 2]
    assert tests[-1]["strata/occ<0.1/num_samples"] == 2 and tests[-1]["mpjpe"] == pytest.approx(saved["mpjpe"])


def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"crowdmesh_{name}", REPO / "main" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_train_script_with_toy_components_and_auto_resume(tmp_path):
    train_script = _load_script("train")

    def build(cfg, info):
        model = ToyModel(ToyBodyModel())
        return train_script.Components(model, ToyBodyModel(), make_loader(ToyDataset(16), 4, cfg.experiment.seed),
                                       make_loader(ToyDataset(5), 2, 0, shuffle=False))

    cfg = toy_config(tmp_path, "train.epochs=1", "train.eval_every=1")
    state = train_script.train(cfg, DistInfo(), build=build, progress=False)
    run_dir = tmp_path / "toy"
    assert state.epoch == 1 and (run_dir / "config.yaml").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["eval"]["num_evaluated"] == 5 and summary["iterations"] == 4
    more = train_script.train(toy_config(tmp_path, "train.epochs=2", "train.resume=auto"), DistInfo(),
                              build=build, progress=False)
    assert (more.epoch, more.iteration) == (2, 8)
    assert "resumed from" in (run_dir / "log.txt").read_text()


def test_test_script_evaluates_checkpoint_and_explains_mismatch(tmp_path, capsys):
    cfg = toy_config(tmp_path, "train.epochs=1")
    run_toy_training(cfg)
    ckpt = str(tmp_path / "toy" / "ckpt_epoch0001.pth")
    test_script = _load_script("test")

    def build(cfg, info, hidden=32):
        return ToyModel(ToyBodyModel(), hidden=hidden), ToyBodyModel(), make_loader(ToyDataset(5), 2, 0, shuffle=False)

    summary = test_script.run_test(cfg, DistInfo(), ckpt, tmp_path / "out", build=build, progress=False)
    assert summary["num_evaluated"] == 5 and (tmp_path / "out" / "per_sample.jsonl").is_file()
    assert "PA-MPJPE" in capsys.readouterr().out
    other = toy_config(tmp_path, "model.backbone=resnet34")
    with pytest.raises(CheckpointError, match=r"net.0.weight.*hint: .*model.backbone: 'resnet50' \(checkpoint\) "
                                              r"vs 'resnet34'"):
        test_script.run_test(other, DistInfo(), ckpt, tmp_path / "out2",
                             build=lambda c, i: build(c, i, hidden=8), progress=False)


def test_training_visualizer_gives_uint8_images():
    body = ToyBodyModel()
    model = torch.nn.Module()
    model.input_size, model.focal, model.faces = 64, 100.0, body.faces
    batch = {"img": torch.rand(2, 3, 64, 64), "pose2d": torch.rand(2, 30, 2) * 64, "pose2d_valid": torch.ones(2, 30)}
    verts = body(torch.zeros(2, 3), torch.zeros(2, 69), torch.zeros(2, 10)).vertices + torch.tensor([0, 0, 3.0])
    visualize = training_visualizer(model)
    assert visualize is not None  # the project's own drawing module imports (common.render.visualize)
    images = visualize(batch, {"vertices": verts, "joints_proj": torch.rand(2, 30, 2) * 64})
    assert set(images) == {"pose2d", "mesh"}
    assert all(im.shape == (64, 64, 3) and im.dtype == np.uint8 for im in images.values())
    assert (images["mesh"] != images["pose2d"]).any()


@pytest.mark.parametrize("script, args, message", [
    ("train", ["--cfg", "no_such.yaml"], "no_such.yaml: config file not found"),
    ("train", ["--cfg", "{cfg}", "--opts", "train.lrr=1"], "did you mean 'lr'"),
    ("train", ["--cfg", "{cfg}", "--resume", "missing.pth"], "missing.pth: checkpoint not found"),
    ("test", ["--cfg", "{cfg}", "--ckpt", "missing.pth"], "missing.pth: checkpoint not found"),
    ("test", ["--cfg", "{cfg}", "--opts", "experiment.device=cuda:7"], "experiment.device"),
])
def test_cli_user_errors_are_one_line(tmp_path, capsys, script, args, message):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"experiment:\n  output_dir: {tmp_path}\n")
    assert _load_script(script).main([a.format(cfg=cfg) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize("script", ["train", "test"])
def test_scripts_run_from_repo_root(tmp_path, script):
    """``python main/X.py`` from the repo root (installed package, no sys.path tricks): clean one-line error."""
    done = subprocess.run([sys.executable, f"main/{script}.py", "--cfg", str(tmp_path / "none.yaml")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path / 'none.yaml'}: config file not found\n"
