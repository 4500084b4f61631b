"""What the benchmark sections share, built on first use: config, body models, synthetic dataset, a real batch."""
from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Callable

import numpy as np
import torch

BATCH, SIZE = 8, 256


def benchmark_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer every timed training step uses: the trainer's (``build_optimizer``: fused Adam where
    available) at lr 1e-4."""
    from common.config import load_config
    from common.engine.optim import build_optimizer

    return build_optimizer(model, load_config(None, ["train.lr=1e-4"]).train)


class Workbench:
    """What the sections share, built on first use: config, body models, synthetic dataset, a real batch."""

    def __init__(self, device: torch.device, quick: bool) -> None:
        self.device = device
        self.quick = quick

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @cached_property
    def cfg(self):
        """Defaults (R50, 256 crops, batch 8, the open body model) with a small synthetic world."""
        from common.config import load_config

        images = 12 if self.quick else 24  # generated once into common.paths.cache_dir()
        return load_config(None, [f"data.synthetic.num_train_images={images}", "data.synthetic.num_test_images=4",
                                  f"data.batch_size={BATCH}", f"data.input_size={SIZE}"])

    @cached_property
    def edge_cfg(self):
        """As ``cfg`` with ``sefd.mode=teacher``: 4 input channels, the mapper renders ``edge`` = the SMPL
        overlap edge on the fly (``sefd.edge_dir`` empty)."""
        from common.config.loader import derive_input_channels

        return derive_input_channels(dataclasses.replace(
            self.cfg, sefd=dataclasses.replace(self.cfg.sefd, mode="teacher", teacher_edge="smpl_overlap",
                                               edge_dir="")))

    def body_model(self):
        """A fresh CPU instance of the configured (open) SMPL-layout body model."""
        from common.body_models import body_model_from_config

        return body_model_from_config(self.cfg, kind="smpl")

    @cached_property
    def cpu_body(self):
        return self.body_model()

    @cached_property
    def dataset(self):
        """The synthetic training split behind the shared mapper (augmentation and posefix on)."""
        from data.registry import build_dataset

        return build_dataset("synthetic", "train", self.cfg, train=True, body_model=self.cpu_body)

    @cached_property
    def edge_dataset(self):
        """The same records behind the SEFD teacher's mapper (sample['edge'] = on-the-fly overlap edge)."""
        from data.registry import build_dataset

        return build_dataset("synthetic", "train", self.edge_cfg, train=True, body_model=self.cpu_body)

    def order(self) -> list[int]:
        """A fixed shuffled order of the dataset's indices."""
        return np.random.default_rng(0).permutation(len(self.dataset)).tolist()

    def collate(self, dataset, count: int = BATCH) -> dict:
        """A real collated batch of the first ``count`` samples of :meth:`order`, on the device."""
        from torch.utils.data import default_collate

        samples = [dataset[i] for i in self.order()[:count]]
        return {k: v.to(self.device) for k, v in default_collate(samples).items()}

    @cached_property
    def batch(self) -> dict:
        return self.collate(self.dataset)

    def regressor(self, edge: bool = False, return_features: bool = False):
        """A fresh regressor (its own body model) in training mode: RGB, or RGB + edge with ``edge``."""
        from common.models.build import build_model

        cfg = self.edge_cfg if edge else self.cfg
        return build_model(cfg, self.body_model(), return_features=return_features).to(self.device).train()

    def training_step(self, model, batch: dict, bf16: bool = False) -> Callable[[], None]:
        """The trainer's step on ``batch``: forward + model.losses + backward + its optimizer (fused Adam where
        available); ``bf16``: bfloat16 autocast on the CPU, as ``train.cpu_bf16`` sets it. No AMP / clipping."""
        from common.engine.optim import training_autocast

        optimizer = benchmark_optimizer(model)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with training_autocast(False, bf16, self.device):
                losses = model.losses(batch, model(batch))
            sum(losses.values()).backward()
            optimizer.step()

        return step

    def regressor_step(self) -> Callable[[], None]:
        """A fresh baseline regressor's training step on :attr:`batch` (each section gets its own model)."""
        return self.training_step(self.regressor(), self.batch)
