"""tool/plot_metrics.py: reads a run's metrics.jsonl and draws the curves with the reference lines."""
from __future__ import annotations

import json

import pytest

from tool.plot_metrics import MetricsFileError, main, read_metrics, series


def _write_run(folder):
    records = [{"split": "reference", "iteration": 0, "mean_pose/mpjpe": 300.0, "mean_pose/pa_mpjpe": 110.0,
                "mean_pose_gt_root/mpjpe": 138.0, "mean_pose_gt_root/pa_mpjpe": 110.0}]
    for it in (10, 20, 30):
        records.append({"split": "train", "iteration": it, "epoch": 1, "total": 3.0 / it, "pose_param": 1.0 / it,
                        "lr": 1e-3})
    records += [{"split": "test", "iteration": 20, "mpjpe": 250.0, "pa_mpjpe": 105.0},
                {"split": "test", "iteration": 30, "mpjpe": 200.0, "pa_mpjpe": 95.0}]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


def test_series_and_png(tmp_path):
    _write_run(tmp_path)
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert series(records, "test", "pa_mpjpe") == ([20, 30], [105.0, 95.0])
    assert series(records, "train", "total")[0] == [10, 20, 30]
    out = tmp_path / "curves.png"
    assert main([str(tmp_path), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_broken_metrics_file_is_one_line(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"split": "train"}\nnot json\n')
    with pytest.raises(MetricsFileError, match=r"metrics.jsonl:2: not JSON"):
        read_metrics(tmp_path / "metrics.jsonl")
    assert main([str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
