"""Part-expert checkpoints (common/models/furpe/experts.py): ours (``common.weights_file`` format) with
``extra['expert']`` = the kind and ``extra['hparams']`` (the constructor's arguments), written atomically.
:func:`load_expert` refuses a missing file, another checkpoint or another kind with a one-line
:class:`ExpertError` naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from common.engine.checkpoint import CheckpointError, atomic_torch_save, read_checkpoint
from common.errors import UserError
from common.models.furpe.experts import EXPERT_KINDS, PartExpert
from common.weights_file import CHECKPOINT_FORMAT, CHECKPOINT_VERSION


class ExpertError(UserError, RuntimeError):
    """An expert checkpoint is missing, unreadable or of another kind (the message names the file)."""


def save_expert(path: str | Path, model: PartExpert, cfg: Any = None, extra: dict | None = None) -> Path:
    """Write ``model`` atomically as one of our checkpoints (``extra['expert']`` = its kind)."""
    from common.config.loader import to_dict

    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": model.state_dict(),
               "config": to_dict(cfg) if cfg is not None else None,
               "extra": {"expert": model.kind, "hparams": dict(model.hparams), **(extra or {})}}
    atomic_torch_save(payload, path)
    return Path(path)


def load_expert(path: str | Path, kind: str | None = None) -> PartExpert:
    """The expert saved at ``path`` (CPU, eval mode); ``kind`` checks its family. ExpertError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ExpertError(f"{path}: expert checkpoint not found (train one with python -m tool.train_experts)")
    try:
        payload = read_checkpoint(path)
    except CheckpointError as err:
        raise ExpertError(str(err)) from None
    found = (payload.get("extra") or {}).get("expert")
    if found not in EXPERT_KINDS:
        raise ExpertError(f"{path}: not a part-expert checkpoint (no extra['expert']; e.g. a whole-body model)")
    if kind is not None and found != kind:
        raise ExpertError(f"{path}: a {found} expert, expected a {kind} expert")
    hp = dict(payload["extra"]["hparams"])
    model = PartExpert(hp.pop("kind"), **hp)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise ExpertError(f"{path}: weights do not fit a {found} expert ({str(err).splitlines()[0]})") from None
    return model.eval()
