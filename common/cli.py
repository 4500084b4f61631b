"""The entry points' shared shell: parse the arguments, set up logging, run, and turn a user-input error into
one ``error:`` line and exit code 2 (``main/train.py``, ``main/test.py``, ``demo/demo.py``).

It lives in ``common/`` because the demo may not import ``main/`` (docs/DESIGN.md, Layers).
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from common.errors import UserError

# every project error class about user input derives from UserError; a missing file is the user's too
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError)
USAGE_ERROR_CODE = 2


def error_line(err: BaseException) -> str:
    """``err``'s message as one line (the lines of a multi-line message joined by ' | ')."""
    return " | ".join(line.strip() for line in str(err).splitlines() if line.strip())


def run_cli(parse: Callable[[Sequence[str] | None], argparse.Namespace],
            body: Callable[[argparse.Namespace], int | None], argv: Sequence[str] | None = None,
            log_level: int | None = logging.INFO) -> int:
    """``body(parse(argv))`` -> its exit code (None = 0); a user-input error -> one ``error:`` line on stderr, 2.

    Args:
        parse: the entry point's argument parser (argparse exits with 2 on bad arguments itself).
        body: the work; loads the config (``common.config.load_config``) and returns an exit code or None.
        log_level: level of the root logger (adapters log what they filter, loaders their mixture); None
            leaves logging alone.
    """
    args = parse(argv)
    if log_level is not None:
        logging.basicConfig(level=log_level, format="%(message)s")
    try:
        code = body(args)
    except USER_ERRORS as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        return USAGE_ERROR_CODE
    return 0 if code is None else int(code)
