"""``sefd.teacher_ckpt`` -> the teacher's checkpoint file (a run folder means its latest checkpoint).

Run folders are the engine's layout (``common/engine/checkpoint.py``), so the entry points resolve the path
here and hand the file to the model builder (``build_experiment_model(..., teacher_path=...)``).
"""
from __future__ import annotations

from pathlib import Path

from common.config import ConfigError, ExperimentPlan
from common.engine.checkpoint import latest_checkpoint


def resolve_teacher_checkpoint(cfg, training: bool = True) -> Path | None:
    """The stage-1 checkpoint file the run distils from, or None when the plan needs no teacher.

    ``sefd.teacher_ckpt``: a file as is; a (stage-1) run folder -> its latest checkpoint.
    Raises ConfigError when empty, FileNotFoundError when missing or a folder without checkpoints.
    """
    if not ExperimentPlan.from_config(cfg).needs_teacher(training):
        return None
    path = cfg.sefd.teacher_ckpt
    if not str(path):
        raise ConfigError("sefd.teacher_ckpt: empty; sefd.mode=student distils from the stage-1 teacher: give its "
                          "run folder or checkpoint (train it first with sefd.mode=teacher)")
    found = Path(path)
    if found.is_dir():
        latest = latest_checkpoint(found)
        if latest is None:
            raise FileNotFoundError(f"{found}: sefd.teacher_ckpt names a folder without checkpoints (has the "
                                    "stage-1 run finished an epoch?)")
        return latest
    if not found.is_file():
        raise FileNotFoundError(f"{found}: SEFD teacher checkpoint not found (sefd.teacher_ckpt)")
    return found
