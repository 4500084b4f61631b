"""Building a folder of the generated-artefact cache once: under an exclusive inter-process lock, into a temporary
folder renamed into place at the end. One owner for the open body model, its part models and the embedded worlds.

A build that raises leaves nothing behind; a killed one (SIGKILL, power loss) leaves only its temporary folder,
which the next build of that folder deletes. No reader ever finds a half-written folder as finished.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on the file ``path`` (a no-op where fcntl is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(final: Path, complete: Callable[[Path], bool], build: Callable[[Path], None],
               force: bool = False) -> Path:
    """``final`` when ``complete(final)``; else ``build(tmp)`` into a fresh empty ``tmp`` folder beside it, under
    the lock ``<parent>/.<name>.lock``, then ``tmp`` replaces ``final``. ``force``: rebuild even if complete."""
    if complete(final) and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(final.parent / f".{final.name}.lock"):
        if complete(final) and not force:  # another process finished meanwhile
            return final
        for stale in final.parent.glob(f".{final.name}.tmp-*"):  # killed builds' (we hold the lock: none runs)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            build(tmp)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def marker(name: str) -> Callable[[Path], bool]:
    """``complete`` test of :func:`build_once` for a folder whose last written file is ``name``."""
    return lambda folder: (folder / name).is_file()
