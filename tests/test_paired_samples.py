"""tool/paired_samples.py: known answers of the paired per-sample comparison, and a broken file named."""
import json

import pytest

from tool.paired_samples import main, paired, read_per_sample


def _write(path, values):
    path.write_text("".join(json.dumps({"index": i, "m": v}) + "\n" for i, v in enumerate(values)))
    return path


def test_known_differences_standard_error_and_only_shared_finite_samples(tmp_path):
    a = read_per_sample(_write(tmp_path / "a.jsonl", [1.0, 2.0, 3.0, float("nan"), 9.0]))
    b = read_per_sample(_write(tmp_path / "b.jsonl", [2.0, 4.0, 6.0, 1.0]))  # sample 4 missing in B
    s = paired(a, b, "m")
    assert s["n"] == 3 and s["mean_a"] == pytest.approx(2.0) and s["mean_b"] == pytest.approx(4.0)
    assert s["diff"] == pytest.approx(-2.0) and s["se"] == pytest.approx(1.0 / 3**0.5)  # diffs -1, -2, -3
    assert s["a_lower"] == 3 and s["clearly_below"]
    same = paired(a, a, "m")
    assert same["diff"] == 0.0 and not same["clearly_below"]
    assert paired(a, b, "absent")["n"] == 0


def test_a_broken_line_names_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"index": 0, "m": 1}\n{"m": 2}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a per-sample record"):
        read_per_sample(bad)
    assert main([str(bad), str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
