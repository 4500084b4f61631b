"""End to end through the real entry points: main/train.py -> main/test.py -> demo/demo.py (configs/tiny_e2e.yaml).

ResNet-18 on 64 px crops, a tiny synthetic world (rendered into the shared cache on first use, like the open
body model), one short epoch. About a minute on 2 CPU cores; the numbers mean nothing, the plumbing is checked.
"""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
CFG = REPO / "configs" / "tiny_e2e.yaml"


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[0]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _obj_counts(path: Path) -> tuple[int, int]:
    lines = path.read_text().splitlines()
    return sum(line.startswith("v ") for line in lines), sum(line.startswith("f ") for line in lines)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Train, test and demo once; returns the folders."""
    out = tmp_path_factory.mktemp("e2e")
    _run("main/train.py", "--cfg", str(CFG), "--opts", f"experiment.output_dir={out}")
    run_dir = out / "tiny_e2e"
    ckpt = run_dir / "ckpt_epoch0001.pth"
    test_out = out / "test"
    _run("main/test.py", "--cfg", str(CFG), "--ckpt", str(ckpt), "--out", str(test_out),
         "--opts", f"experiment.output_dir={out}")
    demo_out = out / "demo"
    demo = _run("demo/demo.py", "--img_idx", "0", "--ckpt", str(ckpt), "--output", str(demo_out))
    yield {"run_dir": run_dir, "ckpt": ckpt, "test_out": test_out, "demo_out": demo_out, "demo_log": demo.stdout}
    shutil.rmtree(out, ignore_errors=True)  # checkpoints: the suite must fit a small CI disk


def test_training_writes_checkpoint_config_and_periodic_eval(run):
    run_dir = run["run_dir"]
    assert run["ckpt"].is_file() and (run_dir / "config.yaml").is_file()
    assert (run_dir / "latest").read_text().strip() == "ckpt_epoch0001.pth"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["iterations"] >= 1
    assert math.isfinite(summary["train"]["total"])
    assert (run_dir / "eval" / "epoch0001" / "metrics.json").is_file()


def test_every_test_sample_is_evaluated_with_finite_metrics(run):
    from common.body_models import body_model_from_config
    from common.config import load_config
    from data.synthetic.dataset import load_synthetic_records

    cfg = load_config(CFG)
    records = load_synthetic_records("test", cfg, body_model=body_model_from_config(cfg, kind="smpl"))
    metrics = json.loads((run["test_out"] / "metrics.json").read_text())
    assert len(records) > 0
    assert metrics["num_evaluated"] == metrics["num_samples"] == len(records) and metrics["complete"]
    for key in ("mpjpe", "pa_mpjpe", "mpvpe"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    rows = (run["test_out"] / "per_sample.jsonl").read_text().splitlines()
    assert len(rows) == len(records)


def test_references_are_scored_by_the_same_evaluator_in_train_and_test(run):
    """Both entry points report the constant predictors next to the model, on every test sample."""
    train_refs = json.loads((run["run_dir"] / "eval" / "references.json").read_text())
    test_refs = json.loads((run["test_out"] / "references.json").read_text())
    metrics = json.loads((run["test_out"] / "metrics.json").read_text())
    for refs in (train_refs, test_refs):
        assert set(refs) == {"mean_pose", "mean_pose_gt_root"}
        for summary in refs.values():
            assert summary["num_evaluated"] == metrics["num_evaluated"] and summary["complete"]
            assert math.isfinite(summary["pa_mpjpe"]) and summary["pa_mpjpe"] > 0
        # the oracle shares the body pose and only swaps the root, which Procrustes removes: equal PA-MPJPE
        assert refs["mean_pose_gt_root"]["pa_mpjpe"] == pytest.approx(refs["mean_pose"]["pa_mpjpe"], rel=1e-6)
    assert test_refs["mean_pose"]["mpjpe"] == pytest.approx(train_refs["mean_pose"]["mpjpe"], rel=1e-6)
    logged = [json.loads(line) for line in (run["run_dir"] / "metrics.jsonl").read_text().splitlines()]
    assert any(r["split"] == "reference" and "mean_pose/pa_mpjpe" in r for r in logged)


def test_demo_writes_overlays_and_meshes(run):
    from common.body_models import body_model_from_config
    from common.config import load_config

    out, image = run["demo_out"], cv2.imread(str(REPO / "demo" / "input" / "images" / "scene_00.jpg"))
    people = json.loads((REPO / "demo" / "input" / "2d_pose_result.json").read_text())["scene_00.jpg"]
    results = json.loads((out / "scene_00_results.json").read_text())
    assert "config saved in" in run["demo_log"] and not results["skipped"]
    assert len(results["people"]) == len(people)
    body = body_model_from_config(load_config(CFG), kind="smpl")
    with torch.no_grad():
        verts = body(global_orient=torch.zeros(1, 3), body_pose=torch.zeros(1, 69), betas=torch.zeros(1, 10)).vertices
    num_faces, num_verts = body.faces.shape[0], verts.shape[1]
    for name in ["scene_00_pose2d.png", "scene_00_all_meshes.png"] + [f"scene_00_person{k}_mesh.png"
                                                                      for k in range(len(people))]:
        png = cv2.imread(str(out / name))
        assert png is not None and png.shape == image.shape, name
    for k in range(len(people)):
        assert _obj_counts(out / f"scene_00_person{k}.obj") == (num_verts, num_faces)
    # the overlay differs from the input image only where a mesh was drawn
    mesh = cv2.imread(str(out / "scene_00_person0_mesh.png")).astype(int)
    changed = (abs(mesh - image.astype(int)).max(axis=2) > 40).mean()
    assert 0.001 < changed < 0.9
