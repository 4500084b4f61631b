"""Where the whole-body model's part error comes from: evaluate a checkpoint twice on the test split, with the part
crops placed by the body network (the method) and by the GT 2D keypoints (a probe: it needs GT keypoints), and print
the per-part PA-V2V of both next to each other.

    python -m tool.part_crop_probe --cfg configs/wholebody_quickstart.yaml --ckpt RUN/ckpt_epoch0040.pth [--opts ...]

Hands better with GT crops than with predicted ones: the part network learned, the body network's boxes miss.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch


def probe(cfg, ckpt: str) -> dict[str, dict[str, float]]:
    """{'predicted crops' | 'gt crops': {pa_v2v_l_hand, pa_v2v_r_hand, pa_v2v_face}} on ``cfg``'s test split."""
    from common.body_models import family_body_model
    from common.engine import load_model_weights
    from common.models.build import build_experiment_model
    from data.loader import build_test_loader
    from data.registry import build_evaluator, dataset_records

    body = family_body_model(cfg)
    loader = build_test_loader(cfg, body_model=body)
    model = build_experiment_model(cfg, body, training=False)
    load_model_weights(ckpt, model)
    model.train_crops, model.train_crop_jitter = "gt", 0.0
    results = {}
    for name, gt in (("predicted crops", False), ("gt crops", True)):
        model.eval()
        model.training = gt  # the top module only: GT boxes; BatchNorm and dropout stay in eval mode
        evaluator = build_evaluator(cfg, body, None, records=dataset_records(loader))
        with torch.no_grad():
            summary = _evaluate_as_is(model, loader, evaluator)
        results[name] = {k: round(float(summary[k]), 2) for k in ("pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face")}
    return results


def _evaluate_as_is(model, loader, evaluator) -> dict:
    """The evaluation loop of ``common.engine.trainer.evaluate`` without its switch to eval mode (the probe's
    top-level flag must survive; every submodule is already in eval mode)."""
    from common.engine.trainer import move_to_device

    evaluator.reset(list(range(len(loader.dataset))))
    for batch in loader:
        evaluator.process(batch, model(move_to_device(batch, torch.device("cpu"))))
    return evaluator.evaluate(None)


def main(argv: Sequence[str] | None = None) -> int:
    from common.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    for name, parts in probe(load_config(args.cfg, args.opts), args.ckpt).items():
        print(f"{name:<16}", "  ".join(f"{k} {v:6.2f}" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
