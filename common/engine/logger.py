"""Run logging: console lines (also appended to ``log.txt``), tensorboard scalars/images, JSON-lines metrics.

Only the main process writes; other ranks get a disabled logger whose methods do nothing.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from common.errors import writing


def jsonable(value: Any) -> Any:
    """JSON-safe copy: numpy/torch scalars -> float/int, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON (NaN -> null), via a temp file + rename; OutputError naming ``path``."""
    path = Path(path)
    text = json.dumps(jsonable(data), indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(path)


def append_jsonl(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one JSON object as a line; OutputError naming ``path``."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(json.dumps(jsonable(record)) + "\n")


class RunLogger:
    """Console + ``log.txt`` + tensorboard (``<run_dir>/tb``) + ``metrics.jsonl`` for one run.

    Args:
        run_dir: run folder; None = console only.
        enabled: False on non-main ranks (everything becomes a no-op).
        tensorboard: create a SummaryWriter lazily on the first scalar/image.
    """

    def __init__(self, run_dir: str | Path | None, enabled: bool = True, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.enabled = enabled
        self.use_tensorboard = tensorboard and self.run_dir is not None
        self._writer = None

    @property
    def writer(self):
        if self._writer is None and self.enabled and self.use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import; only when used

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"))
        return self._writer

    def info(self, message: str) -> None:
        """Print a line (tqdm-safe) and append it to ``log.txt``."""
        if not self.enabled:
            return
        try:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)
        except ImportError:
            print(message, flush=True)
        if self.run_dir is not None:
            with writing(self.run_dir / "log.txt", "log"):
                self.run_dir.mkdir(parents=True, exist_ok=True)
                with open(self.run_dir / "log.txt", "a") as handle:
                    handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        """Tensorboard scalars ``<prefix>/<name>`` at ``step``."""
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}" if prefix else name, value, step)

    def images(self, images: Mapping[str, np.ndarray], step: int, prefix: str = "train") -> None:
        """Tensorboard images from HxWx3 uint8 arrays."""
        if self.writer is None:
            return
        for name, image in images.items():
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
                raise ValueError(f"visualize() must return HxWx3 uint8 images; '{name}' is "
                                 f"{image.shape} {image.dtype}")
            self.writer.add_image(f"{prefix}/{name}", image, step, dataformats="HWC")

    def metrics(self, record: Mapping[str, Any], filename: str = "metrics.jsonl") -> None:
        """Append ``record`` to ``<run_dir>/<filename>``."""
        if self.enabled and self.run_dir is not None:
            append_jsonl(self.run_dir / filename, record)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
