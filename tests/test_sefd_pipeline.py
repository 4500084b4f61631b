"""SEFD wired into the framework: one config key selects the experiment; edge maps in the mapper; a teacher ->
student run through main/train.py and main/test.py.

Tiny synthetic world (the one of configs/tiny_e2e.yaml, rendered once into the shared cache), ResNet-18 on
64 px crops, a few iterations; the numbers mean nothing, the plumbing and the invariants are checked.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from common.config import ConfigError, load_config
from data.sample import SAMPLE_SPEC

REPO = Path(__file__).resolve().parent.parent
TINY = ["data.synthetic.num_train_images=8", "data.synthetic.num_test_images=3", "data.synthetic.image_size=128",
        "data.synthetic.min_people=1", "data.synthetic.max_people=3", "data.synthetic.seed=4321",
        "data.input_size=64", "data.batch_size=4", "data.num_workers=0", "test.batch_size=8",
        "model.backbone=resnet18"]
NO_AUG = ["data.scale_jitter=0.0", "data.rot_prob=0.0", "data.flip_prob=0.0", "data.color_jitter=0.0"]


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """One intra-op thread: on the shared 2-core box, OpenMP threads of concurrent jobs make the many small ops
    of edge rendering and tiny training steps an order of magnitude slower (measured 2.5 s vs 0.19 s a sample)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, channels", [("baseline", 3), ("teacher", 4), ("student", 4), ("edge_input", 4)])
def test_mode_decides_input_channels(mode, channels):
    assert load_config(None, [f"sefd.mode={mode}"]).model.input_channels == channels
    assert load_config(None, [f"sefd.mode={mode}", f"model.input_channels={channels}"]).model.input_channels == channels


def test_contradicting_channels_and_unusable_sources_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="model.input_channels: 3, but sefd.mode=teacher"):
        load_config(None, ["sefd.mode=teacher", "model.input_channels=3"])
    with pytest.raises(ConfigError, match="model.input_channels: 4 with sefd.mode=baseline"):
        load_config(None, ["model.input_channels=4"])
    with pytest.raises(ConfigError, match="sefd.rcf_weights: empty"):
        load_config(None, ["sefd.mode=edge_input", "sefd.edge_source=rcf"])
    with pytest.raises(ConfigError, match="sefd.gray"):
        load_config(None, ["sefd.gray=bgr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("sefd:\n  mode: student\nmodel:\n  input_channels: 3\n")
    with pytest.raises(ConfigError, match="bad.yaml: model.input_channels"):
        load_config(bad)


@pytest.mark.parametrize("name, mode", [("baseline", "baseline"), ("teacher", "teacher"), ("student", "student"),
                                        ("edge_input", "edge_input"), ("student_rgb", "student")])
def test_shipped_configs(name, mode):
    cfg = load_config(REPO / "configs" / f"sefd_{name}.yaml")
    assert cfg.sefd.mode == mode and cfg.model.input_channels == (3 if mode == "baseline" else 4)
    assert cfg.data.train_sets == ("synthetic",) and cfg.model.backbone == "resnet18"
    if mode == "student":
        assert (cfg.sefd.edge_source, cfg.sefd.distill_loss) == ("canny", "log_softmax_l1")
        assert cfg.sefd.teacher_edge == ("none" if name == "student_rgb" else "smpl_overlap")


# --- mapper ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world():
    """(body model, train records) of the tiny world."""
    from common.body_models import body_model_from_config
    from data.synthetic.dataset import load_synthetic_records

    cfg = load_config(None, TINY)
    body = body_model_from_config(cfg, kind="smpl")
    return body, load_synthetic_records("train", cfg, body_model=body)


def _mapper(opts, body, train=True, **kw):
    from data.mapper import Mapper

    return Mapper.from_config(load_config(None, TINY + list(opts)), train, body_model=body, **kw)


def test_sample_keys_follow_the_mode(world):
    from data.sample import check_sample

    body, records = world
    occluded = max(records, key=lambda r: r.occlusion)
    teacher = _mapper(["sefd.mode=teacher"], body)(occluded, 0)
    check_sample(teacher, 64)
    assert teacher["edge"].shape == (1, 64, 64) and "teacher_edge" not in teacher
    assert teacher["edge"].sum() > 1.0 and 0.0 <= teacher["edge"].min() and teacher["edge"].max() <= 1.0
    student = _mapper(["sefd.mode=student"], body)(occluded, 0)
    check_sample(student, 64)
    assert "edge" not in student and torch.equal(student["teacher_edge"], teacher["edge"])  # Canny: model side
    assert set(_mapper(["sefd.mode=student"], body, train=False)(occluded, 0)) == set(SAMPLE_SPEC)
    assert set(_mapper([], body)(occluded, 0)) == set(SAMPLE_SPEC)
    smpl_student = _mapper(["sefd.mode=student", "sefd.edge_source=smpl_edge"], body)(occluded, 0)
    assert {"edge", "teacher_edge"} <= set(smpl_student) and not torch.equal(smpl_student["edge"],
                                                                              smpl_student["teacher_edge"])


def test_overlap_edge_needs_other_people_and_smpl(world):
    body, records = world
    occluded = max(records, key=lambda r: r.occlusion)
    mapper = _mapper(["sefd.mode=teacher"] + NO_AUG, body)
    alone = occluded.replace(others_smpl_pose=None, others_smpl_betas=None, others_smpl_transl=None)
    assert mapper(occluded, 0)["edge"].sum() > 1.0 and mapper(alone, 0)["edge"].abs().sum() == 0
    no_smpl = occluded.replace(smpl_pose=None, smpl_betas=None)
    assert mapper(no_smpl, 0)["edge"].abs().sum() == 0  # zero map (counted by the loaders)
    from data.edge_maps import count_unrenderable

    assert count_unrenderable([occluded, no_smpl, alone]) == 1


def _joint_coverage(edge: torch.Tensor, sample: dict) -> float:
    """Fraction of the sample's valid GT 2D joints (crop px, from the projection path) within 1 px of an edge."""
    near = torch.nn.functional.max_pool2d(edge[None], 3, 1, 1)[0, 0] > 0.05
    uv = sample["joints2d"][sample["joints2d_valid"] > 0].round().long().clamp(0, edge.shape[-1] - 1)
    return float(near[uv[:, 1], uv[:, 0]].float().mean())


def test_edge_is_aligned_with_the_augmented_crop(world):
    """The people's SMPL contours (smpl_edge) land on the target's GT 2D joints through scale, rotation and
    flip (joints come from the independent projection path), and are mirrored exactly with the crop."""
    body, records = world
    record = max(records, key=lambda r: r.bbox[2] * r.bbox[3])
    opts = ["sefd.mode=edge_input", "sefd.edge_source=smpl_edge"]
    rigid = _mapper(opts + NO_AUG, body)(record, 0)
    flipped = _mapper(opts + NO_AUG + ["data.flip_prob=1.0"], body)(record, 0)
    assert torch.allclose(flipped["img"], rigid["img"].flip(-1), atol=0.02)
    mirror = rigid["edge"].flip(-1)
    assert (flipped["edge"] - mirror).abs().sum() < 0.1 * mirror.sum()  # pixel ties of Canny's NMS only
    augmented = _mapper(opts + ["data.rot_prob=1.0", "data.flip_prob=1.0"], body)(record, 3)
    for sample in (rigid, flipped, augmented):
        assert _joint_coverage(sample["edge"], sample) == 1.0
    assert _joint_coverage(torch.roll(augmented["edge"], shifts=(8, 8), dims=(1, 2)), augmented) < 0.6
    outside = augmented["img"].sum(0) == 0  # crop pixels beyond the image: no edges there either
    assert outside.any() and augmented["edge"][0][outside].abs().max() < 1e-3


def test_precomputed_edges_match_on_the_fly(world, tmp_path):
    from tool.precompute_edges import precompute

    body, records = world
    occluded = sorted(records, key=lambda r: -r.occlusion)[:3]
    cfg = load_config(None, TINY + ["sefd.mode=teacher"])
    counts = precompute(cfg, "synthetic", "train", "smpl_overlap", tmp_path, progress=False, records=occluded,
                        body_model=body)
    assert counts["written"] == 3
    opts = ["sefd.mode=teacher"] + NO_AUG
    stored = _mapper(opts + [f"sefd.edge_dir={tmp_path}"], body, dataset="synthetic", split="train")
    live = _mapper(opts, body)
    for record in occluded[1:]:  # found by image and person id, not by the position in the record list
        a, b = stored(record, 0)["edge"], live(record, 0)["edge"]
        assert a.sum() > 1.0 and torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.6
    with pytest.raises(FileNotFoundError, match="no precomputed smpl_overlap edge"):
        stored(next(r for r in records if r not in occluded), 0)


# --- teacher -> student through the entry points --------------------------------------------------------------
def _bn_buffers(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(("backbone.", "pose2feat.")) and "running_" in k}


@pytest.fixture(scope="module")
def two_stages(tmp_path_factory):
    """Stage 1 (teacher) and stage 2 (student) through main/train.py; the student's components are kept."""
    from common.engine import DistInfo
    from main import train as train_main

    out = tmp_path_factory.mktemp("sefd")
    run = ["train.epochs=1", "train.max_iters_per_epoch=2", "train.log_every=1", "train.eval_every=0",
           "train.image_log_every=1", f"experiment.output_dir={out}"]
    assert train_main.main(["--cfg", str(REPO / "configs/sefd_teacher.yaml"), "--opts", *TINY, *run]) == 0
    kept = {}

    def build(cfg, info):
        kept["parts"] = train_main.build_components(cfg, info)
        return kept["parts"]

    cfg = load_config(REPO / "configs/sefd_student.yaml", TINY + run + [f"sefd.teacher_ckpt={out / 'sefd_teacher'}"])
    train_main.train(cfg, DistInfo(), build=build, progress=False)
    yield out, kept["parts"]
    shutil.rmtree(out, ignore_errors=True)  # checkpoints: the suite must fit a small CI disk


def test_student_distils_from_the_frozen_stage1_teacher(two_stages):
    from common.engine.checkpoint import read_checkpoint
    from common.models.build import build_model

    out, parts = two_stages
    teacher_ckpt = read_checkpoint(out / "sefd_teacher" / "ckpt_epoch0001.pth")
    assert teacher_ckpt["config"]["sefd"]["mode"] == "teacher"
    assert teacher_ckpt["model"]["backbone.conv1.weight"].shape[1] == 4
    model = parts.model
    assert not model.teacher.training and not any(p.requires_grad for p in model.teacher.parameters())
    assert not {id(p) for p in model.teacher.parameters()} & {id(p) for p in model.parameters()}
    stage1 = _bn_buffers(teacher_ckpt["model"])
    now = _bn_buffers(model.teacher.state_dict())
    assert stage1 and all(torch.equal(stage1[k], now[k]) for k in stage1)  # BN statistics did not drift
    records = [json.loads(line) for line in (out / "sefd_student" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert {"distill_log_softmax_l1_layer3", "distill_log_softmax_l1_layer4"} <= set(train[-1])
    assert all(np.isfinite(r["total"]) for r in train)
    student_ckpt = read_checkpoint(out / "sefd_student" / "ckpt_epoch0001.pth")
    plain = build_model(load_config(None, TINY + ["sefd.mode=edge_input"]), None).state_dict()
    assert set(student_ckpt["model"]) == set(plain)  # the student alone: no teacher keys, no prefix
    assert not torch.equal(student_ckpt["model"]["backbone.conv1.weight"],
                           teacher_ckpt["model"]["backbone.conv1.weight"])


def test_test_py_evaluates_the_student_with_its_edge_channel(two_stages, capsys):
    from main import test as test_main

    out, _ = two_stages
    ckpt = out / "sefd_student" / "ckpt_epoch0001.pth"
    code = test_main.main(["--cfg", str(REPO / "configs/sefd_student.yaml"), "--ckpt", str(ckpt),
                           "--out", str(out / "test"), "--opts", *TINY, f"experiment.output_dir={out}"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "test" / "metrics.json").read_text())
    assert metrics["complete"] and metrics["num_evaluated"] > 0 and np.isfinite(metrics["mpjpe"])
