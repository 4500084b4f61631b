"""What one training run trains with, gathered once by the caller so the loop's functions take one object."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from common.engine.distributed import DistInfo
from common.engine.logger import RunLogger

VisualizeFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, np.ndarray]]


@dataclass
class TrainingRun:
    """Everything ``fit`` (common/engine/trainer.py) trains with, built once by the caller (main/train.py, tests)."""

    model: nn.Module  # possibly DDP-wrapped; the core (``unwrap_model``) has ``losses``
    train_loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any  # stepped after every optimizer step (common/engine/optim.py)
    scaler: torch.amp.GradScaler
    cfg: Any  # the whole config: ``train.*`` drives the loop, ``experiment.seed`` the RNGs; saved in checkpoints
    run_dir: Path  # checkpoints and eval/epochNNNN/ go here (a str becomes a Path)
    info: DistInfo
    logger: RunLogger
    evaluator: Any = None  # periodic evaluation needs both evaluator and test_loader
    test_loader: Any = None
    visualize: VisualizeFn | None = None
    progress: bool = True  # tqdm bars (main process only)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
