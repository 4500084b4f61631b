"""Result rows of the ablation tools (tool/sefd_ablation.py, tool/furpe_ablation.py): ``results.jsonl`` read and
appended (under a lock: parallel runs share the file), and the mean ± sample std cell of a report table."""
from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def read_results(path: Path) -> list[dict]:
    """The rows of a results.jsonl (none if the file does not exist yet)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def append_results(path: Path, rows: list[dict]) -> None:
    """Append rows to results.jsonl under an exclusive lock."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.writelines(json.dumps(r) + "\n" for r in rows)
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)


def mean_std(values: Iterable[float | None], digits: int = 1) -> str:
    """'mean ± sample std' over the values that are not None ('-' for none, the value alone for one)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"
