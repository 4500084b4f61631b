"""How much the input 2D pose alone tells: an MLP from the input 2D pose to SMPL rotations (docs/learning.md).

    python -m tool.lifting_bound [--cfg configs/quickstart.yaml] [--steps 3000] [--batch 64] [--passes 3]

Collects (input 2D pose, GT SMPL pose) pairs from ``--passes`` augmented passes over the training split through
the shared mapper (the same posefix-noised crops the network sees), trains a 3-layer MLP (512 hidden, L1 on 24 6D
rotations, Adam 1e-3) for ``--steps`` steps of ``--batch``, and scores it on the test split with the test set's
evaluator next to the constant-prediction references. A lower bound on the samples a CNN regressor needs: the
MLP is given the 2D pose directly.
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader


def pose_features(batch: dict, input_size: int) -> torch.Tensor:
    """(B, 90): crop-normalised input 2D pose (30 x 2, centred) and its validity (30)."""
    return torch.cat([batch["pose2d"].reshape(-1, 60) / input_size - 0.5, batch["pose2d_valid"]], dim=1)


class LiftingMLP(nn.Module):
    """Input 2D pose -> SMPL mesh (mean betas); ``preds['vertices']`` as the evaluators expect."""

    def __init__(self, body_model: nn.Module, input_size: int) -> None:
        super().__init__()
        object.__setattr__(self, "body_model", body_model)
        self.input_size = input_size
        self.net = nn.Sequential(nn.Linear(90, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 144))

    def rotations(self, batch: dict) -> torch.Tensor:
        return self.net(pose_features(batch, self.input_size))

    def forward(self, batch: dict) -> dict:
        from common.geometry.rotations import rot6d_to_axis_angle

        pose = rot6d_to_axis_angle(self.rotations(batch).reshape(-1, 24, 6)).reshape(-1, 72)
        pose = torch.cat([pose[:, :66], torch.zeros_like(pose[:, 66:])], dim=1)  # hands: not predicted
        betas = pose.new_zeros(pose.shape[0], 10)
        return {"vertices": self.body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas).vertices}


def main(argv: list[str] | None = None) -> int:
    from common.body_models import body_model_from_config
    from common.config import load_config
    from common.engine.trainer import evaluate
    from common.evaluation.reference_eval import evaluate_references, reference_table
    from common.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d
    from data.registry import build_dataset, build_evaluator
    from data.train_poses import smpl_poses_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cfg = load_config(args.cfg, args.opts)
    body = body_model_from_config(cfg, kind="smpl")
    train_set = build_dataset(cfg.data.train_sets[0], "train", cfg, train=True, body_model=body)
    feats, targets = [], []
    for epoch in range(args.passes):
        train_set.set_epoch(epoch)
        for batch in DataLoader(train_set, batch_size=64, num_workers=cfg.data.num_workers):
            feats.append(pose_features(batch, cfg.data.input_size))
            targets.append(matrix_to_rot6d(axis_angle_to_matrix(batch["smpl_pose"].float().reshape(-1, 24, 3))))
    x, y = torch.cat(feats), torch.cat(targets).reshape(-1, 144)
    model = LiftingMLP(body, cfg.data.input_size)
    optimizer = torch.optim.Adam(model.net.parameters(), lr=1e-3)
    for _ in range(args.steps):
        idx = torch.randint(0, len(x), (args.batch,))
        loss = (model.net(x[idx]) - y[idx]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = DataLoader(build_dataset(cfg.data.test_set, "test", cfg, train=False, body_model=body), batch_size=32)
    make = lambda folder: build_evaluator(cfg, body, folder)  # noqa: E731
    summary = evaluate(model, test, make(None), torch.device("cpu"), None, False)
    refs = evaluate_references(body, smpl_poses_of([train_set]), test, make, torch.device("cpu"))
    print(f"lifting MLP, {args.steps} steps x {args.batch} = {args.steps * args.batch} samples seen "
          f"({len(x)} distinct training pairs):")
    print(reference_table(summary, refs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
