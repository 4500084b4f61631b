"""One base class for errors caused by the user's input (files, config, checkpoints).

Entry points catch :class:`UserError` and print its one-line message without a traceback; anything else is a
bug and keeps its traceback. :class:`OutputError` is the one for outputs that cannot be written (a file where
a folder should be, a read-only folder, a full disk): :func:`writing` turns an ``OSError`` into it.
"""
from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path


class UserError(Exception):
    """Bad input from the user: the message names the file and field and says what is wrong."""


class OutputError(UserError, OSError):
    """An output file or folder cannot be written; the message names the path and the system's reason."""


def output_error(path: str | Path, err: OSError, what: str = "output") -> OutputError:
    """One-line :class:`OutputError` for ``err`` raised while writing ``path`` (the destination, not a temp file)."""
    reason = err.strerror or str(err) or type(err).__name__
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        reason += " (a file is in the way of a folder)"
    elif err.errno == errno.ENOSPC:
        reason += " (disk full)"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += " (read-only or not yours)"
    return OutputError(f"{path}: cannot write the {what}: {reason}")


@contextlib.contextmanager
def writing(path: str | Path, what: str = "output") -> Iterator[None]:
    """Context manager: an ``OSError`` inside becomes an :class:`OutputError` naming ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        raise output_error(path, err, what) from None


def ensure_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create folder ``path`` (and parents) and check that a file can be written in it; OutputError otherwise.

    Run by entry points before any work, so that a file in the way, a read-only folder or a full disk is
    reported at once instead of after training or evaluation.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: the {what} is an existing file, not a folder")
    with writing(path, what):
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test.{os.getpid()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"ok")
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    return path
