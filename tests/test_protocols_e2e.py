"""Every dataset adapter + evaluation protocol through the real entry points (main/test.py, main/train.py).

Fixtures in each dataset's real file format come from ``tool/make_fixtures.py`` (cached under
``cache_dir()/fixtures``). The model is the untrained tiny one of configs/tiny_e2e.yaml: the numbers mean
nothing; what is checked is the protocol plumbing -- exit code, metrics.json, every record evaluated exactly once
(``num_evaluated == num_expected ==`` the adapter's record count), finite numbers, per_sample.jsonl -- and that
bad input stops the entry point with one ``error:`` line and exit code 2. EHF and FreiHAND need SMPL-X / MANO
models the project does not have: main/test.py refuses them, and their evaluators are checked through the
registry on predictions built from the fixture's own GT (evaluator tests, not model results).
"""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
CFG = REPO / "configs" / "tiny_e2e.yaml"
TORCHRUN_TIMEOUT_S = 300  # generous on a busy 2-core machine; a hang never finishes
NEEDED = ("3dpw", "crowdpose", "ochuman", "mscoco", "h36m", "ehf", "freihand")
# the 3DPW fixture: 3 frames x 2 people per sequence, one person-frame of courtyard_hug_00 has campose_valid = 0
PW3D_COUNTS = {"test": 18, "3dpw_crowd": 11, "sefd_occlusion": 29}


@pytest.fixture(scope="module")
def roots():
    from tool.make_fixtures import make_fixtures

    return make_fixtures(NEEDED)


def _opts(name: str, root, *extra: str) -> list[str]:
    return [f"data.test_set={name}", f"data.roots={{{name}: {root}}}", "body_model.source=open", *extra]


def _detections(roots, name: str) -> str:
    return f"data.adapter_options={{{name}: {{pose2d_file: {roots[name]}/detections/{name}_test_matched.json}}}}"


def _run_test(out: Path, opts: list[str]) -> int:
    from main.test import main

    return main(["--cfg", str(CFG), "--out", str(out), "--opts", *opts])


def _expected_records(opts: list[str]) -> int:
    from common.config import load_config
    from data.registry import adapter

    cfg = load_config(CFG, opts)
    return len(adapter(cfg.data.test_set)("test", cfg, subset=cfg.data.test_subset))


def _check_complete(out: Path, expected: int) -> dict:
    """metrics.json + per_sample.jsonl cover every record once; returns the metrics."""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_expected"] == metrics["num_evaluated"] == expected and metrics["complete"]
    assert metrics["num_skipped"] == 0 and metrics["num_duplicates"] == 0
    rows = [json.loads(line) for line in (out / "per_sample.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(expected))
    return metrics


_SINGLE_PROCESS: dict = {}  # metrics of the single-process 3dpw_crowd run, compared with the torchrun one


@pytest.mark.parametrize("fmt,subset", [("crowdnet", "test"), ("crowdnet", "3dpw_crowd"),
                                        ("crowdnet", "sefd_occlusion"), ("official", "sefd_occlusion")])
def test_3dpw_formats_and_subsets(roots, tmp_path, fmt, subset):
    """The official pickles hold the test and validation sequences of sefd_occlusion, so that run covers both."""
    crop = "gt" if fmt == "official" else "pose2d"  # the SEFD release's crop, with the official format
    opts = _opts("3dpw", roots["3dpw"], f"data.test_subset={subset}", "test.batch_size=32",
                 f"data.adapter_options={{3dpw: {{fmt: {fmt}, crop: {crop}}}}}")
    assert _run_test(tmp_path, opts) == 0
    assert _expected_records(opts) == PW3D_COUNTS[subset]
    metrics = _check_complete(tmp_path, PW3D_COUNTS[subset])
    if (fmt, subset) == ("crowdnet", "3dpw_crowd"):
        _SINGLE_PROCESS.update(metrics)
    for key in ("mpjpe", "pa_mpjpe", "mpvpe"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics["protocol"]["subset"] == subset and metrics["protocol"]["crop"] == crop
    assert sum(s["num_samples"] for s in metrics["per_sequence"].values()) == PW3D_COUNTS[subset]
    if subset == "3dpw_crowd":  # HigherHRNet inputs, one person without a detection falls back to OpenPose
        assert metrics["protocol"]["pose_source"] == "hhrnet 10, openpose 1"


@pytest.mark.parametrize("name,with_detections,expected", [("crowdpose", True, 6), ("ochuman", True, 6),
                                                           ("mscoco", False, 7)])
def test_keypoint_ap_protocols(roots, tmp_path, name, with_detections, expected):
    """CrowdPose / OCHuman with matched detector inputs (the missed person is dropped, still an AP miss)."""
    opts = _opts(name, roots[name], *([_detections(roots, name)] if with_detections else []))
    assert _run_test(tmp_path, opts) == 0
    assert _expected_records(opts) == expected
    metrics = _check_complete(tmp_path, expected)
    assert metrics["num_gt_people"] == 7
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("AP", "AP50", "AP75", "AR"))
    if with_detections:  # noisy copies of the GT for 6 of 7 people
        assert 0.5 < metrics["input_ap"] <= 6 / 7 + 1e-6
    else:
        assert "input_ap" not in metrics
    assert (name == "crowdpose") == ("ap_by_crowd_index" in metrics)
    if name == "crowdpose":  # every fixture image has crowd index 0.42: no easy or hard image
        assert metrics["ap_by_crowd_index"]["easy"] is None and metrics["ap_by_crowd_index"]["medium"] >= 0


@pytest.mark.parametrize("name,needs", [("ehf", "SMPL-X meshes"), ("freihand", "MANO hand joints")])
def test_whole_body_and_hand_sets_refuse_the_smpl_regressor_in_one_line(roots, tmp_path, capsys, name, needs):
    assert _run_test(tmp_path, _opts(name, roots[name])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: data.test_set={name}: cannot evaluate a model.family=crowdnet")
    assert needs in err[0] and "model.family=wholebody" in err[0]


def _copy(roots, name: str, dst: Path) -> Path:
    shutil.copytree(roots[name], dst / name)
    return dst / name


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _drop_field(path: Path) -> None:
    data = json.loads(path.read_text())
    del data["annotations"][2]["bbox"]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case", ["unknown_3dpw_subset", "subset_of_plain_set", "root_not_set", "root_missing",
                                  "truncated_json", "missing_field", "truncated_pickle"])
def test_bad_input_gives_one_line_and_exit_2(roots, tmp_path, capsys, case):
    name = "3dpw" if case in ("unknown_3dpw_subset", "truncated_pickle") else "crowdpose"
    root, extra, expect = roots[name], [], ""
    if case == "unknown_3dpw_subset":
        extra, expect = ["data.test_subset=3dpw_crowed"], "unknown 3DPW subset or sequence '3dpw_crowed'"
    elif case == "subset_of_plain_set":
        extra, expect = ["data.test_subset=hard"], "dataset 'crowdpose' has no subsets"
    elif case == "root_not_set":
        opts = ["data.test_set=crowdpose", f"data.roots={{mscoco: {roots['mscoco']}}}"]
        expect = "data.roots['crowdpose'] is not set"
    elif case == "root_missing":
        root, expect = tmp_path / "nowhere", "nowhere: data.roots['crowdpose'] does not exist"
    elif case in ("truncated_json", "missing_field"):
        root = _copy(roots, name, tmp_path)
        (_truncate if case == "truncated_json" else _drop_field)(root / "annotations" / "crowdpose_test.json")
        expect = ("crowdpose_test.json: truncated or invalid JSON" if case == "truncated_json" else
                  "crowdpose_test.json: annotations[2] has no field 'bbox'")
    else:
        root = _copy(roots, name, tmp_path)
        _truncate(root / "sequenceFiles" / "test" / "downtown_bar_00.pkl")
        extra, expect = ["data.adapter_options={3dpw: {fmt: official}}"], "downtown_bar_00.pkl: cannot read the pickle"
    if case != "root_not_set":
        opts = _opts(name, root, *extra)
    assert _run_test(tmp_path / "out", opts) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expect in lines[0] and "Traceback" not in err, err


def test_ehf_evaluator_through_registry_on_fixture_gt_not_a_model_result(roots, tmp_path):
    from common.body_models import build_body_model
    from common.config import load_config
    from data.adapters.ehf import load_ehf_gt_vertices, load_ehf_records
    from data.registry import build_evaluator

    cfg = load_config(CFG, _opts("ehf", roots["ehf"]))
    records = load_ehf_records("test", cfg)
    ev = build_evaluator(cfg, build_body_model("smplx", source="open"), tmp_path, records=records)
    gt = torch.as_tensor(np.stack([load_ehf_gt_vertices(r.meta["mesh_gt_path"], None) for r in records]))
    rot = torch.as_tensor(np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]))
    ev.reset(len(records))
    ev.process({"index": torch.arange(len(records))}, {"vertices": 1.1 * gt @ rot.T + 0.3})  # a similarity of GT
    summary = ev.evaluate()
    assert summary["num_evaluated"] == len(records) == 3 and summary["complete"]
    for part in ("all", "body", "l_hand", "r_hand", "face"):
        assert summary[f"pa_v2v_{part}"] < 0.05, part  # mm: Procrustes undoes the similarity
    assert summary["pa_mpjpe_14"] < 0.05 and summary["v2v_all"] > 10  # the reference number is not aligned
    assert len((tmp_path / "per_sample.jsonl").read_text().splitlines()) == 3


def test_freihand_evaluator_through_registry_on_fixture_gt_not_a_model_result(roots, tmp_path):
    from common.config import load_config
    from data.adapters.freihand import load_freihand_records, load_freihand_split
    from data.registry import build_evaluator

    cfg = load_config(CFG, _opts("freihand", roots["freihand"]))
    records = load_freihand_records("test", cfg)
    ev = build_evaluator(cfg, None, tmp_path, records=records)
    split = load_freihand_split(roots["freihand"], "evaluation")
    idx = [r.meta["index"] for r in records]
    rot = torch.as_tensor(np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]))
    similar = lambda x: 0.9 * torch.as_tensor(x[idx]) @ rot.T + 0.05  # noqa: E731
    ev.reset(len(records))
    ev.process({"index": torch.arange(len(records))},
               {"hand_joints": similar(split.xyz), "hand_vertices": similar(split.verts)})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == len(records) == 4 and summary["complete"]
    assert summary["pa_mpjpe"] < 1e-6 and summary["pa_mpvpe"] < 1e-6
    assert summary["f_5mm"] == pytest.approx(1.0) and summary["f_15mm"] == pytest.approx(1.0)
    xyz, verts = json.loads((tmp_path / "pred.json").read_text())
    assert np.asarray(xyz).shape == (4, 21, 3) and np.asarray(verts).shape == (4, 778, 3)


def test_mixed_training_h36m_and_mscoco(roots, tmp_path):
    """3DCrowdNet's 50/50 3D/2D mixture over two real-format fixtures, two iterations, AP evaluation at the end."""
    from common.config import load_config
    from data.loader import build_train_loader
    from main.train import main

    opts = ["data.train_sets=[h36m, mscoco]", f"data.roots={{h36m: {roots['h36m']}, mscoco: {roots['mscoco']}}}",
            "data.test_set=mscoco", "body_model.source=open", f"experiment.output_dir={tmp_path}",
            "train.max_iters_per_epoch=2", "train.image_log_every=0"]
    loader = build_train_loader(load_config(CFG, opts))
    assert loader.sampler.composition(0) == {"h36m": 20, "mscoco": 20}  # 20 H36M (3D) and 7 COCO (2D) people
    assert main(["--cfg", str(CFG), "--opts", *opts]) == 0
    summary = json.loads((tmp_path / "tiny_e2e" / "summary.json").read_text())
    assert summary["iterations"] == 2 and all(math.isfinite(v) for v in summary["train"].values())
    assert summary["eval"]["num_evaluated"] == summary["eval"]["num_expected"] == 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_torchrun_two_processes_evaluate_every_record_once(roots, tmp_path):
    opts = _opts("3dpw", roots["3dpw"], "data.test_subset=3dpw_crowd", "test.batch_size=4",
                 "data.adapter_options={3dpw: {fmt: crowdnet}}")
    if not _SINGLE_PROCESS:  # this test alone: the single-process reference first
        assert _run_test(tmp_path / "single", opts) == 0
        _SINGLE_PROCESS.update(_check_complete(tmp_path / "single", PW3D_COUNTS["3dpw_crowd"]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "main/test.py", "--cfg", str(CFG), "--out", str(tmp_path / "ddp"), "--opts", *opts]
    # A DDP hang shows as a timeout: it fails the test (the process group, workers included, is killed).
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=TORCHRUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"torchrun with 2 processes did not finish in {TORCHRUN_TIMEOUT_S} s (a DDP hang?):\n"
                    f"{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    ddp = _check_complete(tmp_path / "ddp", PW3D_COUNTS["3dpw_crowd"])  # 2 ranks x 2 batches, no padding
    for key in ("mpjpe", "pa_mpjpe", "mpvpe"):
        assert ddp[key] == pytest.approx(_SINGLE_PROCESS[key], rel=1e-4), key
