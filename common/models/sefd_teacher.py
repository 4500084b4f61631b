"""The frozen SEFD stage-1 teacher: built from ``cfg.model`` and loaded from ``sefd.teacher_ckpt`` (a checkpoint of
ours or an official release file), checked for geometry, edge kind, shapes and finite values
(:class:`common.models.sefd.DistillationWrapper` runs it)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from common.errors import UserError
from common.models.crowdnet import CrowdNetRegressor
from common.models.geometry import OFFICIAL_GEOMETRY, finiteness_problem, geometry_from_config, geometry_mismatch
from common.models.official_checkpoint import official_state
from common.weights_file import CHECKPOINT_VERSION, WeightsFileError, is_our_checkpoint, read_weights_file

_SHARED_PREFIXES = ("backbone.", "pose2feat.")  # the only teacher parts run in stage 2


class TeacherCheckpointError(UserError, ValueError):
    """``sefd.teacher_ckpt`` is not a usable stage-1 teacher for this model (unreadable, wrong geometry,
    missing or misshaped backbone / Pose2Feat weights, NaN/inf)."""


def load_teacher_weights(teacher: CrowdNetRegressor, path: str | Path, raw: Any = None) -> CrowdNetRegressor:
    """Load the teacher's backbone + Pose2Feat from a stage-1 checkpoint (ours or an official release file).

    Only ``backbone.*`` and ``pose2feat.*`` are needed (and required, with matching shapes and finite values);
    head weights in the file are ignored, so the release's teacher-only file (backbone + pose2feat) loads too.
    The teacher's input size (and, for our checkpoints, backbone and channels) must be the file's: an official
    file is a 256 px network (common/models/geometry.py). ``raw``: the file's content when already read.
    Raises TeacherCheckpointError (a ValueError) naming the file.
    """
    path = Path(path)
    if raw is None:
        raw = _read_teacher_file(path)
    try:
        if is_our_checkpoint(raw):
            if raw.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"{path}: checkpoint version {raw.get('version')} != {CHECKPOINT_VERSION}")
            state = raw["model"]
            saved = raw.get("geometry") or geometry_from_config(raw.get("config"))
            problem = geometry_mismatch(saved, teacher, keys=("input_size", "backbone", "input_channels"))
        else:
            state, _ = official_state(raw, str(path))
            problem = geometry_mismatch(OFFICIAL_GEOMETRY, teacher, keys=("input_size",))
    except ValueError as err:
        raise TeacherCheckpointError(str(err)) from None
    if problem:
        raise TeacherCheckpointError(f"{path}: {problem} (sefd.teacher_ckpt)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = {k: v for k, v in teacher.state_dict().items() if k.startswith(_SHARED_PREFIXES)}
    missing = sorted(k for k in own if k not in state)
    wrong = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                   if k in state and tuple(state[k].shape) != tuple(v.shape))
    if missing or wrong:
        raise TeacherCheckpointError(f"{path}: not a {teacher.in_channels}-channel SEFD teacher for this model: "
                                     f"missing {missing[:10]} "
                                     f"({len(missing)}), wrong shapes {wrong[:5]}")
    bad = finiteness_problem({k: state[k] for k in own})
    if bad:
        raise TeacherCheckpointError(f"{path}: {bad} (sefd.teacher_ckpt)")
    teacher.load_state_dict({k: state[k] for k in own}, strict=False)
    return teacher


def _read_teacher_file(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SEFD teacher checkpoint not found (sefd.teacher_ckpt; train it with "
                                "sefd.mode=teacher first)")
    try:
        return read_weights_file(path, "teacher checkpoint")
    except WeightsFileError as err:
        raise TeacherCheckpointError(str(err)) from None


def _check_teacher_config(cfg, path: Path, raw: Any) -> None:
    """A stage-1 checkpoint of ours records its edge kind: it must be the one the student feeds the teacher."""
    from common.config import ConfigError

    saved = (raw.get("config") or {}) if is_our_checkpoint(raw) else {}
    sefd = saved.get("sefd") or {}
    if sefd.get("mode") == "teacher" and sefd.get("teacher_edge") != cfg.sefd.teacher_edge:
        raise ConfigError(f"{path}: this teacher was trained on sefd.teacher_edge={sefd.get('teacher_edge')!r}, "
                          f"but this run feeds it {cfg.sefd.teacher_edge!r}; set sefd.teacher_edge to match")


def build_teacher(cfg, path: str | Path | None = None) -> CrowdNetRegressor:
    """The frozen stage-1 teacher (architecture from ``cfg.model``; 4 channels, 3 with ``sefd.teacher_edge=none``:
    e.g. the baseline run) from the checkpoint file
    ``path`` (default ``sefd.teacher_ckpt``). A run folder is resolved to its latest checkpoint by the entry
    point (``common/engine/teacher.py: resolve_teacher_checkpoint``), which knows the run-folder layout."""
    from common.config import ConfigError

    path = cfg.sefd.teacher_ckpt if path is None else path
    if not str(path):
        raise ConfigError("sefd.teacher_ckpt: empty; sefd.mode=student distils from the stage-1 teacher: give its "
                          "run folder or checkpoint (train it first with sefd.mode=teacher)")
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path}: sefd.teacher_ckpt names a folder; resolve it to its latest checkpoint "
                                "first (common.engine.resolve_teacher_checkpoint)")
    raw = _read_teacher_file(path)
    _check_teacher_config(cfg, path, raw)
    from common.config import ExperimentPlan

    channels = ExperimentPlan.from_config(cfg).teacher_input_channels
    model_cfg = dataclasses.replace(cfg.model, input_channels=channels, pretrained="", pose_head="6d", vposer_path="")
    teacher = CrowdNetRegressor.from_config(dataclasses.replace(cfg, model=model_cfg), body_model=None)
    load_teacher_weights(teacher, path, raw)
    teacher.requires_grad_(False)
    return teacher.eval()
