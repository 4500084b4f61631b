"""model.family: the one switch between the 3DCrowdNet/SEFD SMPL regressor and the whole-body SMPL-X model."""
from __future__ import annotations

import pytest

from common.config import ConfigError, ExperimentPlan, load_config
from data.registry import check_model_can_evaluate


def cfg_of(*opts: str):
    return load_config(None, list(opts))


@pytest.mark.parametrize("family, test_set, ok", [
    ("crowdnet", "synthetic", True), ("crowdnet", "3dpw", True), ("crowdnet", "ehf", False),
    ("crowdnet", "freihand", False), ("wholebody", "ehf", True), ("wholebody", "freihand", True),
    ("wholebody", "3dpw", True), ("wholebody", "synthetic", False), ("wholebody", "crowdpose", False),
])
def test_each_test_set_names_the_families_its_protocol_scores(family, test_set, ok):
    cfg = cfg_of(f"model.family={family}", f"data.test_set={test_set}")
    if ok:
        check_model_can_evaluate(cfg)
    else:
        with pytest.raises(ConfigError, match=f"data.test_set={test_set}: cannot evaluate a model.family={family}"):
            check_model_can_evaluate(cfg)


def test_plan_reads_the_family_and_its_body_model():
    assert ExperimentPlan.from_config(cfg_of()).body_model_kind == "smpl"
    plan = ExperimentPlan.from_config(cfg_of("model.family=wholebody"))
    assert (plan.family, plan.body_model_kind, plan.input_channels) == ("wholebody", "smplx", 3)


def test_unknown_family_and_sefd_with_the_whole_body_are_one_line_errors():
    with pytest.raises(ConfigError, match="model.family.*wholebody"):
        cfg_of("model.family=expose")
    with pytest.raises(ConfigError, match="sefd.mode: 'teacher' needs model.family=crowdnet"):
        cfg_of("model.family=wholebody", "sefd.mode=teacher")
