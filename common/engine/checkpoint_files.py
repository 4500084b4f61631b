"""Checkpoint files on disk: names, atomic writes (temporary file + rename + fsync), the ``latest`` pointer,
keep-last-K pruning, stale temporaries of killed processes, and finding what to resume from.

What is inside a checkpoint, and loading it into a model, is ``common/engine/checkpoint.py``.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import torch

from common.errors import writing

LATEST_POINTER = "latest"
_CKPT_NAME = re.compile(r"ckpt_epoch(\d+)\.pth$")
# temporary files of atomic writes: '.<name>.tmp<pid>.<host>' (older versions: '.<name>.tmp<pid>')
_TMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp(?P<pid>\d+)(?:\.(?P<host>[A-Za-z0-9_-]+))?$")
_ITER_NAME = re.compile(r"ckpt_iter(\d+)\.pth$")



def checkpoint_path(run_dir: str | Path, epoch: int) -> Path:
    """``<run_dir>/ckpt_epoch{epoch:04d}.pth`` (``epoch`` = number of completed epochs)."""
    return Path(run_dir) / f"ckpt_epoch{epoch:04d}.pth"


def iteration_checkpoint_path(run_dir: str | Path, iteration: int) -> Path:
    """``<run_dir>/ckpt_iter{iteration:08d}.pth`` (``iteration`` = optimizer steps done; mid-epoch checkpoints)."""
    return Path(run_dir) / f"ckpt_iter{iteration:08d}.pth"


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable; not supported on every platform/filesystem
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def temporary_path(path: Path) -> Path:
    """Where an atomic write of ``path`` goes first: ``.<name>.tmp<pid>.<host>`` in the same folder."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}.{_host()}")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace: never a half-written file.

    Raises OutputError (a UserError and an OSError) naming ``path`` when the folder cannot be written (a file
    in the way, read-only, disk full); the previous file at ``path`` is then untouched.
    """
    path = Path(path)
    tmp = temporary_path(path)
    with writing(path, "checkpoint"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "wb") as handle:
                torch.save(obj, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _write_latest(folder: Path, name: str) -> None:
    tmp = temporary_path(folder / LATEST_POINTER)
    with writing(folder / LATEST_POINTER, "checkpoint pointer"):
        try:
            tmp.write_text(name + "\n")
            os.replace(tmp, folder / LATEST_POINTER)
        finally:
            tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary checkpoint files (``.<name>.tmp<pid>[.<host>]``) in ``folder`` whose writing process,
    on this host, is dead (a kill during a save leaves one, as large as a checkpoint). Returns those removed.

    Files of another host (a shared folder) or of a live process are kept.
    """
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TMP_NAME.fullmatch(path.name)
        if not match or not path.is_file():
            continue
        host, pid = match.group("host"), int(match.group("pid"))
        if (host is None or host == _host()) and pid != os.getpid() and not _pid_alive(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def list_checkpoints(folder: str | Path, iterations: bool = False) -> list[Path]:
    """``ckpt_epoch*.pth`` files in ``folder``, oldest epoch first (``iterations``: ``ckpt_iter*.pth`` instead)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = _ITER_NAME if iterations else _CKPT_NAME
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(folder: str | Path, keep_last: int, keep: Path | None = None,
                      iterations: bool = False) -> list[Path]:
    """Delete all but the newest ``keep_last`` epoch checkpoints (``keep_last <= 0``: keep all); never ``keep``.
    ``iterations``: the mid-epoch ``ckpt_iter*`` files instead (each kind is pruned on its own)."""
    if keep_last <= 0:
        return []
    removed = []
    for path in list_checkpoints(folder, iterations)[:-keep_last]:
        if keep is None or path.resolve() != Path(keep).resolve():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def publish_checkpoint(path: str | Path, keep_last: int) -> None:
    """After ``path`` is written: point ``latest`` at it and keep the newest ``keep_last`` of its kind."""
    path = Path(path)
    _write_latest(path.parent, path.name)
    prune_checkpoints(path.parent, keep_last, keep=path, iterations=bool(_ITER_NAME.fullmatch(path.name)))


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint named by ``<folder>/latest``, else the most recently written of the newest ``ckpt_epoch*``
    and the newest ``ckpt_iter*`` file, else None."""
    folder = Path(folder)
    pointer = folder / LATEST_POINTER
    if pointer.is_file():
        target = folder / pointer.read_text().strip()
        if target.is_file():
            return target
    newest = [found[-1] for found in (list_checkpoints(folder), list_checkpoints(folder, True)) if found]
    return max(newest, key=lambda p: p.stat().st_mtime_ns) if newest else None


def resolve_resume(resume: str, run_dir: str | Path) -> Path | None:
    """``train.resume`` -> checkpoint path: '' = None, 'auto' = latest in ``run_dir`` (None if there is none)."""
    if not resume:
        return None
    if resume == "auto":
        return latest_checkpoint(run_dir)
    path = Path(resume)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"{path}: train.resume names a folder without checkpoints")
        return found
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (train.resume)")
    return path
