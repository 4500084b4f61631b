"""Fit a fixed set of training samples and score them with the evaluator next to the references (docs/learning.md).

    python -m tool.overfit_probe [--cfg configs/quickstart.yaml] [--samples 32] [--steps 200] [--opts k=v ...]

The first ``--samples`` records of the training split, mapped without augmentation, in fixed batches of 16, are
trained on for ``--steps`` Adam steps (``train.lr``) with the config's model and loss weights, then evaluated
(eval-mode BatchNorm) by the test set's evaluator on the same samples, next to the constant-prediction references.
Which loss terms let a network memorise, and which fight each other, shows here in minutes.
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch.utils.data import DataLoader, Subset


def overfit_and_score(cfg, num_samples: int, steps: int) -> tuple[dict, dict]:
    """Train the config's model on the first ``num_samples`` training records (mapped without augmentation, fixed
    batches of 16) for ``steps`` Adam steps, then score it on them: (model summary, {reference: summary})."""
    from common.body_models import body_model_from_config
    from common.engine.trainer import evaluate
    from common.evaluation.reference_eval import evaluate_references
    from common.models.build import build_model
    from data.registry import build_dataset, build_evaluator
    from data.train_poses import smpl_poses_of

    body = body_model_from_config(cfg, kind="smpl")
    dataset = build_dataset(cfg.data.train_sets[0], "train", cfg, train=False, body_model=body)
    subset = Subset(dataset, range(min(num_samples, len(dataset))))
    batches = list(DataLoader(subset, batch_size=16, shuffle=False))
    model = build_model(cfg, body).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    for step in range(steps):
        batch = batches[step % len(batches)]
        terms = model.losses(batch, model(batch))
        optimizer.zero_grad()
        sum(terms.values()).backward()
        optimizer.step()
    loader = DataLoader(subset, batch_size=16, shuffle=False)
    make = lambda folder: build_evaluator(cfg, body, folder)  # noqa: E731
    summary = evaluate(model, loader, make(None), torch.device("cpu"), None, False)
    return summary, evaluate_references(body, smpl_poses_of([dataset]), loader, make, torch.device("cpu"))


def main(argv: list[str] | None = None) -> int:
    from common.config import load_config
    from common.evaluation.reference_eval import reference_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/quickstart.yaml")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cfg = load_config(args.cfg, ["data.augment=false", *args.opts])
    torch.set_num_threads(cfg.experiment.num_threads or torch.get_num_threads())
    summary, refs = overfit_and_score(cfg, args.samples, args.steps)
    print(f"{summary['num_evaluated']} training samples, {args.steps} steps:")
    print(reference_table(summary, refs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
