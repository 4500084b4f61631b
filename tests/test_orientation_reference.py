"""tool/orientation_reference.py reads a run's logged orientation term, unweighted, over the first / last steps."""
from __future__ import annotations

import json

import pytest

from tool.orientation_reference import logged_orientation_loss


def test_first_and_last_steps_unweighted(tmp_path):
    rows = [{"split": "reference", "iteration": 0}] + [
        {"split": "train", "iteration": i, "global_orient": 10.0 * v} for i, v in enumerate([0.9, 0.7, 0.5, 0.3])]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert logged_orientation_loss(tmp_path, 10.0, steps=2) == pytest.approx((0.8, 0.4))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"split": "train", "total": 1.0}) + "\n")
    with pytest.raises(SystemExit, match="global_orient"):
        logged_orientation_loss(tmp_path, 10.0)
