"""3DPW from SMPL-X predictions: the J14 regressor (open equivalent of SMPLX_to_J14) and the evaluator path."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from common.body_models import build_body_model
from common.evaluation.pw3d_evaluator import Pw3dEvaluator
from common.evaluation.smplx_j14 import (
    J14RegressorError,
    j14_from_h36m17,
    load_smplx_j14_regressor,
    open_smplx_j14_regressor,
    smplx_to_j14,
)


@pytest.fixture(scope="module")
def models():
    return build_body_model("smpl", source="open"), build_body_model("smplx", source="open")


def _gt_batch(n: int = 3, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    pose = 0.3 * torch.randn(n, 72, generator=gen)
    pose[:, 66:] = 0  # SMPL hand joints: the SMPL-X has fingers there instead
    return {"index": torch.arange(n), "smpl_pose": pose, "smpl_betas": torch.randn(n, 10, generator=gen)}


def _smplx_vertices(smplx_model, batch: dict) -> torch.Tensor:
    pose, n = batch["smpl_pose"], batch["smpl_pose"].shape[0]
    flat = {f"{s}_hand_pose": -getattr(smplx_model.layer, f"{s}_hand_mean").expand(n, 45) for s in ("left", "right")}
    return smplx_model(pose[:, :3], pose[:, 3:66], batch["smpl_betas"], **flat).vertices  # flat hands = SMPL's


def test_open_j14_regressor_is_the_h36m_one_in_lsp_order(models):
    smpl, smplx = models
    reg = open_smplx_j14_regressor()
    assert reg.shape == (14, smplx.layer.v_template.shape[0]) == (14, smpl.layer.v_template.shape[0])
    batch = _gt_batch()
    verts = _smplx_vertices(smplx, batch).double()
    joints = smplx_to_j14(verts, reg)
    assert torch.allclose(joints, j14_from_h36m17(smpl.regress(verts, "h36m17")), atol=1e-9)
    # LSP order: right ankle first, head top last (ankle below the head in the rest pose)
    rest = smplx_to_j14(smplx.layer.v_template[None].double(), reg)
    assert rest[0, 0, 1] < rest[0, 13, 1] - 1.0
    with pytest.raises(ValueError, match="do not match"):
        smplx_to_j14(verts[:, :100], reg)


def test_pw3d_scores_open_smplx_predictions_with_the_j14_regressor(models, tmp_path):
    smpl, smplx = models
    ev = Pw3dEvaluator(smpl, output_dir=tmp_path, smplx_j14=open_smplx_j14_regressor())
    batch = _gt_batch()
    ev.reset(3)
    ev.process(batch, {"vertices": _smplx_vertices(smplx, batch)})
    summary = ev.evaluate()
    assert summary["num_evaluated"] == 3 and "joints_smplx" in summary["protocol"]
    for key in ("mpjpe", "pa_mpjpe", "mpvpe"):
        assert summary[key] == pytest.approx(0.0, abs=0.05), key  # mm, float32 meshes
    ev.reset(3)
    other = _gt_batch(seed=1)
    ev.process(batch, {"vertices": _smplx_vertices(smplx, other)})
    assert ev.evaluate()["pa_mpjpe"] > 10.0


def test_other_topology_uses_the_regressor_and_skips_mpvpe(models, tmp_path):
    """An 'official-like' SMPL-X: another vertex count; its (14, V') regressor decides the path."""
    smpl, _ = models
    num_v = smpl.layer.v_template.shape[0]
    extra = 7
    h36m = smpl.regressor_h36m17.double().numpy()
    reg = np.concatenate([j14_from_h36m17(h36m), np.zeros((14, extra))], axis=1)  # (14, V + 7)
    path = tmp_path / "SMPLX_to_J14.pkl"
    with open(path, "wb") as f:
        pickle.dump(reg, f)
    loaded = load_smplx_j14_regressor(path, num_v + extra)
    ev = Pw3dEvaluator(smpl, output_dir=tmp_path, smplx_j14=loaded)
    batch = _gt_batch()
    gt = smpl(batch["smpl_pose"][:, :3], batch["smpl_pose"][:, 3:], batch["smpl_betas"]).vertices
    pred = torch.cat([gt, torch.randn(3, extra, 3)], dim=1)
    ev.reset(3)
    ev.process(batch, {"vertices": pred})
    summary = ev.evaluate()
    assert summary["mpjpe"] == pytest.approx(0.0, abs=0.05) and summary["mpvpe"] is None
    # SMPL-sized predictions (the constant references) keep the SMPL protocol, MPVPE included
    ev.reset(3)
    ev.process(batch, {"vertices": gt})
    summary = ev.evaluate()
    assert summary["mpvpe"] == pytest.approx(0.0, abs=0.05)
    with pytest.raises(J14RegressorError, match=r"SMPLX_to_J14\.pkl: J14 regressor covers"):
        load_smplx_j14_regressor(path, 10475)


def test_builder_picks_the_regressor_by_model_family(tmp_path):
    from common.config import load_config
    from data.evaluators import smplx_j14_for

    assert smplx_j14_for(load_config(None, []), "3dpw") is None
    cfg = load_config(None, ["model.family=wholebody"])
    assert smplx_j14_for(cfg, "3dpw").shape == (14, 13718)
    official = load_config(None, ["model.family=wholebody", "body_model.source=official"])
    with pytest.raises(J14RegressorError, match=r"data.adapter_options\['3dpw'\]\['smplx_j14_regressor'\]"):
        smplx_j14_for(official, "3dpw")


def test_builder_with_the_whole_body_model_scores_smplx_against_smpl_gt(models, tmp_path):
    """main/test.py hands the family's body model (SMPL-X) to the builder; 3DPW GT stays SMPL."""
    from common.config import load_config
    from data.evaluators import pw3d_evaluator

    smpl, smplx = models
    cfg = load_config(None, ["model.family=wholebody"])
    ev = pw3d_evaluator(cfg, smplx, tmp_path, None)
    assert ev.body_model.kind == "smpl" and ev.smplx_j14 is not None
    batch = _gt_batch()
    ev.reset(3)
    ev.process(batch, {"vertices": _smplx_vertices(smplx, batch)})
    summary = ev.evaluate()
    assert summary["pa_mpjpe"] == pytest.approx(0.0, abs=0.05)
