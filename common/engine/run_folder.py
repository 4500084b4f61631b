"""The run folder before training: writable, no temporary files of killed runs, and no earlier run's checkpoints
unless ``experiment.overwrite`` (main/train.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from common.engine.checkpoint import LATEST_POINTER, list_checkpoints, remove_stale_temporaries
from common.engine.logger import RunLogger
from common.errors import UserError, ensure_output_dir, writing


class RunFolderError(UserError):
    """A fresh run would overwrite an earlier run's checkpoints."""


def prepare_run_dir(cfg: Any, run_dir: Path, resume: Path | None, logger: RunLogger) -> None:
    """Main process, before anything is built: the folder must be writable; stale temporary checkpoint files of
    dead processes go; an earlier run's checkpoints stop a fresh run unless ``experiment.overwrite``."""
    ensure_output_dir(run_dir, "run folder")
    for path in remove_stale_temporaries(run_dir):
        logger.info(f"removed {path}: a temporary checkpoint file left by a killed run")
    earlier = list_checkpoints(run_dir) + list_checkpoints(run_dir, iterations=True)
    if resume is not None or not earlier:
        return
    if not cfg.experiment.overwrite:
        raise RunFolderError(f"{run_dir}: holds checkpoints of an earlier run ({earlier[-1].name}, {len(earlier)} in "
                             "all); continue it with --resume auto, start over with --overwrite (deletes them), or "
                             "choose another experiment.name / experiment.output_dir")
    with writing(run_dir, "run folder"):
        for path in earlier + [run_dir / LATEST_POINTER]:
            path.unlink(missing_ok=True)
    logger.info(f"--overwrite: deleted {len(earlier)} checkpoint(s) of an earlier run in {run_dir}")
