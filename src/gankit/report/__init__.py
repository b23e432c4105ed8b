"""The HTML run report: `write_report(run)` draws a run folder (finished, resumed or still
training) into one self-contained page, `RUN/report.html` unless told otherwise.

    gankit.write_report("runs/dcgan-mnist")          # -> runs/dcgan-mnist/report.html

The charts are SVG written here (`svg.py`), not a plotting library's: the core keeps its
dependencies, and the page needs nothing from the network to open.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import ConfigError
from ..files import atomic_write
from .page import render

REPORT_FILE = "report.html"
RUN_FILES = ("config.yaml", "metrics.jsonl", "table.json")


def write_report(run: str | Path, out: str | Path | None = None, *, live: bool = False) -> Path:
    """Write the report of the run folder `run` to `out` (default RUN/report.html) at once
    (temp file and rename: a reader never sees half a page) and return its path. `live` marks a
    run still training: the page says so and reloads itself."""
    run = Path(run)
    if not run.is_dir():
        what = "a file" if run.exists() else "no such folder"
        raise ConfigError(f"{run} is not a run folder ({what}): give the folder of a run")
    if not any((run / name).is_file() for name in RUN_FILES):
        raise ConfigError(f"{run} is not a run folder: it holds none of {', '.join(RUN_FILES)}")
    path = Path(out) if out is not None else run / REPORT_FILE
    if path.is_dir():
        raise ConfigError(f"{path} is a folder: give the report's file name, e.g. report.html")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {path.parent} does not exist")
    atomic_write(path, render(run, live).encode())
    return path


class ReportRefresher:
    """Rewrites a training run's report whenever the trainer has written its outputs (the
    trainer's `output_hooks`, as `gankit train --report` sets them). A report that cannot be
    written is one warning, once: training goes on."""

    def __init__(self, run: str | Path, out: str | Path | None = None):
        self.run, self.out = Path(run), out
        self.failed = False

    def __call__(self, done: bool) -> None:
        try:
            write_report(self.run, self.out, live=not done)
        except Exception as e:  # any failure of the report, a bug in it included: not the run's
            if not self.failed:
                warnings.warn(
                    f"the report could not be written ({e}); training goes on without it",
                    stacklevel=2,
                )
            self.failed = True
