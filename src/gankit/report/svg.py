"""SVG charts written as text: line charts over steps (linear or log scale), the verdict timeline
and grouped bar charts, all on one width so their step axes line up down the page.

Plain SVG needs no plotting library and no script: the page stays one small file that any
browser draws, and hovering over a point or a segment shows its SVG `<title>`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
LEFT, RIGHT = 64, 24  # room for the value axis' labels; the same on every chart
PLOT_WIDTH = WIDTH - LEFT - RIGHT
TOP = 34  # the title and legend
PLOT_HEIGHT = 150
BOTTOM = 26  # the step axis' labels
MARKERS_UP_TO = 40  # a series with at most this many points gets hoverable dots

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass
class Series:
    """One curve: a figure's values at the steps that logged it."""

    key: str
    steps: Sequence[float]
    values: Sequence[float]
    color: str


@dataclass
class Segment:
    """Consecutive log steps with the same health verdict, from `start` to `end` (steps)."""

    start: float
    end: float
    verdict: str
    remedy: str


@dataclass
class StepAxis:
    """The step range every chart of a page shares."""

    low: float
    high: float

    def x(self, step: float) -> float:
        span = self.high - self.low or 1.0
        return LEFT + (step - self.low) / span * PLOT_WIDTH


def number(value: float) -> str:
    """A tick or hover label: four significant digits, no float noise."""
    return f"{value:.4g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= high + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _value_range(values: Sequence[float], log: bool) -> tuple[float, float]:
    if log:
        low = 10 ** math.floor(math.log10(min(values)))
        high = 10 ** math.ceil(math.log10(max(values)))
        return (low, high * 10) if low == high else (low, high)
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _drawable(value: float, log: bool) -> bool:
    return math.isfinite(value) and (value > 0 or not log)


def _runs(series: Series, log: bool) -> list[list[tuple[float, float]]]:
    """The series cut where a value cannot be drawn (NaN, infinite, or not positive on a log
    scale): the curve breaks there instead of inventing a value."""
    runs: list[list[tuple[float, float]]] = [[]]
    for step, value in zip(series.steps, series.values, strict=True):
        if _drawable(value, log):
            runs[-1].append((step, value))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _legend(items: Sequence[tuple[str, str]], y: float = 28) -> str:
    parts, x = [], LEFT
    for name, color in items:
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return "".join(parts)


def _frame(title: str, height: float, body: str, attrs: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}"{attrs}>'
        f'<text x="{LEFT}" y="14" class="title">{escape(title)}</text>{body}</svg>'
    )


def _step_ticks(axis: StepAxis, baseline: float) -> str:
    parts = []
    for tick in nice_ticks(axis.low, axis.high, 6):
        if axis.low <= tick <= axis.high:
            x = axis.x(tick)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{baseline}" y2="{baseline + 4}" '
                'class="axis"/>'
                f'<text x="{x:.1f}" y="{baseline + 16}" class="tick" text-anchor="middle">'
                f"{int(tick) if tick == int(tick) else number(tick)}</text>"
            )
    return "".join(parts)


def line_chart(
    title: str,
    series: Sequence[Series],
    axis: StepAxis,
    *,
    log: bool = False,
    references: Sequence[tuple[float, str]] = (),
) -> str:
    """Curves over steps sharing one value axis; `references` are horizontal lines (the 0.5 of
    an equilibrium). On a log scale, values that are not positive are left out."""
    values = [v for s in series for v in s.values if _drawable(v, log)]
    values += [r for r, _ in references if _drawable(r, log)]
    height = TOP + PLOT_HEIGHT + BOTTOM
    scale = "log" if log else "linear"
    if not values:
        body = f'<text x="{LEFT}" y="{TOP + 20}" class="note">no value to draw</text>'
        return _frame(title, TOP + 30, body, f' data-scale="{scale}"')
    low, high = _value_range(values, log)

    def y(value: float) -> float:
        if log:
            share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        else:
            share = (value - low) / (high - low)
        return TOP + PLOT_HEIGHT * (1 - share)

    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" class="plot"/>'
    ]
    ticks = (
        [10.0**e for e in range(round(math.log10(low)), round(math.log10(high)) + 1)]
        if log
        else nice_ticks(low, high)
    )
    for tick in ticks:
        if low <= tick <= high:
            label = f"1e{round(math.log10(tick))}" if log else number(tick)
            parts.append(
                f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{y(tick):.1f}" '
                f'y2="{y(tick):.1f}" class="grid"/>'
                f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" class="tick" text-anchor="end" '
                f'data-tick="{tick!r}">{label}</text>'
            )
    for value, label in references:
        if _drawable(value, log):
            parts.append(
                f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{y(value):.1f}" '
                f'y2="{y(value):.1f}" class="reference" data-value="{value!r}">'
                f"<title>{escape(label)}</title></line>"
                f'<text x="{LEFT + 4}" y="{y(value) - 4:.1f}" class="tick">{escape(label)}</text>'
            )
    for s in series:
        for run in _runs(s, log):
            points = " ".join(f"{axis.x(st):.1f},{y(v):.1f}" for st, v in run)
            parts.append(
                f'<polyline class="series" data-key="{escape(s.key)}" points="{points}" '
                f'stroke="{s.color}"><title>{escape(s.key)}</title></polyline>'
            )
            if len(s.values) <= MARKERS_UP_TO:
                parts += [
                    f'<circle cx="{axis.x(st):.1f}" cy="{y(v):.1f}" r="2.5" fill="{s.color}">'
                    f"<title>step {int(st)}: {escape(s.key)} = {number(v)}</title></circle>"
                    for st, v in run
                ]
    parts.append(_step_ticks(axis, TOP + PLOT_HEIGHT))
    parts.append(_legend([(s.key, s.color) for s in series]))
    return _frame(title, height, "".join(parts), f' data-scale="{scale}"')


def timeline(segments: Sequence[Segment], axis: StepAxis, colors: dict[str, str]) -> str:
    """One coloured band per run of equal verdicts; hovering shows the verdict and its remedy."""
    band_top, band_height = TOP, 22
    parts = []
    for seg in segments:
        x0, x1 = axis.x(seg.start), axis.x(seg.end)
        span = f"steps {int(seg.start)}-{int(seg.end)}"
        hover = f"{span}: {seg.verdict}" + (f". Remedy: {seg.remedy}" if seg.remedy else "")
        parts.append(
            f'<rect class="verdict" x="{x0:.1f}" y="{band_top}" width="{max(x1 - x0, 1.0):.1f}" '
            f'height="{band_height}" fill="{colors.get(seg.verdict, "#999999")}" '
            f'data-verdict="{escape(seg.verdict)}" data-start="{seg.start:g}" '
            f'data-end="{seg.end:g}"><title>{escape(hover)}</title></rect>'
        )
    parts.append(_step_ticks(axis, band_top + band_height))
    seen = list(dict.fromkeys(seg.verdict for seg in segments))
    parts.append(_legend([(v, colors.get(v, "#999999")) for v in seen]))
    return _frame("health verdicts", band_top + band_height + BOTTOM, "".join(parts))


def bar_chart(
    title: str,
    labels: Sequence[str],
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    markers: Sequence[tuple[float, str]] = (),
) -> str:
    """Grouped bars (shares of rows) per label: real beside synthetic. `markers` are vertical
    lines at fractional label positions (0 = the first label's left edge), e.g. a real range."""
    height = TOP + PLOT_HEIGHT + BOTTOM + 12
    top = 1.1 * max((v for _, _, values in groups for v in values), default=0.0) or 1.0
    slot = PLOT_WIDTH / max(len(labels), 1)
    width = slot * 0.8 / max(len(groups), 1)
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" class="plot"/>'
    ]
    for tick in nice_ticks(0, top, 4):
        y = TOP + PLOT_HEIGHT * (1 - tick / top)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{number(tick)}</text>"
        )
    for g, (name, color, values) in enumerate(groups):
        for i, value in enumerate(values):
            h = PLOT_HEIGHT * value / top
            x = LEFT + i * slot + slot * 0.1 + g * width
            parts.append(
                f'<rect class="bar" data-group="{escape(name)}" x="{x:.1f}" '
                f'y="{TOP + PLOT_HEIGHT - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(labels[i])}: {escape(name)} '
                f"{value:.1%}</title></rect>"
            )
    every = max(1, math.ceil(len(labels) / 10))
    for i in range(0, len(labels), every):
        parts.append(
            f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{TOP + PLOT_HEIGHT + 14}" class="tick" '
            f'text-anchor="middle">{escape(labels[i][:12])}</text>'
        )
    for position, label in markers:
        x = LEFT + position * slot
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + PLOT_HEIGHT}" '
            f'class="reference"><title>{escape(label)}</title></line>'
        )
    parts.append(_legend([(name, color) for name, color, _ in groups]))
    return _frame(title, height, "".join(parts))
