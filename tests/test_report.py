"""The HTML run report of real tiny runs of every recipe: the charts hold one point per logged
step, the verdict timeline follows the verdicts in metrics.jsonl, the grids are embedded, table
runs compare their columns; resumed and still-running runs read as one history; `train --report`
keeps the page current; and headless Chromium draws the page without a console error."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_TABLE
from PIL import Image

import gankit
import gankit.tabular as tabular
from gankit import cli
from gankit.errors import ConfigError
from gankit.report import ReportRefresher, write_report
from gankit.report.history import read_history
from gankit.report.page import MAX_GRIDS, chosen_grids
from gankit.train import Trainer

SVG = "{http://www.w3.org/2000/svg}"
TINY_TRAIN = {
    "steps": 6,
    "log_every": 2,
    "sample_every": 3,
    "checkpoint_every": 6,
    "device": "cpu",
    "threads": 1,
}


def tiny_run(path: Path, preset: str, **sections) -> Path:
    """A six-step run on the embedded digits: logs at 2, 4, 6; grids at 3, 6."""
    model = {"width": 8} if preset in ("dcgan", "vae", "ddpm") else {"hidden": [16]}
    sections.setdefault("model", model)
    if preset == "ddpm":
        sections["diffusion"] = {"timesteps": 40, "sampling_steps": 4}
    cfg = gankit.make_config(
        preset,
        data={"source": "digits"},
        train={**TINY_TRAIN, **sections.pop("train", {})},
        **sections,
    )
    Trainer(cfg, path, progress=False, echo=lambda line: None).run()
    return path


def charts(html: str) -> dict[str, ET.Element]:
    """Every SVG chart of a page by its title."""
    found = {}
    for text in re.findall(r"<svg .*?</svg>", html, flags=re.S):
        svg = ET.fromstring(text)
        found[svg.find(f"{SVG}text").text] = svg
    return found


def points(svg: ET.Element, key: str) -> list[tuple[float, float]]:
    """The (x, y) points of a series, over all its polylines."""
    return [
        tuple(map(float, p.split(",")))
        for line in svg.iter(f"{SVG}polyline")
        if line.get("data-key") == key
        for p in line.get("points").split()
    ]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_gan_report_draws_every_logged_figure(tmp_path):
    run = tiny_run(tmp_path / "gan", "dcgan")
    page = write_report(run).read_text()
    logged = [r for r in records(run) if "verdict" in r]
    found = charts(page)
    losses = found["losses"]
    for key in ("loss_d", "loss_g"):
        assert len(points(losses, key)) == len(logged) == 3
    # higher on the page (smaller y) is the larger loss, at each step
    for (x_d, y_d), (x_g, y_g), r in zip(
        points(losses, "loss_d"), points(losses, "loss_g"), logged, strict=True
    ):
        assert x_d == x_g and (y_d < y_g) == (r["loss_d"] > r["loss_g"])
    d_chart = found["D(x) = d_real, D(G(z)) = d_fake and D's accuracy d_acc"]
    assert {line.get("data-key") for line in d_chart.iter(f"{SVG}polyline")} == set(
        ("d_real", "d_fake", "d_acc")
    )
    assert [r.get("data-value") for r in d_chart.iter(f"{SVG}line") if r.get("data-value")] == [
        "0.5"
    ]
    grads = found["gradient norms (log scale)"]
    ticks = [float(t.get("data-tick")) for t in grads.iter(f"{SVG}text") if t.get("data-tick")]
    assert grads.get("data-scale") == "log" and len(ticks) >= 2
    assert all(np.isclose(np.log10(t), round(np.log10(t))) for t in ticks)
    for key in ("diversity", "img_per_s", "time_s"):
        assert len(points(found[key], key)) == 3
    grids = sorted((run / "samples").glob("*.png"))
    embedded = re.findall(r'data-step="(\d+)"><img src="data:image/png;base64,([^"]+)"', page)
    assert [int(s) for s, _ in embedded] == [3, 6] and len(grids) == 2
    assert [base64.b64decode(d) for _, d in embedded] == [g.read_bytes() for g in grids]
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page
    assert "<pre>" in page and "preset: dcgan" in page


def test_verdict_timeline_follows_the_verdict_changes(tmp_path):
    """A log whose verdicts change (as a long run's do): one band per run of equal verdicts,
    from the previous log step to the last step of the run, titled with its remedy."""
    run = tiny_run(tmp_path / "gan", "dcgan")
    lines = records(run)
    verdicts = ["warming up", "D winning", "D winning"]
    logged = [r for r in lines if "verdict" in r]
    for record, verdict in zip(logged, verdicts, strict=True):
        record["verdict"] = verdict
    extra = {**logged[-1], "step": 8, "verdict": "stable"}
    text = "".join(json.dumps(r) + "\n" for r in [*lines, extra])
    (run / "metrics.jsonl").write_text(text)
    timeline = charts(write_report(run).read_text())["health verdicts"]
    bands = [
        (r.get("data-verdict"), float(r.get("data-start")), float(r.get("data-end")))
        for r in timeline.iter(f"{SVG}rect")
        if r.get("class") == "verdict"
    ]
    assert bands == [("warming up", 0, 2), ("D winning", 2, 6), ("stable", 6, 8)]
    titles = [r.find(f"{SVG}title").text for r in timeline.iter(f"{SVG}rect") if r.get("class")]
    assert "lower lr_d or raise lr_g" in titles[1] and "Remedy" not in titles[2]


def test_hinge_d_outputs_are_drawn_without_an_equilibrium(tmp_path):
    run = tiny_run(tmp_path / "hinge", "dcgan", loss={"kind": "hinge"})
    found = charts(write_report(run).read_text())
    raw = found["D's raw outputs on real and fake"]
    assert len(points(raw, "d_real")) == 3 and not raw.findall(f".//{SVG}line[@data-value]")
    accuracy = found["D's accuracy d_acc"]
    assert accuracy.find(f".//{SVG}line[@data-value]").get("data-value") == "0.5"


@pytest.mark.parametrize(
    "preset, figures",
    [
        ("vae", ["nelbo", "recon", "kl", "active_units", "latent_dims"]),
        ("ddpm", []),
        ("seed-mlp", ["diversity"]),
    ],
)
def test_every_recipe_gets_its_own_figures(tmp_path, preset, figures):
    run = tiny_run(tmp_path / preset, preset)
    found = charts(write_report(run).read_text())
    logged = {k for r in records(run) for k, v in r.items() if isinstance(v, float)}
    losses = {k for k in logged if k.startswith("loss")}
    assert {line.get("data-key") for line in found["losses"].iter(f"{SVG}polyline")} == losses
    for key in figures:
        assert len(points(found[key], key)) == 3
    assert ("D(x) = d_real, D(G(z)) = d_fake and D's accuracy d_acc" in found) == (
        preset == "seed-mlp"
    )


def test_learning_rate_schedule_and_evaluations(tmp_path):
    """A linear decay is drawn from the config (the rate of the step ending at each log step); the
    evaluations' figures get a chart each, with a point per evaluation."""
    (tmp_path / "feats.py").write_text(
        "import torch\nfrom torch import nn\n\ndef make():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8))\n"
    )
    run = tiny_run(
        tmp_path / "gan",
        "dcgan",
        optim={"lr_decay": "linear", "lr_g": 1e-3},
        train={
            "eval_every": 3,
            "eval_features": f"{tmp_path / 'feats.py'}:make",
            "eval_samples": 50,
            "eval_metrics": "fid,pr",
        },
    )
    found = charts(write_report(run).read_text())
    lr = found["learning rates (optim.lr_decay=linear: the config's schedule, not logged)"]
    hovers = [c.find(f"{SVG}title").text.split() for c in lr.iter(f"{SVG}circle")]
    assert [(h[1], h[2]) for h in hovers[:3]] == [
        ("2:", "optim.lr_g"),
        ("4:", "optim.lr_g"),
        ("6:", "optim.lr_g"),
    ]
    assert [float(h[-1]) for h in hovers[:3]] == pytest.approx(
        [1e-3 * (1 - (s - 1) / 6) for s in (2, 4, 6)], rel=1e-3
    )
    evals = [r for r in records(run) if "eval" in r]
    assert [r["step"] for r in evals] == [3, 6]
    for key in ("fid", "precision", "recall"):
        assert len(points(found[f"eval: {key}"], f"eval.{key}")) == 2


def test_a_recipes_own_learning_rate_schedule_is_drawn_from_its_logged_scale():
    """CycleGAN decays its rates itself and logs the scale (`lr_scale`), with optim.lr_decay=none:
    the chart draws the logged rates, not a constant line."""
    from gankit.report.history import History
    from gankit.report.page import learning_rate_chart
    from gankit.report.svg import StepAxis

    history = History(train=[{"step": s, "lr_scale": f} for s, f in ((2, 1.0), (4, 0.5), (6, 0.0))])
    config = {"optim": {"lr_g": 2e-4, "lr_d": 4e-4, "lr_decay": "none"}, "train": {"steps": 6}}
    (chart,) = charts(learning_rate_chart(history, config, StepAxis(0, 6))).values()
    hovers = [c.find(f"{SVG}title").text.split() for c in chart.iter(f"{SVG}circle")]
    rates = {(h[2], int(h[1].rstrip(":"))): float(h[-1]) for h in hovers}
    assert rates == {
        ("optim.lr_g", 2): 2e-4,
        ("optim.lr_g", 4): 1e-4,
        ("optim.lr_g", 6): 0.0,
        ("optim.lr_d", 2): 4e-4,
        ("optim.lr_d", 4): 2e-4,
        ("optim.lr_d", 6): 0.0,
    }


def table_frame(n=60):
    r = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": r.lognormal(3, 1, n).round(2),
            "grade": r.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1]),
            "opened": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
        }
    )


def bars(svg: ET.Element, group: str) -> list[float]:
    return [
        float(b.find(f"{SVG}title").text.rsplit(" ", 1)[1].rstrip("%")) / 100
        for b in svg.iter(f"{SVG}rect")
        if b.get("data-group") == group
    ]


@pytest.mark.parametrize("model", ["ctgan", "tvae"])
def test_table_run_compares_real_and_synthetic_columns(tmp_path, model):
    frame = table_frame()
    frame.to_csv(tmp_path / "table.csv", index=False)
    overrides = [*TINY_TABLE, "train.device=cpu", "train.log_every=2"]
    fitted = tabular.fit(
        tmp_path / "table.csv", tmp_path / "run", model=model, epochs=2, overrides=overrides
    )
    page = write_report(tmp_path / "run").read_text()
    found = charts(page)
    assert {"amount (continuous)", "grade (categorical)", "opened (datetime)"} <= set(found)
    real_share = frame["grade"].value_counts(normalize=True)
    synthetic = fitted.sample(60, seed=0)["grade"].value_counts(normalize=True)
    grade = found["grade (categorical)"]
    assert bars(grade, "real") == pytest.approx(real_share.round(3).tolist(), abs=1e-3)
    order = real_share.index
    assert bars(grade, "synthetic") == pytest.approx(
        [round(synthetic.get(c, 0.0), 3) for c in order], abs=1e-3
    )
    amount = found["amount (continuous)"]
    assert sum(bars(amount, "real")) == pytest.approx(1, abs=0.01)
    assert sum(bars(amount, "synthetic")) == pytest.approx(1, abs=0.01)
    assert f"real: the 60 rows of {tmp_path / 'table.csv'}" in page
    assert "Samples over training" not in page
    assert len(points(found["losses"], "loss_g" if model == "ctgan" else "loss")) >= 1


def test_table_run_without_its_file_draws_only_what_it_holds(tmp_path):
    frame = table_frame()
    tabular.fit(frame, tmp_path / "run", epochs=2, overrides=[*TINY_TABLE, "train.device=cpu"])
    page = write_report(tmp_path / "run").read_text()
    found = charts(page)
    assert "fitted from a DataFrame, not a file" in page
    # categories: the counts table.json keeps; numbers: no real histogram, the real range marked
    assert bars(found["grade (categorical)"], "real") == pytest.approx(
        frame["grade"].value_counts(normalize=True).round(3).tolist(), abs=1e-3
    )
    amount = found["amount (continuous)"]
    assert bars(amount, "real") == [] and len(bars(amount, "synthetic")) == 20
    marks = [
        line.find(f"{SVG}title").text
        for line in amount.iter(f"{SVG}line")
        if line.get("class") == "reference"
    ]
    assert marks == [f"real minimum {frame.amount.min():g}", f"real maximum {frame.amount.max():g}"]


def test_resumed_and_running_runs_read_as_one_history(tmp_path):
    run = tiny_run(tmp_path / "gan", "dcgan", train={"steps": 4, "checkpoint_every": 2})
    cfg = gankit.make_config(
        "dcgan", data={"source": "digits"}, model={"width": 8}, train={**TINY_TRAIN, "steps": 8}
    )
    Trainer(cfg, run, resume=True, progress=False, echo=lambda line: None).run()
    logged = [r for r in records(run) if "verdict" in r]
    assert [r["step"] for r in logged] == [2, 4, 6, 8]
    # a kill after the step-6 line and a resume that logged it again, then a line being written
    again = {**logged[2], "loss_d": 123.0}
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(again) + "\n" + json.dumps(logged[3])[:40])
    history = read_history(run / "metrics.jsonl")
    assert [r["step"] for r in history.train] == [2, 4, 6, 8]
    assert history.train[2]["loss_d"] == 123.0
    assert (history.skipped_lines, history.superseded) == (1, 1)
    page = write_report(run).read_text()
    losses = charts(page)["losses"]
    xs = [x for x, _ in points(losses, "loss_d")]
    assert len(xs) == 4 and xs == sorted(xs)
    assert max(points(losses, "loss_d"), key=lambda p: -p[1])[0] == xs[2]  # the top: 123
    assert "1 line(s) of metrics.jsonl skipped" in page and "1 record(s) replaced" in page


def test_many_grids_are_bounded_evenly_plus_the_last():
    grids = [(s, Path(f"step_{s:07d}.png")) for s in range(100, 10001, 100)]
    shown = chosen_grids(grids)
    steps = [s for s, _ in shown]
    assert len(shown) == MAX_GRIDS + 1 and steps[0] == 100 and steps[-1] == 10000
    gaps = np.diff(steps[:-1])
    assert gaps.max() - gaps.min() <= 100 and steps == sorted(set(steps))
    assert chosen_grids(grids[:25]) == grids[:25]


def test_a_run_with_many_grids_embeds_a_bounded_number(tmp_path):
    run = tiny_run(tmp_path / "gan", "dcgan", train={"steps": 26, "sample_every": 1})
    page = write_report(run).read_text()
    steps = [int(s) for s in re.findall(r'<figure data-step="(\d+)">', page)]
    assert len(list((run / "samples").glob("*.png"))) == 26
    assert len(steps) == MAX_GRIDS + 1 and steps[0] == 1 and steps[-1] == 26
    assert "26 grids in samples/; 25 shown: 24 evenly spaced and the last" in page


def test_train_report_refreshes_the_page_at_each_log_step(tmp_path):
    run = tmp_path / "gan"
    cfg = gankit.make_config(
        "dcgan", data={"source": "digits"}, model={"width": 8}, train=TINY_TRAIN
    )
    trainer = Trainer(cfg, run, progress=False, echo=lambda line: None)
    seen = []

    def read_back(done: bool) -> None:
        page = (run / "report.html").read_text()
        seen.append((done, len(points(charts(page)["losses"], "loss_d")), "still training" in page))
        # `gankit report` on the run meanwhile: it reads the run so far and names who trains it
        held = f"in use by pid {os.getpid()} (this process) on {socket.gethostname()}"
        assert held in write_report(run, tmp_path / "meanwhile.html").read_text()

    trainer.output_hooks += [ReportRefresher(run), read_back]
    trainer.run()
    trainer.close()
    assert seen == [(False, 1, True), (False, 2, True), (False, 3, True), (True, 3, False)]
    assert "in use by" not in write_report(run, tmp_path / "after.html").read_text()
    assert not list(run.glob(".report.html.tmp*"))


def test_train_report_flag(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--preset",
            "dcgan",
            "--steps",
            "4",
            "--out",
            str(out),
            "--no-progress",
            "--report",
            "model.width=8",
            "train.log_every=2",
            "train.device=cpu",
        ]
    )
    assert code == 0 and f"report: {out / 'report.html'}" in capsys.readouterr().out
    assert len(points(charts((out / "report.html").read_text())["losses"], "loss_g")) == 2


def test_a_failing_report_warns_once_and_training_goes_on(tmp_path):
    run = tmp_path / "gan"
    (tmp_path / "folder.html").mkdir()
    cfg = gankit.make_config(
        "dcgan", data={"source": "digits"}, model={"width": 8}, train=TINY_TRAIN
    )
    trainer = Trainer(cfg, run, progress=False, echo=lambda line: None)
    trainer.output_hooks.append(ReportRefresher(run, tmp_path / "folder.html"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.run()
    trainer.close()
    assert result.status == "completed" and result.step == 6
    messages = [str(w.message) for w in caught if "report" in str(w.message)]
    assert len(messages) == 1 and "is a folder" in messages[0]


def test_report_refuses_what_is_not_a_run(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == (
        f"gankit: error: {tmp_path / 'nope'} is not a run folder (no such folder): give the "
        "folder of a run\n"
    )
    (tmp_path / "metrics.jsonl").write_text("")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"metrics.jsonl is not a run folder \(a file\)"):
        write_report(tmp_path / "metrics.jsonl")
    with pytest.raises(ConfigError, match="holds none of config.yaml, metrics.jsonl"):
        write_report(tmp_path / "empty")
    (tmp_path / "empty" / "config.yaml").write_text(gankit.make_config("dcgan").to_yaml())
    with pytest.raises(ConfigError, match=r"the folder .*nowhere does not exist"):
        write_report(tmp_path / "empty", tmp_path / "nowhere" / "report.html")


def test_a_run_before_its_first_log_step(tmp_path):
    """A run caught before it logged anything: config only, no charts, still a page."""
    (tmp_path / "config.yaml").write_text(gankit.make_config("dcgan").to_yaml())
    page = write_report(tmp_path).read_text()
    assert "no figures logged yet" in page and "no sample grids" in page and not charts(page)


# ---- the page in a browser ----------------------------------------------------------------------
def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(page: Path, screenshot: Path) -> list[str]:
    """Draw `page` in headless Chromium into `screenshot`; return the console messages."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={screenshot}",
            "--window-size=820,1400",
            "--enable-logging=stderr",
            "--v=0",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_chromium_draws_the_page_without_console_errors(tmp_path):
    run = tiny_run(tmp_path / "gan", "dcgan")
    console = render(write_report(run), tmp_path / "shot.png")
    assert console == []
    pixels = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    not_white = (pixels < 250).any(axis=2).mean()
    assert len(colours) > 50 and not_white > 0.05
    # the check sees an error when there is one: the same page with a failing script
    broken = tmp_path / "broken.html"
    broken.write_text((run / "report.html").read_text().replace("(function(){", "(function(){x.y;"))
    assert any("ReferenceError" in line for line in render(broken, tmp_path / "broken.png"))
