"""The ``train`` and ``loader`` sections: the regressor's training step and one data worker's throughput."""
from __future__ import annotations

from typing import Callable

import torch

from tool.bench.timing import best_ratio, figure, interleaved, paired_ratio
from tool.bench.workbench import BATCH, SIZE, Workbench, benchmark_optimizer


def bare_resnet_step(images: torch.Tensor) -> Callable[[], None]:
    """A torchvision ResNet-50 training step (CE on its 1000-way fc) on ``images``, with the optimizer the
    regressor's step uses (:func:`benchmark_optimizer`: the trainer's fused Adam), so the ratio compares the
    networks only."""
    import torchvision

    net = torchvision.models.resnet50(weights=None).to(images.device).train()
    optimizer = benchmark_optimizer(net)
    labels = torch.randint(0, 1000, (images.shape[0],), generator=torch.Generator().manual_seed(0))
    labels = labels.to(images.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    return step


def train_section(bench: Workbench, rounds: int) -> list[dict]:
    t = interleaved({"regressor": bench.regressor_step(), "bare_resnet50": bare_resnet_step(bench.batch["img"])},
                    rounds, bench.sync)
    ratio = paired_ratio(t, "bare_resnet50", "regressor")  # = regressor img/s / bare img/s
    return [
        figure("train.regressor_img_per_s", BATCH / t["regressor"].wall * 1e3, "img/s",
               f"R50 3DCrowdNet regressor training step, batch {BATCH}, {SIZE}x{SIZE}",
               step_ms=t["regressor"].wall, step_cpu_ms=t["regressor"].cpu),
        figure("train.bare_resnet50_img_per_s", BATCH / t["bare_resnet50"].wall * 1e3, "img/s",
               "torchvision ResNet-50 training step, same images, CE on fc",
               step_ms=t["bare_resnet50"].wall, step_cpu_ms=t["bare_resnet50"].cpu),
        figure("train.regressor_vs_bare", ratio, "x", "regressor img/s / bare ResNet-50 img/s (same run)",
               best=best_ratio(t, "bare_resnet50", "regressor")),
    ]


def loader_section(bench: Workbench, rounds: int, block: int) -> list[dict]:
    """One worker = this process with one torch thread; ``block`` samples per timed call."""
    order = bench.order()
    cursor = {"plain": 0, "edge": 0}

    def samples(kind: str) -> Callable[[], None]:
        dataset = bench.edge_dataset if kind == "edge" else bench.dataset

        def run() -> None:
            for _ in range(block):
                dataset[order[cursor[kind] % len(order)]]
                cursor[kind] += 1
        return run

    t = interleaved({"worker": samples("plain"), "worker_edge": samples("edge"), "regressor": bench.regressor_step()},
                    rounds, bench.sync, threads={"worker": 1, "worker_edge": 1})
    per_s = lambda name: block / t[name].wall * 1e3  # noqa: E731
    ratio = lambda name: paired_ratio(t, "regressor", name, BATCH, block)  # noqa: E731 (worker/s / train img/s)
    best = lambda name: best_ratio(t, "regressor", name, BATCH, block)  # noqa: E731
    edge_ratio = ratio("worker_edge")
    return [
        figure("loader.worker_samples_per_s", per_s("worker"), "samples/s",
               "one worker (1 torch thread): decode + crop + augment + posefix",
               sample_ms=t["worker"].wall / block, sample_cpu_ms=t["worker"].cpu / block),
        figure("loader.worker_edge_samples_per_s", per_s("worker_edge"), "samples/s",
               "one worker (1 thread): as above + on-the-fly SMPL overlap edge",
               sample_ms=t["worker_edge"].wall / block, sample_cpu_ms=t["worker_edge"].cpu / block),
        figure("loader.regressor_img_per_s", BATCH / t["regressor"].wall * 1e3, "img/s",
               "regressor training throughput in this run (reference)", step_ms=t["regressor"].wall),
        figure("loader.worker_vs_training", ratio("worker"), "x", "worker samples/s / regressor training img/s",
               ">= 3", ratio("worker") >= 3, best=best("worker")),
        figure("loader.worker_edge_vs_training", edge_ratio, "x",
               "worker samples/s with overlap edge / regressor training img/s", ">= 3", edge_ratio >= 3,
               best=best("worker_edge")),
    ]
