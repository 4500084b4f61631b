"""The ``precision`` section: what ``train.cpu_bf16`` and the fused Adam buy on this machine's CPU.

Tasks (each a full training step on a real synthetic batch: forward + losses + backward + Adam step):
  fp32 / bf16          the quickstart's regressor (ResNet-18, 64 px, batch 16) without / with bfloat16 autocast,
                       exactly as the trainer enters it (common.engine.optim.training_autocast);
  r50_fp32 / r50_bf16  the same for the default regressor (ResNet-50, 256 px, batch 8);
  adam_loop / adam_fused  one Adam step over the R50 regressor's parameters with the per-tensor loop torch uses
                       on CPU by default / the fused kernel build_optimizer picks (gradients fixed, random).
CPU only: on CUDA the trainer uses float16 with a GradScaler (``train.amp``), not this path.
"""
from __future__ import annotations

import torch

from tool.bench.timing import best_ratio, figure, interleaved, paired_ratio
from tool.bench.workbench import Workbench

QUICK_SIZE, QUICK_BATCH = 64, 16


def quickstart_parts(bench: Workbench):
    """(a fresh quickstart-sized regressor factory, a real batch of 16 at 64 px)."""
    from torch.utils.data import default_collate

    from common.config import load_config
    from common.models.build import build_model
    from data.registry import build_dataset

    cfg = load_config(None, [f"data.input_size={QUICK_SIZE}", "model.backbone=resnet18", "model.heatmap_sigma=0.625",
                             f"data.batch_size={QUICK_BATCH}", "data.synthetic.num_test_images=4",
                             f"data.synthetic.num_train_images={bench.cfg.data.synthetic.num_train_images}"])
    dataset = build_dataset("synthetic", "train", cfg, train=True, body_model=bench.cpu_body)
    batch = default_collate([dataset[i % len(dataset)] for i in range(QUICK_BATCH)])
    return (lambda: build_model(cfg, bench.body_model()).train()), batch


def precision_section(bench: Workbench, rounds: int) -> list[dict]:
    if bench.device.type != "cpu":
        return []
    make_quick, quick_batch = quickstart_parts(bench)
    tasks = {"fp32": bench.training_step(make_quick(), quick_batch, False),
             "bf16": bench.training_step(make_quick(), quick_batch, True),
             "r50_fp32": bench.training_step(bench.regressor(), bench.batch, False),
             "r50_bf16": bench.training_step(bench.regressor(), bench.batch, True)}
    params = [p for p in bench.regressor().parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    loop, fused = torch.optim.Adam(params, lr=1e-4, foreach=False), torch.optim.Adam(params, lr=1e-4, fused=True)
    tasks.update(adam_loop=loop.step, adam_fused=fused.step)
    t = interleaved(tasks, rounds, bench.sync)
    rows = []
    for num, den, what in (("bf16", "fp32", f"ResNet-18 {QUICK_SIZE}px batch {QUICK_BATCH} (the quickstart)"),
                           ("r50_bf16", "r50_fp32", "ResNet-50 256px batch 8 (the default regressor)")):
        rows.append(figure(f"precision.{num}_speedup", paired_ratio(t, den, num), "x",
                           f"training step float32 / bfloat16 autocast, {what} (same run)",
                           best=best_ratio(t, den, num), step_ms=t[num].wall, fp32_ms=t[den].wall))
    rows.append(figure("precision.fused_adam_speedup", paired_ratio(t, "adam_loop", "adam_fused"), "x",
                       "Adam step over the R50 regressor's parameters: per-tensor loop / fused (same run)",
                       best=best_ratio(t, "adam_loop", "adam_fused"), fused_ms=t["adam_fused"].wall,
                       loop_ms=t["adam_loop"].wall))
    return rows
