"""Has the whole-body body network learned the global orientation? Compare its training orientation loss with
the constant predictors' error on the same training records.

    python -m tool.orientation_reference --cfg output/s6_R1/config.yaml [--run output/s6_R1]

Prints the mean geodesic angle (rad) between the training records' global orientations (camera frame, before
augmentation) and (a) the upright-facing-the-camera rest orientation the model starts from, (b) their chordal
mean; with ``--run``, the run's logged ``global_orient`` term divided by its weight (``wholebody.loss``),
averaged over the first and the last 10 logged training steps (it includes the augmentation's rotations).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


def constant_orientation_errors(cfg) -> dict[str, float]:
    """{'upright_facing_camera': rad, 'chordal_mean': rad} over the records of ``cfg.data.train_sets``."""
    from common.geometry.rotation_mean import chordal_mean
    from common.geometry.rotations import axis_angle_to_matrix
    from common.models.wholebody.losses import geodesic
    from common.models.wholebody.param_vector import UPRIGHT_FACING_CAMERA
    from data.registry import load_records

    roots = [np.asarray(r.smplx_pose).reshape(55, 3)[0] for name in cfg.data.train_sets
             for r in load_records(name, "train", cfg) if getattr(r, "smplx_pose", None) is not None]
    rot = axis_angle_to_matrix(torch.tensor(np.stack(roots), dtype=torch.float64))
    upright = UPRIGHT_FACING_CAMERA.double().expand_as(rot)
    return {"records": len(roots), "upright_facing_camera": float(geodesic(rot, upright).mean()),
            "chordal_mean": float(geodesic(rot, chordal_mean(rot).expand_as(rot)).mean())}


def logged_orientation_loss(run: Path, weight: float, steps: int = 10) -> tuple[float, float]:
    """(first, last) mean of the unweighted ``global_orient`` term over ``steps`` logged training steps."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    values = [r["global_orient"] / weight for r in rows if r.get("split") == "train" and "global_orient" in r]
    if not values:
        raise SystemExit(f"{run / 'metrics.jsonl'}: no training 'global_orient' records")
    return float(np.mean(values[:steps])), float(np.mean(values[-steps:]))


def main(argv: Sequence[str] | None = None) -> int:
    from common.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--run", default=None, help="run folder whose metrics.jsonl to read")
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    errors = constant_orientation_errors(cfg)
    print(f"training records: {errors['records']}")
    print(f"constant upright facing the camera: {errors['upright_facing_camera']:.3f} rad")
    print(f"constant chordal mean:              {errors['chordal_mean']:.3f} rad")
    if args.run:
        first, last = logged_orientation_loss(Path(args.run), cfg.wholebody.loss.global_orient)
        print(f"{args.run}: training global_orient first / last 10 logged steps: {first:.3f} / {last:.3f} rad")
    return 0


if __name__ == "__main__":
    sys.exit(main())
