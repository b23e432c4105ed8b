"""A run's `metrics.jsonl` read as one history, whatever state the run is in.

A run still training may be caught in the middle of appending a line, and a run killed and
resumed may have logged a step twice: the reader skips what does not parse and keeps the later
record of a step, so the report always shows one continuous history.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the keys of a training record that are not figures to draw
NOT_FIGURES = {"step"}


@dataclass
class History:
    """The log records of a run by kind, each sorted by step, one per step."""

    train: list[dict[str, Any]] = field(default_factory=list)  # the log line of each log step
    evals: list[dict[str, Any]] = field(default_factory=list)  # `train.eval_every` records
    skipped_lines: int = 0  # lines that are not a whole JSON record (one being written)
    superseded: int = 0  # records of a step logged again later (a resumed run)

    @property
    def last_step(self) -> int:
        return max((r["step"] for r in (*self.train, *self.evals)), default=0)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a training figure, at the steps that logged it."""
        pairs = [(r["step"], float(r[key])) for r in self.train if _is_number(r.get(key))]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def eval_series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one figure of the periodic evaluations (FID, precision ...)."""
        pairs = [
            (r["step"], float(r["eval"][key])) for r in self.evals if _is_number(r["eval"].get(key))
        ]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def figure_keys(self) -> list[str]:
        """Every numeric key of the training records, in the order they first appear."""
        keys: dict[str, None] = {}
        for record in self.train:
            keys.update((k, None) for k, v in record.items() if _is_number(v))
        return [k for k in keys if k not in NOT_FIGURES]

    def eval_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for record in self.evals:
            keys.update((k, None) for k, v in record["eval"].items() if _is_number(v))
        return list(keys)

    def verdicts(self) -> list[tuple[int, str, str]]:
        """(step, verdict, remedy as logged) of every log step that has a verdict."""
        return [
            (r["step"], r["verdict"], str(r.get("remedy", "")))
            for r in self.train
            if isinstance(r.get("verdict"), str)
        ]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_history(path: Path) -> History:
    """The records of a metrics.jsonl (none when the file is not there yet)."""
    history = History()
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return history
    by_step: dict[str, dict[int, dict[str, Any]]] = {"train": {}, "eval": {}}
    for line in text.splitlines():
        record = _record(line)
        if record is None:
            history.skipped_lines += bool(line.strip())
            continue
        kind = "eval" if isinstance(record.get("eval"), dict) else "train"
        history.superseded += record["step"] in by_step[kind]
        by_step[kind][record["step"]] = record
    history.train = [by_step["train"][s] for s in sorted(by_step["train"])]
    history.evals = [by_step["eval"][s] for s in sorted(by_step["eval"])]
    return history


def _record(line: str) -> dict[str, Any] | None:
    """One line's record, or None for a line cut short (or anything else that is not a record of
    a step)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not _is_number(record.get("step")):
        return None
    step = record["step"]
    if not math.isfinite(step) or step != int(step):
        return None
    record["step"] = int(step)
    return record
