"""common/config/plan.py: the one reading of sefd.mode (channels, mapper edge maps, model edge, teacher)."""
from __future__ import annotations

import dataclasses

import pytest

from common.config import ConfigError, ExperimentPlan, load_config


def _plan(*opts: str) -> ExperimentPlan:
    return ExperimentPlan.from_config(load_config(None, list(opts)))


def test_baseline_is_rgb_without_edges_or_teacher():
    plan = _plan()
    assert plan.input_channels == 3 and plan.edge_maps(True) == plan.edge_maps(False) == {}
    assert plan.model_edge == "none" and plan.model_kind(True) == plan.model_kind(False) == "regressor"
    assert not plan.needs_teacher(True) and not plan.returns_features(True) and not plan.needs_gt_bodies(False)


def test_teacher_gets_its_smpl_edge_from_the_mapper_in_both_phases():
    plan = _plan("sefd.mode=teacher", "sefd.teacher_edge=smpl_edge")
    assert plan.input_channels == 4 and plan.model_kind(True) == "regressor" and plan.model_edge == "none"
    assert plan.edge_maps(True) == plan.edge_maps(False) == {"edge": "smpl_edge"}
    assert plan.needs_gt_bodies(False) and not plan.needs_teacher(True)


def test_student_distils_only_in_training():
    plan = _plan("sefd.mode=student")  # default edge_source: canny (computed by the model)
    assert plan.model_edge == "canny" and plan.input_channels == 4
    assert plan.edge_maps(True) == {"teacher_edge": "smpl_overlap"} and plan.edge_maps(False) == {}
    assert plan.model_kind(True) == "distillation" and plan.needs_teacher(True) and plan.returns_features(True)
    assert plan.model_kind(False) == "edge_input" and not plan.needs_teacher(False)
    smpl = _plan("sefd.mode=student", "sefd.edge_source=smpl_edge")
    assert smpl.model_edge == "none" and smpl.edge_maps(True) == {"edge": "smpl_edge", "teacher_edge": "smpl_overlap"}


def test_rgb_only_teacher_control_renders_no_teacher_edge():
    plan = _plan("sefd.mode=student", "sefd.teacher_edge=none")
    assert plan.teacher_input_channels == 3 and plan.input_channels == 4  # the student still sees RGB + Canny
    assert plan.edge_maps(True) == plan.edge_maps(False) == {} and not plan.needs_gt_bodies(True)
    assert plan.needs_teacher(True) and plan.model_kind(True) == "distillation"
    assert _plan("sefd.mode=student").teacher_input_channels == 4
    with pytest.raises(ConfigError, match="sefd.teacher_edge: 'none' is for sefd.mode=student"):
        _plan("sefd.mode=teacher", "sefd.teacher_edge=none")


def test_edge_input_and_the_config_loader_follow_the_plan():
    plan = _plan("sefd.mode=edge_input")
    assert plan.model_kind(True) == "edge_input" and plan.model_edge == "canny" and not plan.needs_gt_bodies(True)
    assert load_config(None, ["sefd.mode=edge_input"]).model.input_channels == plan.input_channels == 4
    with pytest.raises(ConfigError, match="model.input_channels: 3, but sefd.mode=edge_input"):
        load_config(None, ["sefd.mode=edge_input", "model.input_channels=3"])
    cfg = load_config()
    with pytest.raises(ConfigError, match="sefd.mode: unknown mode 'nope'"):
        ExperimentPlan.from_config(dataclasses.replace(cfg, sefd=dataclasses.replace(cfg.sefd, mode="nope")))
