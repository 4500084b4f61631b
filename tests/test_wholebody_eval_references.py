"""Whole-body constant references (mean hands, neutral face) on a GT body, scored by the EHF evaluator."""
from __future__ import annotations

import pytest
import torch

from common.body_models import build_body_model
from common.evaluation.ehf_evaluator import EHFEvaluator, load_part_vertex_ids
from common.evaluation.wholebody_references import (
    WHOLEBODY_REFERENCE_NAMES,
    mean_rotation_pose,
    reference_params,
    wholebody_references,
)
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.open_model import ensure_open_model


def _params(n: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"global_orient": 0.2 * torch.randn(n, 3, generator=gen),
            "body_pose": 0.2 * torch.randn(n, 63, generator=gen),
            "betas": torch.randn(n, 10, generator=gen), "left_hand_pose": 0.5 * torch.randn(n, 45, generator=gen),
            "right_hand_pose": 0.5 * torch.randn(n, 45, generator=gen),
            "jaw_pose": torch.tensor([[0.3, 0.0, 0.0]]).repeat(n, 1) + 0.05 * torch.randn(n, 3, generator=gen),
            "expression": 1.5 * torch.randn(n, 10, generator=gen)}


def test_references_score_above_the_gt(tmp_path):
    model = build_body_model("smplx", source="open")

    def layer_fn(p):
        return model(p["global_orient"], p["body_pose"], p["betas"], **{k: p[k] for k in (
            "left_hand_pose", "right_hand_pose", "jaw_pose", "expression")}).vertices

    gt = _params(3, 0)
    train = _params(50, 1)
    gt_v = layer_fn(gt)
    refs = wholebody_references(layer_fn, gt, train)
    assert set(refs) == set(WHOLEBODY_REFERENCE_NAMES)
    parts = load_part_vertex_ids(ensure_open_model().vertex_sets_path, gt_v.shape[1])
    reg = lambda v: model.regress(v.float(), "h36m17").double()  # noqa: E731
    scores = {}
    for name, verts in [("gt", gt_v)] + list(refs.items()):
        ev = EHFEvaluator(lambda i: gt_v[i].double().numpy(), parts, reg, tmp_path / name)
        ev.reset(3)
        ev.process({"index": torch.arange(3)}, {"vertices": verts})
        scores[name] = ev.evaluate()
    assert scores["gt"]["pa_v2v_r_hand"] < 0.05 and scores["gt"]["pa_v2v_face"] < 0.05  # mm
    for name in ("mean_hands", "mean_hands_neutral_face"):
        assert scores[name]["pa_v2v_r_hand"] > 1.0 and scores[name]["pa_v2v_l_hand"] > 1.0, name
    assert scores["neutral_face"]["pa_v2v_face"] > 0.5 and scores["neutral_face"]["pa_v2v_r_hand"] < 0.05
    # the training jaws open by ~0.3 rad like the GT's: their mean is a better constant face than a closed jaw
    assert scores["mean_face"]["pa_v2v_face"] < 0.8 * scores["neutral_face"]["pa_v2v_face"]
    assert scores["mean_face"]["pa_v2v_r_hand"] < 0.05
    assert scores["mean_hands"]["pa_v2v_face"] < 0.05  # only the hands are constant
    assert scores["mean_hands"]["pa_v2v_body"] < 0.5


def test_references_with_the_wholebody_layer_and_smplx_params(tmp_path):
    """The real pipeline's form: SMPLXParams (rotation matrices, absolute fingers) through WholeBodyLayer."""
    from common.wholebody import SMPLXParams, WholeBodyLayer

    layer = WholeBodyLayer.from_body_model(build_body_model("smplx", source="open")).double()

    def to_params(p: dict) -> SMPLXParams:
        aa = torch.cat([p["global_orient"], p["body_pose"], p["jaw_pose"], torch.zeros(len(p["betas"]), 6),
                        p["left_hand_pose"], p["right_hand_pose"]], 1).double()
        return SMPLXParams.from_axis_angle(aa, p["betas"].double(), p["expression"].double())

    gt, train = to_params(_params(2, 3)), to_params(_params(40, 4))
    transl = torch.tensor([[0.0, 0.2, 3.0]], dtype=torch.float64).expand(2, 3)
    refs = wholebody_references(lambda p: layer(p, transl).vertices, gt, train)
    gt_v = layer(gt, transl).vertices
    hand = torch.as_tensor(load_part_vertex_ids(ensure_open_model().vertex_sets_path, gt_v.shape[1])["r_hand"])
    face = torch.as_tensor(load_part_vertex_ids(ensure_open_model().vertex_sets_path, gt_v.shape[1])["face"])
    assert (refs["mean_hands"][:, hand] - gt_v[:, hand]).norm(dim=-1).mean() > 0.002
    assert (refs["mean_hands"][:, face] - gt_v[:, face]).abs().max() < 1e-9
    assert (refs["neutral_face"][:, face] - gt_v[:, face]).norm(dim=-1).mean() > 0.0005
    out = reference_params(gt, train)
    assert isinstance(out["mean_hands"], SMPLXParams) and out["mean_hands"].right_hand_pose.shape == (2, 15, 3, 3)


def test_mean_pose_forms_agree_and_substitution_keeps_the_body():
    gen = torch.Generator().manual_seed(2)
    aa = 0.4 * torch.randn(30, 45, generator=gen)
    mats = axis_angle_to_matrix(aa.reshape(30, 15, 3))
    mean_aa, mean_m = mean_rotation_pose(aa), mean_rotation_pose(mats)
    assert mean_aa.shape == (45,) and mean_m.shape == (15, 3, 3)
    assert torch.allclose(matrix_to_axis_angle(mean_m).reshape(45), mean_aa, atol=1e-5)
    gt = {"left_hand_pose": mats[:2], "right_hand_pose": mats[2:4], "jaw_pose": mats[:2, :1],
          "expression": torch.ones(2, 10), "body_pose": mats[:2]}
    out = reference_params(gt, {"left_hand_pose": mats, "right_hand_pose": mats})
    assert torch.equal(out["neutral_face"]["jaw_pose"], torch.eye(3).expand(2, 1, 3, 3))
    assert torch.equal(out["mean_hands"]["body_pose"], gt["body_pose"])
    assert torch.equal(out["neutral_face"]["left_hand_pose"], gt["left_hand_pose"])
    assert not out["mean_hands_neutral_face"]["expression"].any()
    assert "mean_face" not in out  # no training jaws given
    jaws = axis_angle_to_matrix(torch.tensor([[0.2, 0.0, 0.0]])).expand(30, 1, 3, 3)
    face = reference_params(gt, {"left_hand_pose": mats, "right_hand_pose": mats, "jaw_pose": jaws})["mean_face"]
    assert torch.allclose(face["jaw_pose"], jaws[:2], atol=1e-6) and not face["expression"].any()
    with pytest.raises(KeyError, match="jaw_pose"):
        reference_params({k: v for k, v in gt.items() if k != "jaw_pose"}, {"left_hand_pose": mats,
                                                                             "right_hand_pose": mats})
