"""The report page: a run's config, curves, verdict timeline, sample grids and (for tables) the
per-column histograms, as one HTML file with everything inline (styles, SVG, images as data
URIs, a few lines of script for the grid slider), so it opens from disk and can be mailed."""

from __future__ import annotations

import base64
import json
import re
import socket
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..losses import OUTPUT_KIND
from ..train import health
from .history import History, read_history
from .svg import PALETTE, Segment, Series, StepAxis, line_chart, timeline

MAX_GRIDS = 24  # grids embedded at most (evenly spaced), plus the last
GRID_NAME = re.compile(r"^step_(\d+)\.png$")
#: D's outputs that are probabilities (or LSGAN's 0..1 scores): their equilibrium is 0.5
PROBABILITY_OUTPUTS = {"logit", "relative-logit", "score"}
D_KEYS = ("d_real", "d_fake", "d_acc")
EQUILIBRIUM = [(0.5, "0.5: equilibrium")]
LIVE_RELOAD_S = 60

VERDICT_COLORS = {
    health.STABLE: "#2ca02c",
    health.WARMING_UP: "#c7c7c7",
    health.D_WINNING: "#ff7f0e",
    health.D_OVERFITTING: "#17becf",
    health.VANISHING: "#d62728",
    health.COLLAPSE: "#9467bd",
    health.OSCILLATING: "#e7ba52",
    health.LOSS_RISING: "#8c564b",
    health.POSTERIOR_COLLAPSE: "#e377c2",
    health.DIVERGED: "#000000",
}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;
max-width:800px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
pre{background:#f6f6f6;padding:8px;font-size:12px;max-height:360px;overflow:auto}
.chart{display:block;margin:6px 0}.chart .title{font-size:13px;font-weight:600}
.chart .tick,.chart .legend,.chart .note{font-size:11px;fill:#444}
.chart .plot{fill:#fff;stroke:#bbb}.chart .grid{stroke:#eee}.chart .axis{stroke:#888}
.chart polyline{fill:none;stroke-width:1.6}
.chart .reference{stroke:#555;stroke-dasharray:4 3;stroke-width:1.2}
.chart .verdict:hover,.chart .bar:hover{opacity:.7}
.notes{font-size:13px;color:#555}
.strip{display:flex;gap:6px;overflow-x:auto;padding:4px 0}
.strip figure{margin:0;text-align:center;font-size:11px;cursor:pointer}
.strip img{height:96px;image-rendering:pixelated;border:2px solid transparent}
.strip figure.current img{border-color:#1f77b4}
#grid-view{width:360px;image-rendering:pixelated;display:none}
.js #grid-view{display:block}
"""

SCRIPT = """
(function(){
  var figures = document.querySelectorAll('.strip figure');
  var slider = document.getElementById('grid-slider');
  var view = document.getElementById('grid-view');
  var label = document.getElementById('grid-label');
  if (!slider || !figures.length) return;
  document.body.classList.add('js');
  function show(i){
    figures.forEach(function(f, j){ f.classList.toggle('current', i === j); });
    view.src = figures[i].querySelector('img').src;
    label.textContent = 'step ' + figures[i].dataset.step;
    slider.value = i;
  }
  slider.addEventListener('input', function(){ show(Number(slider.value)); });
  figures.forEach(function(f, j){ f.addEventListener('click', function(){ show(j); }); });
  show(figures.length - 1);
})();
"""


def _config(run: Path) -> tuple[str, dict[str, Any]]:
    """config.yaml's text and its values (empty when it is missing or unreadable)."""
    try:
        text = (run / "config.yaml").read_text()
        values = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "", {}
    return text, values if isinstance(values, dict) else {}


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One section of config.yaml's values (empty when it is not there)."""
    section = config.get(name)
    return section if isinstance(section, dict) else {}


def _d_outputs_are_probabilities(config: dict[str, Any]) -> bool:
    """A GAN's D outputs are probabilities under the logit losses (LSGAN's are 0..1 scores); a
    Wasserstein critic's and a hinge D's are raw numbers, with no 0.5 to reach."""
    kind = OUTPUT_KIND.get(_section(config, "loss").get("kind"))
    return config.get("recipe") == "gan" and kind in PROBABILITY_OUTPUTS


def _series(history: History, keys: list[str], evals: bool = False) -> list[Series]:
    read = history.eval_series if evals else history.series
    return [
        Series(f"eval.{k}" if evals else k, *read(k), PALETTE[i % len(PALETTE)])
        for i, k in enumerate(keys)
    ]


def curve_charts(history: History, config: dict[str, Any], axis: StepAxis) -> tuple[str, str]:
    """(the main charts: losses, D's outputs, gradient norms, the evaluations' figures; every
    other figure, one chart each): every numeric key of the log, each drawn once."""
    keys = history.figure_keys()
    losses = [k for k in keys if k.startswith("loss")]
    grads = [k for k in keys if k.startswith("grad_norm")]
    d_keys = [k for k in D_KEYS if k in keys]
    main = []
    if losses:
        main.append(line_chart("losses", _series(history, losses), axis))
    if d_keys and _d_outputs_are_probabilities(config):
        main.append(
            line_chart(
                "D(x) = d_real, D(G(z)) = d_fake and D's accuracy d_acc",
                _series(history, d_keys),
                axis,
                references=EQUILIBRIUM,
            )
        )
    elif d_keys:
        if "d_acc" in d_keys:
            main.append(
                line_chart(
                    "D's accuracy d_acc",
                    _series(history, ["d_acc"]),
                    axis,
                    references=EQUILIBRIUM,
                )
            )
        raw = [k for k in d_keys if k != "d_acc"]
        main.append(line_chart("D's raw outputs on real and fake", _series(history, raw), axis))
    if grads:
        main.append(
            line_chart("gradient norms (log scale)", _series(history, grads), axis, log=True)
        )
    main += [
        line_chart(f"eval: {k}", _series(history, [k], evals=True), axis)
        for k in history.eval_keys()
    ]
    others = [
        line_chart(k, _series(history, [k]), axis)
        for k in keys
        if k not in (*losses, *grads, *d_keys)
    ]
    return "".join(main), "".join(others)


def learning_rate_chart(history: History, config: dict[str, Any], axis: StepAxis) -> str:
    """The learning rates over steps. A recipe with a schedule of its own (CycleGAN's constant
    then linear decay) logs its scale, `lr_scale`; otherwise a linear decay is the schedule of the
    config (the rate of the step that ended at each log step), a constant rate one line."""
    optim, steps = _section(config, "optim"), _section(config, "train").get("steps")
    rates = {k: optim[k] for k in ("lr_g", "lr_d") if isinstance(optim.get(k), (int, float))}
    if not rates:
        return ""
    scaled_steps, scales = history.series("lr_scale")
    if scaled_steps:
        series = [
            Series(f"optim.{k}", scaled_steps, [v * f for f in scales], PALETTE[i])
            for i, (k, v) in enumerate(rates.items())
        ]
        title = "learning rates (the recipe's schedule, as logged: lr_scale)"
        return line_chart(title, series, axis)
    decay = optim.get("lr_decay")
    if decay != "linear" or not steps:
        listed = ", ".join(f"optim.{k} = {v:g}" for k, v in rates.items())
        return f'<p class="notes">learning rates: constant ({listed}; optim.lr_decay={decay})</p>'
    logged = [r["step"] for r in history.train]
    series = [
        Series(f"optim.{k}", logged, [v * (1 - (s - 1) / steps) for s in logged], PALETTE[i])
        for i, (k, v) in enumerate(rates.items())
    ]
    title = "learning rates (optim.lr_decay=linear: the config's schedule, not logged)"
    return line_chart(title, series, axis)


def verdict_segments(history: History) -> list[Segment]:
    """Runs of equal verdicts; each log step's verdict covers the steps since the previous log
    step. The remedy is the one logged (else the current one for that verdict)."""
    segments: list[Segment] = []
    previous = 0
    for step, verdict, remedy in history.verdicts():
        remedy = remedy or health.REMEDIES.get(verdict, "")
        if segments and segments[-1].verdict == verdict:
            segments[-1].end = step
        else:
            segments.append(Segment(previous, step, verdict, remedy))
        previous = step
    return segments


def grid_files(run: Path) -> list[tuple[int, Path]]:
    """(step, file) of every sample grid, by step."""
    folder = run / "samples"
    found = [
        (int(m.group(1)), p) for p in folder.glob("step_*.png") if (m := GRID_NAME.match(p.name))
    ]
    return sorted(found)


def chosen_grids(grids: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """At most MAX_GRIDS grids evenly spaced over the run, plus the last one."""
    if len(grids) <= MAX_GRIDS + 1:
        return grids
    picks = np.unique(np.linspace(0, len(grids) - 2, MAX_GRIDS).round().astype(int))
    return [grids[i] for i in picks] + [grids[-1]]


def samples_section(run: Path) -> str:
    grids = grid_files(run)
    if not grids:
        return '<p class="notes">no sample grids in samples/</p>'
    shown = chosen_grids(grids)
    figures = []
    for step, path in shown:
        try:
            data = base64.b64encode(path.read_bytes()).decode()
        except OSError:
            continue  # removed since it was listed
        figures.append(
            f'<figure data-step="{step}"><img src="data:image/png;base64,{data}" '
            f'alt="samples at step {step}"><figcaption>{step}</figcaption></figure>'
        )
    note = f"{len(grids)} grid{'' if len(grids) == 1 else 's'} in samples/"
    if len(shown) < len(grids):
        note += f"; {len(shown)} shown: {MAX_GRIDS} evenly spaced and the last"
    return (
        f'<p class="notes">{note}</p>'
        f'<input type="range" id="grid-slider" min="0" max="{len(figures) - 1}" '
        f'value="{len(figures) - 1}" aria-label="grid"> <span id="grid-label"></span>'
        f'<img id="grid-view" alt="sample grid"><div class="strip">{"".join(figures)}</div>'
    )


def _holder(run: Path) -> str | None:
    """Who holds the run folder's lock, when a process still may: a run training now. (A run
    that ended let its lock file go blank; one killed on this machine left a dead pid.)"""
    from ..files import _process_alive
    from ..train.runlock import LOCK_FILE, describe

    try:
        holder = json.loads((run / LOCK_FILE).read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
        return None
    if holder.get("host") == socket.gethostname() and not _process_alive(holder["pid"]):
        return None
    return describe(holder)


def _summary(run: Path, config: dict[str, Any], history: History, live: bool) -> str:
    data = _section(config, "data")
    verdicts = history.verdicts()
    items = [
        f"recipe {config.get('recipe', '?')}, preset {config.get('preset', '?')}, "
        f"data {data.get('source', '?')}",
        f"{len(history.train)} log steps, {len(history.evals)} evaluations, last step "
        f"{history.last_step}",
        f"last verdict: {verdicts[-1][1] if verdicts else 'none yet'}",
    ]
    if live:
        items.append(
            f"still training: this page is rewritten at every log step (it reloads every "
            f"{LIVE_RELOAD_S} s)"
        )
    elif holder := _holder(run):
        items.append(f"the run folder is in use by {holder}: this page shows the run so far")
    if history.skipped_lines:
        items.append(
            f"{history.skipped_lines} line(s) of metrics.jsonl skipped: not a whole record (a "
            "line being written)"
        )
    if history.superseded:
        items.append(
            f"{history.superseded} record(s) replaced by a later record of the same step "
            "(a resumed run)"
        )
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def render(run: Path, live: bool = False) -> str:
    """The whole page for the run folder `run`."""
    from ..tabular import TABLE_FILE

    config_text, config = _config(run)
    history = read_history(run / "metrics.jsonl")
    grids = grid_files(run)
    axis = StepAxis(0, max(history.last_step, grids[-1][0] if grids else 0, 1))
    main, others = curve_charts(history, config, axis)
    segments = verdict_segments(history)
    if (run / TABLE_FILE).is_file():
        from .tables import table_section

        outputs = ["<h2>Columns: real and synthetic</h2>", table_section(run)]
    else:
        outputs = ["<h2>Samples over training</h2>", samples_section(run)]
    parts = [
        f"<h1>gankit run {escape(run.resolve().name)}</h1>",
        _summary(run, config, history, live),
        "<h2>Training curves</h2>",
        main or '<p class="notes">no figures logged yet</p>',
        timeline(segments, axis, VERDICT_COLORS) if segments else "",
        *outputs,
        "<h2>Other figures</h2>",
        others,
        learning_rate_chart(history, config, axis),
        "<h2>Config</h2>",
        f"<pre>{escape(config_text)}</pre>"
        if config_text
        else '<p class="notes">no config.yaml</p>',
    ]
    reload = f'<meta http-equiv="refresh" content="{LIVE_RELOAD_S}">' if live else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>gankit report: {escape(run.resolve().name)}</title>{reload}"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
