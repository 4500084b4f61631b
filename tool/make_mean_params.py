"""Write the embedded world's mean parameters used to initialise the regression heads.

    python -m tool.make_mean_params [--out assets/mean_params_open.npz] [--samples 20000] [--seed 0]
    python -m tool.make_mean_params --family wholebody [--out assets/mean_params_wholebody_open.npz]

SMPL (default; SPIN layout): body joints = the chordal mean of poses drawn from the synthetic world's pose sampler
(data/synthetic/poses.py). Root: an upright person facing the camera in the y-down camera frame, a half-turn
about x (the worlds draw yaw partly or wholly uniformly, so a mean root orientation is not meaningful). Betas: 0
(the open shape space has zero mean).

Whole body (``--family wholebody``; the layout ``wholebody.mean_params`` reads, common/models/wholebody/mean_init.py):
the same root and body joints 1..21 (SMPL and SMPL-X share them; the whole-body world draws its bodies from the
same sampler), the jaw and the absolute finger rotations = chordal means of the whole-body world's face and hand
samplers (data/synthetic_wholebody/parts.py) in the open SMPL-X model's hand space, eyes at identity, betas and
expression 0.
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


def _mean_rotations(samples: np.ndarray) -> np.ndarray:
    """(N, J, 3) axis-angle samples -> (J, 3) axis-angle chordal mean per joint."""
    return matrix_to_axis_angle(chordal_mean(axis_angle_to_matrix(torch.as_tensor(samples)))).numpy()


def mean_synthetic_pose(samples: int, seed: int) -> np.ndarray:
    """(72,) axis-angle: upright root + chordal mean of ``samples`` sampled body poses (joints 1..23)."""
    rng = np.random.default_rng(seed)
    poses = np.stack([sample_body_pose(rng)[0] for _ in range(samples)]).reshape(samples, 23, 3)
    return np.concatenate([np.asarray(UPRIGHT_FACING_CAMERA), _mean_rotations(poses).reshape(69)])


def mean_wholebody_pose(samples: int, seed: int, space) -> np.ndarray:
    """(55, 3) axis-angle SMPL-X pose (module docstring); ``space``: the HandSpace the world samples hands in."""
    from data.synthetic_wholebody.parts import sample_face, sample_hand_pose

    rng = np.random.default_rng(seed)
    body = mean_synthetic_pose(samples, seed).reshape(24, 3)[:22]  # root + joints 1..21
    jaw = _mean_rotations(np.stack([sample_face(rng)[1] for _ in range(samples)])[:, None])
    hands = [_mean_rotations(np.stack([sample_hand_pose(rng, space, side)[0] for _ in range(samples)]))
             for side in ("left", "right")]
    return np.concatenate([body, jaw, np.zeros((2, 3)), *hands]).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("crowdnet", "wholebody"), default="crowdnet")
    parser.add_argument("--out", default=None, help="default: assets/mean_params_open.npz (crowdnet), "
                                                     "assets/mean_params_wholebody_open.npz (wholebody)")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.family == "crowdnet":
        pose = mean_synthetic_pose(args.samples, args.seed)
        path = write_mean_params(args.out or "assets/mean_params_open.npz", pose)
    else:
        from common.models.wholebody.mean_init import write_wholebody_mean_params
        from common.open_model import ensure_open_model
        from data.synthetic_wholebody.parts import HandSpace

        path = args.out or "assets/mean_params_wholebody_open.npz"
        space = HandSpace.from_model_file(ensure_open_model().smplx_path)
        write_wholebody_mean_params(path, mean_wholebody_pose(args.samples, args.seed, space))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
