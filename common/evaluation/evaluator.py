"""Evaluator base: per-sample rows keyed by dataset index, gathered over ranks, checked for coverage.

Subclasses turn a batch into rows (``process_rows``) and rows into numbers (``summarize``). The base class
gathers rows from every DDP rank, drops duplicates (a DistributedSampler pads the last shard), checks that
every expected index was evaluated exactly once, writes ``metrics.json`` and ``per_sample.jsonl`` (rank 0
only) and refuses headline numbers when samples are missing unless ``allow_skipped``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch.distributed as dist

from common.engine.distributed import all_gather_objects
from common.engine.logger import jsonable, write_json
from common.errors import UserError, writing

_SHOW = 20  # indices listed in the summary when samples are missing
_NOT_METRICS = ("index", "occlusion")  # row fields that are not errors (occlusion may be unknown)


class EvaluationError(UserError, RuntimeError):
    """An evaluation could not produce trustworthy numbers (e.g. predictions lack a required key)."""


class Evaluator:
    """Base class: ``reset(expected)``, ``process(batch, preds)``, ``evaluate(output_dir) -> dict``.

    Rows are dicts with an int ``index``; a row with a ``skipped`` reason counts as not evaluated.
    """

    def __init__(self, output_dir: str | Path | None = None, allow_skipped: bool = False,
                 save_per_sample: bool = True) -> None:
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.allow_skipped = allow_skipped
        self.save_per_sample = save_per_sample
        self._rows: list[dict] = []
        self._expected: list[int] | None = None

    @property
    def is_main(self) -> bool:
        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

    def reset(self, expected_indices: Iterable[int] | int | None = None) -> None:
        """Forget rows; ``expected_indices`` (indices, or a dataset length) enables the coverage check.

        Without them the summary says ``complete: false`` (coverage unknown) and, unless ``allow_skipped``,
        withholds the headline numbers: a run that stopped early must never look complete."""
        self._rows = []
        if isinstance(expected_indices, int):
            expected_indices = range(expected_indices)
        self._expected = sorted({int(i) for i in expected_indices}) if expected_indices is not None else None

    def process(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> None:
        """Add the rows of one batch (this rank's share). A row whose numbers are NaN/inf (e.g. a diverged
        prediction) becomes a skipped row (``non_finite_metric``): it must not poison the means silently."""
        rows = self.process_rows(batch, preds)
        for row in rows:
            if not row.get("skipped") and any(isinstance(v, float) and not math.isfinite(v) for k, v in row.items()
                                              if k not in _NOT_METRICS):
                row["skipped"] = "non_finite_metric"
        self._rows.extend(rows)

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        raise NotImplementedError

    def summarize(self, rows: list[dict]) -> dict:
        """Numbers from the evaluated rows (each expected index once, ``skipped`` rows excluded)."""
        raise NotImplementedError

    def headline_keys(self) -> tuple[str, ...]:
        """Summary keys withheld when samples were skipped (default: everything ``summarize`` returns)."""
        return ()

    def _collect(self) -> tuple[list[dict], int]:
        """All ranks' rows, one per index (first kept), sorted; and the number of duplicates dropped."""
        unique: dict[int, dict] = {}
        total = 0
        for part in all_gather_objects(self._rows):
            for row in part:
                total += 1
                unique.setdefault(int(row["index"]), row)
        rows = [unique[i] for i in sorted(unique)]
        return rows, total - len(rows)

    def evaluate(self, output_dir: str | Path | None = None) -> dict:
        """Gather, check coverage, summarise; rank 0 writes metrics.json (+ per_sample.jsonl). Collective."""
        rows, duplicates = self._collect()
        seen = {row["index"] for row in rows}
        expected = set(self._expected) if self._expected is not None else seen
        not_seen = sorted(expected - seen)
        unexpected = sorted(seen - expected)
        failed = [row for row in rows if row.get("skipped") and row["index"] in expected]
        evaluated = [row for row in rows if not row.get("skipped") and row["index"] in expected]
        skipped = sorted(not_seen + [row["index"] for row in failed])
        unknown = self._expected is None  # no expected indices: a partial run cannot be told from a full one
        summary: dict[str, Any] = {
            "num_expected": None if unknown else len(expected), "num_evaluated": len(evaluated),
            "num_skipped": len(skipped), "num_duplicates": duplicates, "num_unexpected": len(unexpected),
            "complete": not skipped and not unexpected and not unknown,
        }
        if unknown:
            summary["coverage"] = "unknown: reset() was given no expected indices"
        if skipped:
            summary["skipped_indices"] = skipped[:_SHOW]
            reasons: dict[str, int] = {"not_processed": len(not_seen)} if not_seen else {}
            for row in failed:
                reasons[row["skipped"]] = reasons.get(row["skipped"], 0) + 1
            summary["skipped_reasons"] = reasons
        if unexpected:
            summary["unexpected_indices"] = unexpected[:_SHOW]
        if summary["complete"] or self.allow_skipped:
            summary.update(self.summarize(evaluated) if evaluated else {})
        elif unknown:
            summary["headline_refused"] = ("coverage unknown: the evaluator was reset without the expected sample "
                                           "indices, so a partial run cannot be detected; set "
                                           "test.allow_skipped=true to report numbers anyway")
            summary.update({key: None for key in self.headline_keys()})
        else:
            summary["headline_refused"] = (f"{len(skipped)} of {len(expected)} samples not evaluated and "
                                           f"{len(unexpected)} unexpected; set test.allow_skipped=true to "
                                           "report numbers on the rest")
            summary.update({key: None for key in self.headline_keys()})
        out = Path(output_dir) if output_dir is not None else self.output_dir
        if out is not None and self.is_main:
            write_json(out / "metrics.json", summary)
            if self.save_per_sample:
                self._write_rows(out / "per_sample.jsonl", rows)
        return summary

    @staticmethod
    def _write_rows(path: Path, rows: list[dict]) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with writing(path, "per-sample results"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as handle:
                for row in rows:
                    handle.write(json.dumps(jsonable(row)) + "\n")
            tmp.replace(path)
