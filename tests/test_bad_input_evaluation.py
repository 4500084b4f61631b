"""Bad input that reaches evaluation or the config rules: a NaN prediction is a counted, skipped sample; a
partial evaluation is never "complete"; the official configs build the published network; every numeric
config key has a range."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine_fixtures import ToyBodyModel, ToyDataset

REPO = Path(__file__).resolve().parent.parent


# --- evaluation -------------------------------------------------------------------------------------------------
def _toy_eval_batch():
    from torch.utils.data import default_collate

    body, data = ToyBodyModel(), ToyDataset(4)
    batch = default_collate([data[i] for i in range(4)])
    pose = batch["smpl_pose"]
    return body, batch, body(pose[:, :3], pose[:, 3:], batch["smpl_betas"]).vertices


def test_one_nan_vertex_is_a_skipped_sample_not_a_crash(tmp_path):
    from common.evaluation import MeshEvaluator

    body, batch, verts = _toy_eval_batch()
    bad = verts.clone()
    bad[2, 5, 1] = float("nan")
    ev = MeshEvaluator(body, output_dir=tmp_path)
    ev.reset(4)
    ev.process(batch, {"vertices": bad})  # was: LinAlgError in the Procrustes SVD
    summary = ev.evaluate()
    assert not summary["complete"] and summary["skipped_reasons"] == {"non_finite_prediction": 1}
    assert summary["skipped_indices"] == [2] and summary["pa_mpjpe"] is None and "allow_skipped" in \
        summary["headline_refused"]
    lenient = MeshEvaluator(body, allow_skipped=True)
    lenient.reset(4)
    lenient.process(batch, {"vertices": bad})
    numbers = lenient.evaluate()
    assert numbers["num_evaluated"] == 3 and numbers["pa_mpjpe"] < 1e-3


def test_reset_without_expected_indices_is_never_complete():
    from common.evaluation import MeshEvaluator

    body, batch, verts = _toy_eval_batch()
    ev = MeshEvaluator(body)
    ev.reset()
    ev.process({k: v[:2] for k, v in batch.items()}, {"vertices": verts[:2]})  # a partial run
    summary = ev.evaluate()
    assert summary["complete"] is False and summary["mpjpe"] is None and "coverage unknown" in \
        summary["headline_refused"]


def test_procrustes_with_a_nan_sample_leaves_the_others_exact():
    from common.geometry.procrustes import procrustes_transform

    pts = torch.randn(3, 10, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    broken = pts.clone()
    broken[1, 0, 0] = float("nan")
    scale, rotation, translation = procrustes_transform(broken, 2 * pts)
    assert torch.isnan(scale[1]) and torch.isnan(rotation[1]).all() and torch.isnan(translation[1]).all()
    assert torch.allclose(scale[[0, 2]], torch.full((2,), 2.0, dtype=torch.float64))


# --- official configs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,channels", [("official_3dcrowdnet", 3), ("official_sefd", 4)])
def test_official_configs_build_the_published_network(name, channels):
    """The README's official-weights command: these configs build the network of the release files (ResNet-50,
    256 px, VPoser head, 3 / 4 channels), so the strict load and the geometry check both pass."""
    from common.config import load_config
    from common.engine.checkpoint import check_official_geometry
    from common.models.build import build_experiment_model
    from common.models.geometry import OFFICIAL_GEOMETRY, model_geometry

    cfg = load_config(REPO / "configs" / f"{name}.yaml", ["body_model.source=open"])
    assert cfg.body_model.smpl_path and cfg.body_model.h36m_regressor_path and cfg.body_model.extra_regressor_path
    model = build_experiment_model(cfg, None, training=False)
    assert model_geometry(model) == {**OFFICIAL_GEOMETRY, "input_channels": channels}
    check_official_geometry("official file", model)
    listing = Path("/work/shared/reference") / ("crowdnet" if channels == 3 else "sefd")
    listing = listing.with_name(listing.name + "_official_state_dict.txt")
    if listing.is_file():  # the key/shape list of the release (shared reference)
        ours = [f"{k} {tuple(v.shape)}" for k, v in model.state_dict().items()]
        theirs = [" ".join(line.split()[:-1]) for line in listing.read_text().splitlines()]
        assert ours == theirs


def test_every_numeric_config_key_has_a_range():
    """A numeric key added to common/config/defaults.py needs its line in common/config/ranges.py."""
    import dataclasses
    import typing

    from common.config.defaults import Config
    from common.config.ranges import RANGES

    def numeric_keys(cls: type, prefix: str = "") -> list[str]:
        keys = []
        for f in dataclasses.fields(cls):
            typ = typing.get_type_hints(cls)[f.name]
            if dataclasses.is_dataclass(typ):
                keys += numeric_keys(typ, f"{prefix}{f.name}.")
            elif typ in (int, float) or typing.get_args(typ)[:1] in ((int,), (float,)):
                keys.append(prefix + f.name)
        return keys

    keys = numeric_keys(Config)
    assert len(keys) > 40 and "train.lr" in keys and "data.synthetic.occlusion_strata" in keys
    assert sorted(set(keys) - set(RANGES)) == []
    assert sorted(set(RANGES) - set(keys)) == []  # no rule for a key that does not exist
