"""The ``wholebody`` section: the ExPose-style whole-body training step vs the body-only steps, and the share of
the step spent in the differentiable crop sampler (issue 8, "Performance").

Same batch size (8) and body backbone (ResNet-50 at 256 px) for every step:
  wholebody          the whole-body model (body network + hand network on 2 x 224 px crops + head network on a
                     256 px crop, merge, every loss), ``img_hd`` 512 px, a real batch of the whole-body world;
  wholebody_body     the same model with ``use_hand_net`` / ``use_head_net`` off (its body network alone);
  regressor          the 3DCrowdNet regressor (the body-only model of the crowdnet family) on its own batch.
The crop sampler's share: its calls are timed inside the whole-body step (a wrapper around
``common.models.wholebody.crops.sample_crops``, forward only; its backward is part of the autograd pass).
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from tool.bench.timing import best_ratio, figure, interleaved, paired_ratio
from tool.bench.workbench import BATCH, SIZE, Workbench


def wholebody_cfg(quick: bool, **wholebody: object):
    from common.config import load_config

    extra = [f"wholebody.{k}={v}" for k, v in wholebody.items()]
    return load_config(None, ["model.family=wholebody", "data.train_sets=[synthetic_wholebody]",
                              "data.test_set=synthetic_wholebody", f"data.batch_size={BATCH}",
                              f"data.input_size={SIZE}", f"data.wholebody_world.num_train_images={8 if quick else 16}",
                              "data.wholebody_world.num_test_images=2", *extra])


def wholebody_batch(cfg, device: torch.device) -> dict:
    """A real whole-body training batch (mapper with augmentation) of ``BATCH`` samples."""
    from torch.utils.data import default_collate

    from common.body_models import family_body_model
    from data.registry import build_dataset

    dataset = build_dataset("synthetic_wholebody", "train", cfg, train=True, body_model=family_body_model(cfg))
    samples = [dataset[i % len(dataset)] for i in range(BATCH)]
    return {k: v.to(device) for k, v in default_collate(samples).items()}


class SamplerClock:
    """Accumulates the wall time of ``crops.sample_crops`` calls (part_pass looks it up per call) while installed."""

    def __init__(self) -> None:
        import common.models.wholebody.crops as model_module

        self.module, self.original, self.ms = model_module, model_module.sample_crops, 0.0

    def __enter__(self) -> "SamplerClock":
        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = self.original(*args, **kwargs)
            self.ms += (time.perf_counter() - start) * 1e3
            return out

        self.module.sample_crops = timed
        return self

    def __exit__(self, *exc) -> None:
        self.module.sample_crops = self.original


def wholebody_section(bench: Workbench, rounds: int) -> list[dict]:
    from common.body_models import family_body_model
    from common.models.build import build_experiment_model

    cfg = wholebody_cfg(bench.quick)
    batch = wholebody_batch(cfg, bench.device)

    def step_of(config) -> Callable[[], None]:
        model = build_experiment_model(config, family_body_model(config), training=True).to(bench.device).train()
        return bench.training_step(model, batch)

    clock = SamplerClock()
    full = step_of(cfg)

    def full_timed() -> None:
        with clock:
            full()

    tasks = {"wholebody": full_timed, "wholebody_body": step_of(wholebody_cfg(bench.quick, use_hand_net=False,
                                                                              use_head_net=False)),
             "regressor": bench.regressor_step()}
    clock_before = clock.ms
    t = interleaved(tasks, rounds, bench.sync)
    sampler_ms = (clock.ms - clock_before) / rounds  # one warm-up call is in clock_before
    return [
        figure("wholebody.step_vs_regressor", paired_ratio(t, "wholebody", "regressor"), "x",
               f"whole-body training step / 3DCrowdNet regressor step, batch {BATCH}, R50 {SIZE}px (same run)",
               target="<= 1.6", passed=paired_ratio(t, "wholebody", "regressor") <= 1.6,
               best=best_ratio(t, "wholebody", "regressor"), step_ms=t["wholebody"].wall),
        figure("wholebody.step_vs_body_network", paired_ratio(t, "wholebody", "wholebody_body"), "x",
               "whole-body step / the same model without hand and head networks (same run)",
               best=best_ratio(t, "wholebody", "wholebody_body"), step_ms=t["wholebody_body"].wall),
        figure("wholebody.crop_sampler_share", sampler_ms / t["wholebody"].wall, "fraction",
               "forward time of the crop sampler (3 crops per sample) / whole-body step", target="<= 0.05",
               passed=sampler_ms / t["wholebody"].wall <= 0.05, sampler_ms=sampler_ms),
    ]
