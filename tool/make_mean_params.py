"""Write the embedded world's mean SMPL parameters (SPIN layout) used to initialise the regression heads.

    python -m tool.make_mean_params [--out assets/mean_params_open.npz] [--samples 20000] [--seed 0]

Body joints: the chordal mean of poses drawn from the synthetic world's pose sampler (data/synthetic/poses.py).
Root: an upright person facing the camera in the y-down camera frame, a half-turn about x (the synthetic world
draws yaw uniformly, so its mean root orientation is not defined). Betas: 0 (the open shape space has zero mean).
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch

from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.models.mean_params import write_mean_params
from data.synthetic.poses import sample_body_pose

UPRIGHT_FACING_CAMERA = (math.pi, 0.0, 0.0)  # SMPL's Y-up, +Z-front body in the x-right, y-down, z-forward camera


def mean_synthetic_pose(samples: int, seed: int) -> np.ndarray:
    """(72,) axis-angle: upright root + chordal mean of ``samples`` sampled body poses (joints 1..23)."""
    rng = np.random.default_rng(seed)
    poses = np.stack([sample_body_pose(rng)[0] for _ in range(samples)]).reshape(samples, 23, 3)
    mean = matrix_to_axis_angle(chordal_mean(axis_angle_to_matrix(torch.as_tensor(poses)))).numpy()
    return np.concatenate([np.asarray(UPRIGHT_FACING_CAMERA), mean.reshape(69)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/mean_params_open.npz")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = write_mean_params(args.out, mean_synthetic_pose(args.samples, args.seed))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
