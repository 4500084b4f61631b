"""tool/part_crop_probe.face_output_spread: known answers for a face that follows the person and one that does not."""
import pytest
import torch

from tool.part_crop_probe import face_output_spread


def test_a_perfect_face_matches_the_spread_and_a_constant_one_has_none():
    gen = torch.Generator().manual_seed(0)
    jaw, expr = torch.rand(20, 3, generator=gen) * 0.3, torch.randn(20, 10, generator=gen)
    valid = torch.ones(20)
    valid[:5] = 0  # people without a face are left out
    same = face_output_spread(jaw, jaw, expr, expr, valid)
    assert same["jaw_std"] == pytest.approx(same["gt_jaw_std"]) and same["jaw_corr"] == pytest.approx(1.0)
    assert same["expr_std"] == pytest.approx(same["gt_expr_std"]) and same["expr_corr"] == pytest.approx(1.0)
    flat = face_output_spread(torch.full_like(jaw, 0.04), jaw, torch.zeros_like(expr), expr, valid)
    assert flat["jaw_std"] == 0.0 and flat["expr_std"] == 0.0 and flat["jaw_corr"] == 0.0 and flat["expr_corr"] == 0.0
    assert flat["gt_jaw_std"] == pytest.approx(float(jaw[5:, 0].std()))
    flipped = face_output_spread(-jaw, jaw, -expr, expr, valid)
    assert flipped["jaw_corr"] == pytest.approx(-1.0) and flipped["expr_corr"] == pytest.approx(-1.0)
