"""Learning curves of a run: train loss terms and test metrics by iteration, with the reference lines.

    python -m tool.plot_metrics output/RUN [--out output/RUN/curves.png] [--metrics mpjpe pa_mpjpe]

Reads ``<run>/metrics.jsonl`` (written by the trainer): records of split 'train' (loss terms), 'test'
(evaluator summaries) and 'reference' (constant predictors scored by the same evaluator, drawn as dashed lines).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.errors import UserError

REFERENCE_STYLES = {"mean_pose": "mean training pose", "mean_pose_gt_root": "mean pose + GT root (oracle)"}


class MetricsFileError(UserError, ValueError):
    """metrics.jsonl is missing or unreadable."""


def read_metrics(path: Path) -> list[dict]:
    """Records of a metrics.jsonl file (one JSON object per line)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise MetricsFileError(f"{path}: cannot read ({err.strerror})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise MetricsFileError(f"{path}:{number}: not JSON ({err.msg})") from None
    return records


def series(records: list[dict], split: str, key: str) -> tuple[list[int], list[float]]:
    """(iterations, values) of ``key`` in records of ``split``; the last record wins per iteration."""
    points = {int(r["iteration"]): float(r[key]) for r in records if r.get("split") == split and key in r
              and isinstance(r[key], (int, float))}
    its = sorted(points)
    return its, [points[i] for i in its]


def plot_run(run_dir: Path, out: Path, metrics: tuple[str, ...] = ("mpjpe", "pa_mpjpe")) -> Path:
    """Write a PNG with one panel of train losses and one panel per test metric; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir / "metrics.jsonl")
    train_keys = sorted({k for r in records if r.get("split") == "train" for k in r
                         if k not in ("split", "iteration", "epoch", "lr")})
    refs = {k: v for r in records if r.get("split") == "reference" for k, v in r.items() if "/" in k}
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(5 * (1 + len(metrics)), 4))
    for key in train_keys:
        its, vals = series(records, "train", key)
        axes[0].plot(its, vals, label=key, lw=2.0 if key == "total" else 1.0)
    axes[0].set(title="train losses (weighted)", xlabel="iteration", yscale="log")
    axes[0].legend(fontsize=7)
    for ax, metric in zip(axes[1:], metrics):
        its, vals = series(records, "test", metric)
        ax.plot(its, vals, "o-", label="model (test split)")
        for name, label in REFERENCE_STYLES.items():
            if f"{name}/{metric}" in refs:
                ax.axhline(refs[f"{name}/{metric}"], ls="--", color="grey" if "gt_root" in name else "black",
                           label=f"ref: {label}")
        ax.set(title=f"test {metric} (mm)", xlabel="iteration")
        ax.legend(fontsize=7)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: <run>/curves.png)")
    parser.add_argument("--metrics", nargs="+", default=["mpjpe", "pa_mpjpe"])
    args = parser.parse_args(argv)
    try:
        path = plot_run(args.run_dir, args.out or args.run_dir / "curves.png", tuple(args.metrics))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
