"""The whole-body family end to end through the real entry points (configs/wholebody_tiny_e2e.yaml):
main/train.py -> main/test.py (the world's test split with the part references; the EHF-format export through the
real EHF reader; FreiHAND files with the hand network alone) -> demo/demo.py. A tiny world, two steps: the numbers
mean nothing, the plumbing is checked."""
import json
import math
import shutil
from pathlib import Path

import pytest

from test_end_to_end import REPO, _obj_counts, _run
from tool.fixtures.freihand import write_freihand_fixture

CFG = REPO / "configs" / "wholebody_tiny_e2e.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wb_e2e")
    _run("main/train.py", "--cfg", str(CFG), "--opts", f"experiment.output_dir={out}", timeout=600)
    ckpt = out / "wholebody_tiny_e2e" / "ckpt_epoch0001.pth"
    _run("main/test.py", "--cfg", str(CFG), "--ckpt", str(ckpt), "--out", str(out / "test"), timeout=600)
    ehf = _run("main/test.py", "--cfg", str(CFG), "--ckpt", str(ckpt), "--out", str(out / "test_ehf"), "--opts",
               "data.test_set=ehf", "data.roots.ehf=embedded", "data.wholebody_world.ehf_frames=2", timeout=900)
    write_freihand_fixture(out / "freihand", num_samples=3)  # the real FreiHAND layout, tiny
    _run("main/test.py", "--cfg", str(CFG), "--ckpt", str(ckpt), "--out", str(out / "test_freihand"),
         "--opts", "data.test_set=freihand", f"data.roots.freihand={out / 'freihand'}", timeout=600)
    demo = _run("demo/demo.py", "--img_idx", "0", "--ckpt", str(ckpt), "--output", str(out / "demo"), timeout=600)
    yield {"out": out, "ckpt": ckpt, "ehf_log": ehf.stdout, "demo_log": demo.stdout}
    shutil.rmtree(out, ignore_errors=True)  # checkpoints: the suite must fit a small CI disk


def test_training_logs_every_loss_term_and_the_part_references(run):
    run_dir = run["out"] / "wholebody_tiny_e2e"
    summary = json.loads((run_dir / "summary.json").read_text())
    terms = summary["train"]
    for name in ("global_orient", "body_pose", "hand_pose", "jaw_pose", "expression", "body_keypoints2d",
                 "hand_keypoints2d", "face_keypoints2d", "total"):
        assert math.isfinite(terms[name]), name
    refs = json.loads((run_dir / "eval" / "references.json").read_text())
    assert set(refs) == {"mean_hands", "neutral_face", "mean_face", "mean_hands_neutral_face"}
    # each reference keeps the GT body: the part it does not replace is exact
    assert refs["mean_hands"]["pa_v2v_face"] < 1e-3 and refs["neutral_face"]["pa_v2v_l_hand"] < 1e-3
    assert refs["mean_hands"]["pa_v2v_l_hand"] > 1.0 and refs["neutral_face"]["pa_v2v_face"] > 0.1


def test_test_py_scores_every_part_and_writes_the_references(run):
    metrics = json.loads((run["out"] / "test" / "metrics.json").read_text())
    assert metrics["complete"] and metrics["num_evaluated"] == metrics["num_expected"] > 0
    for key in ("pa_v2v_all", "pa_v2v_body", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face", "pa_mpjpe_14"):
        assert math.isfinite(metrics[key]), key
    assert (run["out"] / "test" / "references.json").is_file()


def test_ehf_export_runs_the_real_ehf_path(run):
    metrics = json.loads((run["out"] / "test_ehf" / "metrics.json").read_text())
    assert metrics["num_evaluated"] == 2 and math.isfinite(metrics["pa_v2v_r_hand"])
    assert "references: " not in run["ehf_log"] or "not computed" in run["ehf_log"]


def test_demo_writes_meshes_and_keypoints(run):
    demo = run["out"] / "demo"
    assert (demo / "scene_00_keypoints.png").is_file() and (demo / "scene_00_all_meshes.png").is_file()
    objs = sorted(Path(demo).glob("scene_00_person*.obj"))
    assert objs and _obj_counts(objs[0])[0] > 10000  # SMPL-X vertices of the open model (13,718)


def test_freihand_runs_the_hand_network_alone(run):
    metrics = json.loads((run["out"] / "test_freihand" / "metrics.json").read_text())
    assert metrics["complete"] and math.isfinite(metrics["pa_mpjpe"]) and 0 <= metrics["f_15mm"] <= 1


def test_a_checkpoint_of_the_other_family_is_a_one_line_error_naming_the_family(run, capsys):
    from main.test import main as test_main

    code = test_main(["--cfg", str(REPO / "configs" / "tiny_e2e.yaml"), "--ckpt", str(run["ckpt"]), "--out",
                      str(run["out"] / "wrong_family")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(run["ckpt"]) in err[0] and "model.family: 'wholebody' (checkpoint) vs 'crowdnet'" in err[0]
