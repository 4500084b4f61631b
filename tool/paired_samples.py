"""Paired per-sample comparison of two evaluations of the same test split (e.g. a model vs a constant reference).

    python -m tool.paired_samples A/per_sample.jsonl B/per_sample.jsonl [--metrics pa_v2v_l_hand pa_v2v_r_hand]

Both files are the evaluator's ``per_sample.jsonl`` (one record per sample with its ``index``). For each metric,
over the samples where both have a finite value: the means of A and B, the mean of A - B with its standard error
(sample std / sqrt(n)), and how many samples A has lower. "clearly below" = A - B below minus two standard errors.
One split and one training seed: this measures the test-set noise, not the seed-to-seed spread.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np


def read_per_sample(path: Path) -> dict[int, dict]:
    """{index: record} of a ``per_sample.jsonl``; a broken line is a ValueError naming the file and line."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            out[int(record["index"])] = record
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{number}: not a per-sample record ({err})") from None
    return out


def paired(a: dict[int, dict], b: dict[int, dict], metric: str) -> dict:
    """Statistics of A - B on ``metric`` over the shared samples with finite values in both."""
    pairs = [(a[i][metric], b[i][metric]) for i in sorted(set(a) & set(b))
             if isinstance(a[i].get(metric), (int, float)) and isinstance(b[i].get(metric), (int, float))
             and math.isfinite(a[i][metric]) and math.isfinite(b[i][metric])]
    if not pairs:
        return {"metric": metric, "n": 0}
    x, y = np.array(pairs, dtype=np.float64).T
    diff = x - y
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return {"metric": metric, "n": len(diff), "mean_a": float(x.mean()), "mean_b": float(y.mean()),
            "diff": float(diff.mean()), "se": se, "a_lower": int((diff < 0).sum()),
            "clearly_below": bool(diff.mean() < -2 * se)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="per_sample.jsonl of the model")
    parser.add_argument("b", type=Path, help="per_sample.jsonl of the reference")
    parser.add_argument("--metrics", nargs="+", default=["pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face"])
    args = parser.parse_args(argv)
    try:
        a, b = read_per_sample(args.a), read_per_sample(args.b)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'metric':16s} {'n':>4s} {'A':>8s} {'B':>8s} {'A - B':>8s} {'se':>6s}  A lower  clearly below")
    for metric in args.metrics:
        s = paired(a, b, metric)
        if not s["n"]:
            print(f"{metric:16s} {0:4d}  (no shared finite values)")
            continue
        print(f"{metric:16s} {s['n']:4d} {s['mean_a']:8.2f} {s['mean_b']:8.2f} {s['diff']:8.2f} {s['se']:6.2f}  "
              f"{s['a_lower']:3d}/{s['n']:<4d} {'yes' if s['clearly_below'] else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
