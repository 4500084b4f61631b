"""Training engine: device, seeding, DDP, optimizer, checkpoints, logging and the training loop."""
from common.engine.checkpoint import (
                                      CheckpointError,
                                      checkpoint_path,
                                      latest_checkpoint,
                                      load_checkpoint,
                                      load_model_weights,
                                      resolve_resume,
                                      save_checkpoint,
)
from common.engine.device import DeviceError, configure_cpu_threads, resolve_device
from common.engine.distributed import DistInfo, cleanup_distributed, init_distributed, unwrap_model, wrap_model
from common.engine.logger import RunLogger
from common.engine.optim import build_grad_scaler, build_optimizer, build_scheduler, iterations_per_epoch
from common.engine.seed import seed_everything, worker_init_fn
from common.engine.teacher import resolve_teacher_checkpoint
from common.engine.trainer import TrainingRun, TrainState, evaluate, fit, train_one_epoch

__all__ = [
    "CheckpointError", "DeviceError", "DistInfo", "configure_cpu_threads", "RunLogger", "TrainState", "TrainingRun",
    "build_grad_scaler",
    "build_optimizer", "build_scheduler", "checkpoint_path", "cleanup_distributed", "evaluate", "fit",
    "init_distributed", "iterations_per_epoch", "latest_checkpoint", "load_checkpoint", "load_model_weights",
    "resolve_resume", "resolve_teacher_checkpoint",
    "resolve_device", "save_checkpoint", "seed_everything", "train_one_epoch", "unwrap_model", "worker_init_fn",
    "wrap_model",
]
