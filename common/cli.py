"""The entry points' shared shell: set up logging and turn a user-input error into one ``error:`` line and exit
code 2 (``main/train.py``, ``main/test.py``, ``demo/demo.py``).

It lives in ``common/`` because the demo may not import ``main/`` (docs/DESIGN.md, Layers).
"""
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from common.errors import UserError

# every project error class about user input derives from UserError; a missing file is the user's too
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError)
USAGE_ERROR_CODE = 2


def error_line(err: BaseException) -> str:
    """``err``'s message as one line (the lines of a multi-line message joined by ' | ')."""
    return " | ".join(line.strip() for line in str(err).splitlines() if line.strip())


class ExitStatus:
    """The exit code of a :func:`cli_session` (0 unless the body sets it or a user-input error ends it)."""

    code: int = 0


@contextlib.contextmanager
def cli_session(log_level: int | None = logging.INFO) -> Iterator[ExitStatus]:
    """The entry points' shell around their work: a user-input error becomes one ``error:`` line on stderr and
    exit code 2. Usage (the entry point keeps the control flow; nothing here calls back into it)::

        args = parse_args(argv)
        with cli_session() as status:
            status.code = run(args) or 0
        return status.code

    Args:
        log_level: level of the root logger (adapters log what they filter, loaders their mixture); None
            leaves logging alone.
    """
    if log_level is not None:
        logging.basicConfig(level=log_level, format="%(message)s")
    status = ExitStatus()
    try:
        yield status
    except USER_ERRORS as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        status.code = USAGE_ERROR_CODE
