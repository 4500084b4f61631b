"""Run command lines as subprocesses, a few at a time, phase after phase (ablations on a many-core GPU machine).

Each job's stdout and stderr go to ``<log_dir>/<name>.log``; a phase starts when the previous one has finished.
A failed job does not stop the others: its return code is reported (``on_done`` as each job ends, and in the
returned dict) and the caller decides what that means.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Job = tuple[str, Sequence[str]]  # (name used for the log file, argv)


def run_jobs(phases: Sequence[Sequence[Job]], parallel: int, log_dir: str | Path, poll_s: float = 0.5,
             cwd: str | Path | None = None,
             on_done: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Run every phase's jobs with at most ``parallel`` alive at once (in ``cwd``); returns {name: return code}.

    ``on_done(name, return code)`` is called in this process as each job ends (e.g. to collect its result and
    rewrite a report). Names must be unique (they name the log files). ``parallel`` < 1 is an error.
    """
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    names = [name for phase in phases for name, _ in phase]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    codes: dict[str, int] = {}
    for phase in phases:
        waiting, running = list(phase), []
        while waiting or running:
            while waiting and len(running) < parallel:
                name, argv = waiting.pop(0)
                handle = open(log_dir / f"{name}.log", "w")
                running.append((name, subprocess.Popen(list(argv), cwd=cwd, stdout=handle,
                                                       stderr=subprocess.STDOUT), handle))
                print(f"started {name}", flush=True)
            for item in list(running):
                name, proc, handle = item
                if proc.poll() is not None:
                    handle.close()
                    codes[name] = proc.returncode
                    running.remove(item)
                    print(f"finished {name}: return code {proc.returncode}", flush=True)
                    if on_done is not None:
                        on_done(name, proc.returncode)
            if running:
                time.sleep(poll_s)
    return codes
