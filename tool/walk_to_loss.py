"""Measure the walk from a YAML file to the first loss: which project files it touches and whether any call
goes back into a module (file) that called it (issue 7, "Measure it").

    python -m tool.walk_to_loss [--cfg configs/tiny_e2e.yaml] [--opts KEY=VALUE ...] [--list]

Runs ``main/train.py`` in this process under ``sys.setprofile`` from before its import until the model's
``losses`` returns to the trainer for the first time, then lets that one step finish. Always added:
``data.num_workers=0`` (the data pipeline runs here, where it is seen), one epoch of one step, and a temporary
output folder. Prints how many project files ran code at all (imports included), how many had a function called
at run time (outside module and class bodies and what they call: the walk itself), and every group of files whose
run-time calls go back to each other (strongly connected components of the file-to-file call graph; a call's
caller is its nearest project frame, so calls through torch, e.g. the DataLoader calling a dataset, count as the
caller's). Cost: one training step of the config (tiny_e2e: ~10 s).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from inspect import CO_NEWLOCALS
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "data", "main", "demo", "tool")
_SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()  # the measuring hook itself is not on the walk


class Walk:
    """A ``sys.setprofile`` hook recording project files run and file-to-file calls until the first loss."""

    def __init__(self) -> None:
        self.ran: set[str] = set()  # files with any code run (module bodies included)
        self.called: set[str] = set()  # files with a function called outside imports
        self.edges: dict[str, set[str]] = defaultdict(set)  # caller file -> callee files (function calls)
        self.done = False
        self.importing = 0  # project module bodies now running (imports in progress)
        self._files: dict[str, str | None] = {}

    def project_file(self, filename: str) -> str | None:
        """Repository-relative path of a project source file, else None (cached per code filename)."""
        if filename not in self._files:
            path = Path(filename).resolve()
            rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else None
            self._files[filename] = rel if rel and rel.split("/")[0] in PACKAGES and rel != _SELF else None
        return self._files[filename]

    def __call__(self, frame, event: str, arg) -> None:
        if self.done or event not in ("call", "return"):
            return
        here = self.project_file(frame.f_code.co_filename)
        if here is None:
            return
        body = not frame.f_code.co_flags & CO_NEWLOCALS  # a module or class body, not a function
        if frame.f_code.co_name == "<module>":
            self.importing += 1 if event == "call" else -1
        if event == "return":
            if frame.f_code.co_name == "losses" and self.caller_file(frame) == "common/engine/trainer.py":
                self.done = True  # the first loss is back in the training loop
            return
        self.ran.add(here)
        if body or self.importing:
            return  # import-time work (module and class bodies and what they call) is loading, not the walk
        self.called.add(here)
        source = self.caller_file(frame)
        if source is not None and source != here:
            self.edges[source].add(here)

    def caller_file(self, frame) -> str | None:
        """The project file of the nearest project frame below ``frame`` (calls through torch count as its)."""
        caller = frame.f_back
        while caller is not None and self.project_file(caller.f_code.co_filename) is None:
            caller = caller.f_back
        return self.project_file(caller.f_code.co_filename) if caller is not None else None


def call_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan), each sorted; sorted by first file."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(set(edges) | {n for targets in edges.values() for n in targets}):
        if node not in index:
            visit(node)
    return sorted(found)


def per_package(files: set[str]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for name in files:
        counts[name.split("/")[0]] += 1
    return ", ".join(f"{pkg} {counts[pkg]}" for pkg in PACKAGES if counts[pkg])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/tiny_e2e.yaml", help="experiment YAML")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    parser.add_argument("--list", action="store_true", help="also print every file and call edge")
    args = parser.parse_args(argv)
    walk = Walk()
    with tempfile.TemporaryDirectory() as out:
        opts = [f"experiment.output_dir={out}", "data.num_workers=0", "train.epochs=1",
                "train.max_iters_per_epoch=1", *args.opts]
        sys.setprofile(walk)
        try:
            from main.train import main as train_main  # imported under the hook: module bodies count

            code = train_main(["--cfg", args.cfg, "--opts", *opts])
        finally:
            sys.setprofile(None)
    if code or not walk.done:
        print(f"the run did not reach a loss (exit code {code})", file=sys.stderr)
        return 1
    cycles = call_cycles(walk.edges)
    print(f"{args.cfg} {' '.join(args.opts)}".strip())
    print(f"files that ran code (imports included):   {len(walk.ran)} ({per_package(walk.ran)})")
    print(f"files with a function called at run time: {len(walk.called)} ({per_package(walk.called)})")
    print(f"file-to-file call edges: {sum(len(v) for v in walk.edges.values())}; "
          f"groups of files calling each other: {len(cycles)}")
    for group in cycles:
        back = [f"{a} -> {b}" for a in group for b in sorted(walk.edges.get(a, ())) if b in group]
        print("  cycle: " + "; ".join(back))
    if args.list:
        for name in sorted(walk.ran):
            print(f"  {'called' if name in walk.called else 'import'} {name}")
        for source in sorted(walk.edges):
            print(f"  {source} -> {', '.join(sorted(walk.edges[source]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
