"""Bad input through the real entry points (issue 10, section 2): one table, one row per case.

Every row runs ``main(argv)`` of main/train.py, main/test.py or demo/demo.py in-process and checks the contract
of docs/DESIGN.md: exit code 2, exactly one ``error:`` line on stderr naming the file or key, no traceback, and
nothing already written is lost (the previous checkpoint still loads). Training rows use a toy model
(tests/engine_fixtures.py) in place of ``build_components``: the run folder, config, checkpoint and error paths
are the real ones. stderr is read as a terminal shows it: a training progress bar that redraws and clears its
line with '\r' is not a line (the rendering bar of the synthetic cache is switched off with ``TQDM_DISABLE``).
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from engine_fixtures import ToyBodyModel, ToyDataset, ToyModel, make_loader

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "configs" / "tiny_e2e.yaml"
OFFICIAL = REPO / "configs" / "official_3dcrowdnet.yaml"
# tiny_e2e's synthetic world (cached once), for configs that do not set it
TINY_WORLD = ["data.test_set=synthetic", "data.test_subset=", "body_model.source=open", "data.num_workers=0",
              "data.synthetic.num_train_images=8", "data.synthetic.num_test_images=3",
              "data.synthetic.image_size=128", "data.synthetic.max_people=3", "data.synthetic.seed=4321",
              "experiment.device=cpu", "test.batch_size=8"]
NAN_KEY = "position_net.conv.0.bias"


# --- helpers ---------------------------------------------------------------------------------------------------
def _entry(name: str) -> Callable[[list[str]], int]:
    if name == "train":
        from main.train import main
    elif name == "test":
        from main.test import main
    else:
        from demo.demo import main
    return main


def _visible_lines(err: str) -> list[str]:
    """stderr as a terminal shows it: a progress bar redraws its line with '\r' and clears it when it closes."""
    return [line.rsplit("\r", 1)[-1] for line in err.split("\n") if line.rsplit("\r", 1)[-1].strip()]


def _error_line(code: int, err: str) -> str:
    """The one stderr line of a refused run (exit code 2)."""
    lines = _visible_lines(err)
    assert code == 2, f"exit code {code}, stderr:\n{err}"
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _toy_components(cfg, info):
    """Stands in for main.train.build_components: toy model and data, no evaluation."""
    from main.train import Components

    body = ToyBodyModel()
    return Components(ToyModel(body), body, make_loader(ToyDataset(8), cfg.data.batch_size, cfg.experiment.seed))


def _toy_train_argv(out: Path, *extra: str) -> list[str]:
    return ["--cfg", str(TINY), "--opts", f"experiment.output_dir={out}", "experiment.name=toy",
            "experiment.device=cpu", "train.eval_every=0", "train.image_log_every=0", "train.epochs=2",
            "train.keep_last=2",
            "data.num_workers=0", *extra]


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    """Progress bars (training, rendering the synthetic world into the cache) also write to stderr."""
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture()
def toy_training(monkeypatch):
    import main.train as train_main

    monkeypatch.setattr(train_main, "build_components", _toy_components)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


@pytest.fixture(scope="module")
def tiny_ckpts(tmp_path_factory):
    """A real tiny_e2e checkpoint (64 px ResNet-18), the same with NaN in one tensor, and an official-layout
    file (which carries no config): (good, nan, official)."""
    from common.body_models import body_model_from_config
    from common.config import load_config
    from common.engine.checkpoint import save_checkpoint
    from common.models.build import build_model
    from data.synthetic.dataset import synthetic_split_dir

    folder = tmp_path_factory.mktemp("ckpts")
    cfg = load_config(TINY, ["experiment.device=cpu"])
    body = body_model_from_config(cfg, kind="smpl")
    for split in ("train", "test"):  # render the tiny world now: on a cold cache its progress bars would show
        synthetic_split_dir(split, cfg, body, progress=False)  # up in the stderr the cases count
    model = build_model(cfg, body)
    good = save_checkpoint(folder / "good" / "ckpt_epoch0001.pth", model, epoch=1, cfg=cfg)
    with torch.no_grad():
        dict(model.named_parameters())[NAN_KEY][0] = float("nan")
    nan = save_checkpoint(folder / "nan" / "ckpt_epoch0001.pth", model, epoch=1, cfg=cfg)
    official = folder / "snapshot_6.pth.tar"  # the release layout; its shapes do not matter: geometry fails first
    torch.save({"epoch": 6, "network": {"module.backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}}, official)
    yield good, nan, official
    shutil.rmtree(folder, ignore_errors=True)  # checkpoints: the suite must fit a small CI disk


# --- the table -------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """``make(tmp_path, ckpts)`` -> (argv, needles that the error line must contain, files that must not change)."""

    name: str
    entry: str  # train | test | demo
    make: Callable[[Path, tuple], tuple[list[str], list[str], list[Path]]]
    toy: bool = False  # training with the toy model (needs the toy_training fixture)


def _opt(entry: str, *opts: str, cfg: Path = TINY) -> Callable:
    """A config case: ``--opts`` on top of ``cfg``; the error must name the first option's key."""
    def make(tmp: Path, ckpts: tuple):
        argv = ["--cfg", str(cfg), "--opts", f"experiment.output_dir={tmp}", *opts]
        if entry == "test":
            argv += ["--out", str(tmp / "out")]
        key = opts[0].split("=")[0]
        return argv, [key], []
    return make


def _broken_yaml(tmp: Path, ckpts: tuple):
    bad = tmp / "broken.yaml"
    bad.write_text("train:\n  lr: 1.0e-4\n   epochs: 2\n")  # a key indented under a scalar
    return ["--cfg", str(bad)], [str(bad), "line 3, column"], [bad]


def _malformed_opts(tmp: Path, ckpts: tuple):
    return ["--cfg", str(TINY), "--opts", "train.lr_steps=[1,"], ["--opts 'train.lr_steps=[1,'", "column"], []


def _test_out_is_a_file(tmp: Path, ckpts: tuple):
    out = tmp / "metrics_here.txt"
    out.write_text("keep me\n")
    return ["--cfg", str(TINY), "--out", str(out), "--opts", *TINY_WORLD], [str(out), "existing file"], [out]


def _demo_output_under_a_file(tmp: Path, ckpts: tuple):
    blocker = tmp / "blocker"
    blocker.write_text("keep me\n")
    argv = ["--img_idx", "0", "--output", str(blocker / "out"), "--cfg", str(TINY), "--opts", "experiment.device=cpu"]
    return argv, [str(blocker / "out"), "a file is in the way"], [blocker]


def _demo_image_entry_is_a_folder(tmp: Path, ckpts: tuple):
    inputs = tmp / "input"
    shutil.copytree(REPO / "demo" / "input", inputs)
    (inputs / "images" / "scene_00b.jpg").mkdir()  # sorts between scene_00 and scene_01: would shift indices
    argv = ["--img_idx", "1", "--input", str(inputs), "--output", str(tmp / "out"), "--cfg", str(TINY)]
    return argv, ["scene_00b.jpg", "is a folder"], []


def _corrupt_smpl(tmp: Path, ckpts: tuple):
    pkl = tmp / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(b"\x80\x04\x95garbage")  # a truncated pickle
    argv = ["--cfg", str(TINY), "--out", str(tmp / "out"), "--opts", *TINY_WORLD, "body_model.source=official",
            f"body_model.smpl_path={pkl}"]
    return argv, [str(pkl), "SMPL"], [pkl]


def _nan_checkpoint(tmp: Path, ckpts: tuple):
    _, nan, _ = ckpts
    argv = ["--cfg", str(TINY), "--ckpt", str(nan), "--out", str(tmp / "out"), "--opts", *TINY_WORLD]
    return argv, [str(nan), NAN_KEY, "NaN"], [nan]


def _other_input_size(tmp: Path, ckpts: tuple):
    good, _, _ = ckpts
    argv = ["--cfg", str(TINY), "--ckpt", str(good), "--out", str(tmp / "out"), "--opts", *TINY_WORLD,
            "data.input_size=96"]
    return argv, [str(good), "data.input_size 64 (checkpoint) vs 96 (model)"], [good]


def _official_at_96px(tmp: Path, ckpts: tuple):
    _, _, official = ckpts
    argv = ["--cfg", str(OFFICIAL), "--ckpt", str(official), "--out", str(tmp / "out"), "--opts", *TINY_WORLD,
            "data.input_size=96"]
    return argv, [str(official), "data.input_size 256 (checkpoint) vs 96 (model)"], [official]


def _read_only_output(tmp: Path, ckpts: tuple):
    folder = tmp / "read_only"
    folder.mkdir()
    _make_read_only(folder)
    return _toy_train_argv(folder), [str(folder / "toy"), "cannot write the run folder"], []


def _make_read_only(folder: Path) -> None:
    """chmod 555; root ignores that, so there the immutable attribute (chattr +i) is tried; skip if neither."""
    folder.chmod(0o555)
    if not _writable(folder):
        return
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False).returncode == 0:
        _IMMUTABLE.append(folder)
        if not _writable(folder):
            return
    pytest.skip("cannot make a read-only folder on this machine")


_IMMUTABLE: list[Path] = []


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def _fresh_run_over_earlier(tmp: Path, ckpts: tuple):
    from main.train import main

    assert main(_toy_train_argv(tmp, "train.epochs=1")) == 0  # the earlier run
    run_dir = tmp / "toy"
    return _toy_train_argv(tmp), [str(run_dir), "--resume auto", "--overwrite"], [run_dir / "ckpt_epoch0001.pth",
                                                                                  run_dir / "latest"]


CASES = [
    Case("lr_zero", "train", _opt("train", "train.lr=0")),
    Case("batch_size_zero", "train", _opt("train", "data.batch_size=0")),
    Case("negative_workers", "train", _opt("train", "data.num_workers=-1")),
    Case("negative_max_iters", "train", _opt("train", "train.max_iters_per_epoch=-1")),
    Case("ckpt_every_zero", "train", _opt("train", "train.ckpt_every=0")),
    Case("keep_last_zero", "train", _opt("train", "train.keep_last=0")),
    Case("epochs_zero", "train", _opt("train", "train.epochs=0")),
    Case("probability_above_one", "train", _opt("train", "data.flip_prob=1.5")),
    Case("input_size_zero", "train", _opt("train", "data.input_size=0")),
    Case("test_batch_size_zero", "test", _opt("test", "test.batch_size=0")),
    Case("unknown_train_set", "train", _opt("train", "data.train_sets=[synthetic, cocoo]")),
    Case("unknown_test_set", "test", _opt("test", "data.test_set=3dpww")),
    Case("broken_yaml", "train", _broken_yaml),
    Case("malformed_opts", "test", _malformed_opts),
    Case("test_out_is_a_file", "test", _test_out_is_a_file),
    Case("demo_output_under_a_file", "demo", _demo_output_under_a_file),
    Case("demo_image_entry_is_a_folder", "demo", _demo_image_entry_is_a_folder),
    Case("corrupt_smpl_pkl", "test", _corrupt_smpl),
    Case("nan_checkpoint", "test", _nan_checkpoint),
    Case("checkpoint_of_another_input_size", "test", _other_input_size),
    Case("official_weights_at_96px", "test", _official_at_96px),
    Case("read_only_output_folder", "train", _read_only_output, toy=True),
    Case("fresh_run_over_an_earlier_run", "train", _fresh_run_over_earlier, toy=True),
]
EXTRA_NEEDLES = {"unknown_train_set": ["data.train_sets[1]", "cocoo", "did you mean 'mscoco'"],
                 "unknown_test_set": ["'3dpww'", "did you mean '3dpw'"],
                 "lr_zero": ["0.0", "> 0"], "ckpt_every_zero": [">= 1"], "negative_workers": ["-1"]}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_loses_nothing(case, tmp_path, tiny_ckpts, capsys, request):
    if case.toy:
        request.getfixturevalue("toy_training")
    try:
        argv, needles, kept = case.make(tmp_path, tiny_ckpts)
        before = {path: path.read_bytes() for path in kept}
        capsys.readouterr()
        code = _entry(case.entry)(argv)
        line = _error_line(code, capsys.readouterr().err)
    finally:
        for folder in _IMMUTABLE:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
        _IMMUTABLE.clear()
    for needle in needles + EXTRA_NEEDLES.get(case.name, []):
        assert needle in line, f"{needle!r} not in {line!r}"
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed"


# --- cases that need more than one call -------------------------------------------------------------------------
def test_disk_full_during_checkpoint_save_keeps_the_previous_one(tmp_path, toy_training, capsys, monkeypatch):
    """The second epoch's save hits ENOSPC half-way: one line naming the checkpoint, epoch 1 and `latest` intact,
    no temporary file left."""
    from common.engine import checkpoint as ckpt_module
    from common.engine.checkpoint import latest_checkpoint, read_checkpoint
    from main.train import main

    real_save, calls = torch.save, []

    def disk_fills_up(obj, handle, *args, **kwargs):
        calls.append(handle)
        if len(calls) == 2:
            handle.write(b"partial checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(ckpt_module.torch, "save", disk_fills_up)
    run_dir = tmp_path / "toy"
    line = _error_line(main(_toy_train_argv(tmp_path)), capsys.readouterr().err)
    assert str(run_dir / "ckpt_epoch0002.pth") in line and "disk full" in line
    assert latest_checkpoint(run_dir) == run_dir / "ckpt_epoch0001.pth"
    assert read_checkpoint(run_dir / "ckpt_epoch0001.pth")["epoch"] == 1
    assert not [p.name for p in run_dir.iterdir() if ".tmp" in p.name]


def test_overwrite_and_resume_are_the_two_ways_on(tmp_path, toy_training, capsys):
    from main.train import main

    assert main(_toy_train_argv(tmp_path, "train.epochs=1")) == 0
    assert main(_toy_train_argv(tmp_path)) == 2  # refused (the table row checks the message)
    assert main(["--resume", "auto", *_toy_train_argv(tmp_path)]) == 0
    run_dir = tmp_path / "toy"
    assert (run_dir / "latest").read_text().strip() == "ckpt_epoch0002.pth"
    assert main(["--overwrite", *_toy_train_argv(tmp_path, "train.epochs=1")]) == 0
    assert sorted(p.name for p in run_dir.glob("ckpt_*.pth")) == ["ckpt_epoch0001.pth"]  # epoch 2 of before: gone
    assert "--overwrite: deleted 2 checkpoint(s)" in (run_dir / "log.txt").read_text()


def test_stale_temporary_checkpoints_of_dead_processes_are_removed_at_start(tmp_path, toy_training):
    from common.engine.checkpoint import temporary_path
    from main.train import main

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "toy"
    run_dir.mkdir()
    ours = temporary_path(run_dir / "ckpt_epoch0003.pth")
    host = ours.name.rsplit(".", 1)[1]
    stale = [run_dir / f".ckpt_epoch0003.pth.tmp{dead.pid}.{host}",  # this host, dead process
             run_dir / f".ckpt_epoch0002.pth.tmp{dead.pid}"]  # the older naming, without the host
    alive = [run_dir / f".ckpt_epoch0002.pth.tmp{dead.pid}.otherhost",  # another host: cannot tell, kept
             run_dir / f".ckpt_epoch0003.pth.tmp1.{host}"]  # pid 1 is alive
    assert ours.name == f".ckpt_epoch0003.pth.tmp{os.getpid()}.{host}"
    for path in stale + alive:
        path.write_bytes(b"half a checkpoint")
    assert main(_toy_train_argv(tmp_path, "train.epochs=1")) == 0
    assert not any(p.exists() for p in stale) and all(p.exists() for p in alive)
    assert "a temporary checkpoint file left by a killed run" in (run_dir / "log.txt").read_text()


def test_one_process_exit_code_and_single_stderr_line(tmp_path):
    """The same contract from a real process (no pytest capture): exit status 2, one stderr line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "main/train.py", "--cfg", str(TINY), "--opts", "train.lr=0"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2 and proc.stderr.splitlines() == \
        ["error: --opts train.lr: 0.0 is out of range (must be > 0)"]
