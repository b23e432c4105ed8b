"""The table part of a report: per column, the real rows' distribution beside the model's.

A run folder holds the fitted model and `table.json`, not the training rows. The real side comes
from the CSV file the fit read (`source` in table.json) when it is still there unchanged; else
only what table.json records of it is drawn: each category's count, each number's range. The page
says which, and never draws a distribution the run does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.table import MISSING
from ..errors import GankitError
from .svg import PALETTE, bar_chart, number

REAL, SYNTHETIC = ("real", PALETTE[0]), ("synthetic", PALETTE[3])
SYNTHETIC_ROWS = 2000  # at most this many rows are sampled for the histograms
BINS = 20
TOP_CATEGORIES = 20  # the rest are drawn as one bar, "other"


@dataclass
class TableData:
    """What a report can draw of a table run, and what it lacks (`notes`)."""

    kinds: dict[str, str]
    real: pd.DataFrame | None = None
    synthetic: pd.DataFrame | None = None
    recorded: dict[str, object] = field(default_factory=dict)  # column -> its fitted Column
    notes: list[str] = field(default_factory=list)


def table_data(run: Path) -> TableData:
    """Load the table model of `run` (if it has a checkpoint yet), sample it, and find the real
    rows it was fitted on."""
    from .. import tabular
    from ..data.table import fingerprint, read_table

    saved = tabular._read_table_file(run)
    transformer = tabular._transformer(saved, run / tabular.TABLE_FILE)
    data = TableData(transformer.metadata, recorded={c.name: c for c in transformer.columns})
    rows = int(saved.get("rows") or SYNTHETIC_ROWS)
    try:
        model = tabular.load(run)
    except GankitError as e:
        data.notes.append(f"no synthetic rows: {e}")
    else:
        data.synthetic = model.sample(min(rows, SYNTHETIC_ROWS), seed=0)
        data.notes.append(
            f"synthetic: {len(data.synthetic)} rows sampled (seed 0) from the checkpoint of step "
            f"{model.step}"
        )
    source = saved.get("source")
    missing = "so the real rows are not drawn, only what table.json records of them: each "
    missing += "category's count and each number's range"
    if not source:
        data.notes.append(f"the model was fitted from a DataFrame, not a file: {missing}")
        return data
    try:
        real = read_table(source)
    except (GankitError, OSError) as e:
        data.notes.append(f"the fitted file {source} cannot be read ({e}): {missing}")
        return data
    if fingerprint(real) != saved.get("fingerprint"):
        data.notes.append(f"{source} has changed since the fit: {missing}")
        return data
    data.real = real
    data.notes.append(f"real: the {len(real)} rows of {source}, the file the model was fitted on")
    return data


def _numbers(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        from ..data.datetimes import parse, to_seconds

        values = to_seconds(parse(series))
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _numeric_chart(name: str, kind: str, data: TableData) -> str:
    column = data.recorded[name]
    sides = [
        (label, color, _numbers(frame[name], kind))
        for (label, color), frame in ((REAL, data.real), (SYNTHETIC, data.synthetic))
        if frame is not None and name in frame
    ]
    low = min([float(column.low), *(v.min() for _, _, v in sides if len(v))])
    high = max([float(column.high), *(v.max() for _, _, v in sides if len(v))])
    edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
    groups = [
        (label, color, (np.histogram(v, edges)[0] / max(len(v), 1)).tolist())
        for label, color, v in sides
    ]
    labels = [_edge_label(e, kind) for e in edges[:-1]]
    markers = []
    if data.real is None:  # the real range is all table.json holds of a number
        width = edges[1] - edges[0]
        markers = [
            ((float(column.low) - low) / width, f"real minimum {column.low:g}"),
            ((float(column.high) - low) / width, f"real maximum {column.high:g}"),
        ]
    return bar_chart(f"{name} ({kind})", labels, groups, markers=markers)


def _edge_label(edge: float, kind: str) -> str:
    if kind == "datetime":
        return pd.Timestamp(edge, unit="s").strftime("%Y-%m-%d")
    return number(edge)


def _categorical_chart(name: str, kind: str, data: TableData) -> str:
    column = data.recorded[name]
    if data.real is not None:
        real = data.real[name].astype(str).value_counts()
    else:  # the counts table.json keeps of the fitted rows
        names = ["nan" if v == MISSING else str(v) for v in column.categories or []]
        real = pd.Series(column.counts or [], index=names, dtype=int)
    order = list(real.sort_values(ascending=False).index[:TOP_CATEGORIES])
    synthetic = (
        data.synthetic[name].astype(str).value_counts() if data.synthetic is not None else None
    )
    labels = [*order, "other"] if len(real) > len(order) else order
    groups = []
    for (label, color), counts in ((REAL, real), (SYNTHETIC, synthetic)):
        if counts is None:
            continue
        total = max(int(counts.sum()), 1)
        shares = [int(counts.get(c, 0)) / total for c in order]
        if labels[-1] == "other":
            shares.append(1 - sum(shares))
        groups.append((label, color, shares))
    return bar_chart(f"{name} ({kind})", labels, groups)


def table_section(run: Path) -> str:
    """The HTML of the per-column histograms, with what is drawn and what is missing."""
    data = table_data(run)
    charts = []
    for name, kind in data.kinds.items():
        if kind == "id":
            continue  # regenerated, not modelled: nothing to compare
        column = data.recorded[name]
        chart = _categorical_chart if column.one_hot else _numeric_chart
        charts.append(chart(name, kind, data))
    skipped = [n for n, k in data.kinds.items() if k == "id"]
    if skipped:
        data.notes.append(f"ID columns not drawn (regenerated, not modelled): {', '.join(skipped)}")
    notes = "".join(f"<li>{escape(n)}</li>" for n in data.notes)
    return f'<ul class="notes">{notes}</ul>' + "".join(charts)
