"""`gankit bench`: the published protocols end to end (train a preset, evaluate it their way) with
the papers' own rows printed beside ours.

- toy2d: the 8-Gaussian ring at two scales (the Unrolled GAN's, radius 2, and the VEEGAN /
  PacGAN / GDPP one, radius 1, where their rows were measured) and the 25-Gaussian grid, one run
  each; 2,500 samples counted as VEEGAN and PacGAN count them (modes captured, share of samples
  within 3 standard deviations, KL of the high-quality samples' modes against uniform).
- stacked-mnist: 1,000 modes; 26,000 samples read channel by channel by the project's digit
  classifier (modes captured, KL to uniform), as PacGAN evaluates.

The image-quality protocols (mnist, fashion-mnist, cifar10, folder: presets against the plain
DCGAN loop in two feature spaces) are `quality.py`'s.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import config as config_mod
from ..errors import ConfigError
from ..metrics.published import PAPER_CONSTANTS, PUBLISHED

PROTOCOLS = ("toy2d", "stacked-mnist")
#: the mixtures `toy2d` trains on, each a protocol of its own in the report
TOY_MIXTURES = ("ring", "ring-veegan", "grid")
TOY_SAMPLES = 2500  # VEEGAN / PacGAN
#: what `gankit bench PROTOCOL` trains without --preset: the preset and steps of the headline row
#: of docs/results/mode_coverage.md
RECOMMENDED = {"toy2d": ("modes-2d", 20_000), "stacked-mnist": ("modes-dcgan", 32_000)}
STACKED_SAMPLES = 26_000  # PacGAN


def bench_config(
    protocol: str,
    preset: str,
    data: dict[str, Any],
    minutes: float | None,
    steps: int | None,
    seed: int,
    overrides: list[str],
) -> config_mod.Config:
    train: dict[str, Any] = {"seed": seed}
    if minutes is not None:
        train.update(minutes=minutes, steps=None)
    if steps is not None:
        train.update(steps=steps, minutes=None)
    cfg = config_mod.build(preset, overrides=overrides, data=data, train=train)
    if cfg.model.conditional:
        raise ConfigError(
            f"the {protocol} bench measures unconditional mode coverage, and a conditional model "
            "would be handed the mode labels; use an unconditional preset"
        )
    return cfg


def _classifier(path: str | None, data_dir: str, progress: bool | None = False):
    """The given digit classifier, or the MNIST files' default feature network, the one `gankit
    eval` uses: found in the cache, or trained once and kept there."""
    from ..data import load_dataset
    from ..metrics.classifier import class_names, default_classifier, load_classifier

    if not path:
        data = load_dataset(config_mod.DataConfig(source="mnist", dir=data_dir))
        path = default_classifier("mnist", data, class_names("mnist", data), progress=progress)
    return load_classifier(path)


def _train(cfg: config_mod.Config, run_dir: Path, progress: bool | None) -> dict[str, Any]:
    from ..api import load
    from ..train import Trainer

    if run_dir.exists():
        raise ConfigError(
            f"{run_dir} already holds a bench run: choose another --out (or remove it)"
        )
    result = Trainer(cfg, run_dir, progress=progress).run()
    if result.status == "interrupted":  # Ctrl-C stops the whole bench, not just this run
        raise KeyboardInterrupt
    return {
        "model": load(run_dir),
        "steps": result.step,
        "verdict": result.summary["final_verdict"],
        "run": str(run_dir),
    }


def _toy2d(
    preset, out, minutes, steps, seed, overrides, progress, mixtures=TOY_MIXTURES, **_
) -> list[dict[str, Any]]:
    from ..metrics.modes import mixture, mode_coverage_2d, mode_histogram_stats

    rows = []
    for kind in mixtures:
        cfg = bench_config(
            "toy2d", preset, {"source": "toy2d", "toy": kind}, minutes, steps, seed, overrides
        )
        run = _train(cfg, out / f"{preset}-{kind}-seed{seed}", progress)
        centers, std = mixture(kind)
        cov = mode_coverage_2d(run.pop("model").sample(TOY_SAMPLES, seed=seed), centers, std)
        counts = torch.tensor(cov["per_mode_counts"])
        modes = torch.arange(len(centers)).repeat_interleave(counts)
        kl = mode_histogram_stats(modes, len(centers))["kl_to_uniform"] if len(modes) else None
        rows.append(
            {
                "protocol": kind,
                "modes": cov["modes_captured"],
                "of": len(centers),
                "high_quality": round(100 * cov["high_quality_share"], 1),
                "kl": None if kl is None else round(kl, 3),
                "constants": _toy_constants(centers, std),
                **run,
            }
        )
    return rows


def _toy_constants(centers: torch.Tensor, std: float) -> str:
    """Our mixture's constants, worded as `PAPER_CONSTANTS`."""
    radius = float(centers.norm(dim=1).max())
    shape = (
        f"{len(centers)} means on a circle of radius {radius:g}"
        if len(centers) == 8
        else f"{len(centers)} means at {{-4,-2,0,2,4}}^2"
    )
    return (
        f"{shape}, std {std:g}; {TOY_SAMPLES:,} samples; high quality within 3 std of the "
        "nearest mean; a mode is captured by one"
    )


def _stacked_mnist(
    preset, out, minutes, steps, seed, overrides, progress, data_dir, classifier, samples, **_
):
    from ..metrics.evaluate import stacked_mnist_modes

    clf = _classifier(classifier, data_dir, progress)
    cfg = bench_config(
        "stacked-mnist",
        preset,
        {"source": "stacked-mnist", "dir": data_dir},
        minutes,
        steps,
        seed,
        overrides,
    )
    setting = stacked_setting(cfg.model)
    run = _train(cfg, out / f"{preset}-{setting}-seed{seed}", progress)
    n = samples or STACKED_SAMPLES
    modes = stacked_mnist_modes(clf, run.pop("model").sample(n, seed=seed))
    return [
        {
            "protocol": setting,
            "modes": modes["modes_captured"],
            "of": 1000,
            "high_quality": None,
            "kl": round(modes["kl_to_uniform"], 3),
            "kl_channels": round(modes["kl_channels"], 3),
            "digit_shares": modes["digit_shares"],
            "clear_digits": round(modes["clear_digits"], 3),
            "constants": f"{cfg.data.stacked_samples:,} training images, their digits drawn "
            f"from the MNIST files in --data-dir ({cfg.data.split} split); {n:,} samples; each "
            "channel's digit read by a classifier; KL(p_model || uniform); "
            f"{cfg.model.arch} G of width {cfg.model.width}, D of width "
            f"{cfg.model.width if cfg.model.d_width is None else cfg.model.d_width}",
            **run,
        }
    ]


def stacked_setting(model: config_mod.ModelConfig) -> str:
    """The Stacked MNIST protocol a DCGAN's widths put it in: the standard one, or PacGAN Table 3's
    hard ones, whose D has a quarter or a half of G's channels (`model.d_width`)."""
    if model.arch == "dcgan" and model.d_width is not None:
        if 4 * model.d_width == model.width:
            return "stacked-mnist-d-quarter"
        if 2 * model.d_width == model.width:
            return "stacked-mnist-d-half"
    return "stacked-mnist"


def _round(v):
    return round(v, 4) if isinstance(v, float) else v


RUNNERS = {"toy2d": _toy2d, "stacked-mnist": _stacked_mnist}


def check_mixtures(protocol: str, mixtures: Sequence[str] | None) -> tuple[str, ...]:
    """The toy2d mixtures a bench trains, checked: each known, none twice, none for another
    protocol."""
    if mixtures is None:
        return TOY_MIXTURES
    if protocol != "toy2d":
        raise ConfigError(f"--mixtures is an option of the toy2d bench, not of {protocol}")
    unknown = [m for m in mixtures if m not in TOY_MIXTURES]
    if unknown or not mixtures or len(set(mixtures)) != len(mixtures):
        raise ConfigError(
            f"--mixtures takes distinct names from {', '.join(TOY_MIXTURES)}, got "
            f"'{','.join(mixtures)}'"
        )
    return tuple(mixtures)


def run_bench(
    protocol: str,
    preset: str,
    out: str | Path,
    *,
    data_dir: str | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    seeds: int = 1,
    classifier: str | None = None,
    samples: int | None = None,
    overrides: list[str] | None = None,
    progress: bool | None = False,
    mixtures: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train and evaluate `preset` on a protocol with `seeds` seeds from `seed` on; the result holds
    our rows (one per mixture and seed), their mean and spread per mixture, the published rows of
    the same protocol, and the wall-clock and CPU minutes this call spent. `samples` replaces
    Stacked MNIST's 26,000 (quick checks; the published rows count 26,000); `mixtures` picks
    some of toy2d's (all three by default)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown benchmark '{protocol}' (choose from: {', '.join(PROTOCOLS)})")
    mixtures = check_mixtures(protocol, mixtures)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if protocol != "toy2d" and not data_dir:
        raise ConfigError(
            f"the {protocol} benchmark needs --data-dir, the folder of the MNIST files"
        )
    config_mod.from_preset(preset)  # unknown presets fail before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = []
    for run_seed in range(seed, seed + seeds):
        for row in RUNNERS[protocol](
            preset=preset,
            out=out,
            minutes=minutes,
            steps=steps,
            seed=run_seed,
            overrides=list(overrides or []),
            progress=progress,
            data_dir=data_dir,
            classifier=classifier,
            samples=samples,
            mixtures=mixtures,
        ):
            rows.append({**row, "seed": run_seed})
    return {
        "protocol": protocol,
        "preset": preset,
        "seed": seed,
        "seeds": seeds,
        "rows": rows,
        "summary": summarise(rows),
        "published": {
            row["protocol"]: PUBLISHED.get(row["protocol"], [])
            for row in rows
            if "method" not in row
        },
        "wall_minutes": round((time.perf_counter() - wall) / 60, 2),
        "cpu_minutes": round((time.process_time() - cpu) / 60, 2),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }


MEASURES = ("modes", "high_quality", "kl")


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per protocol, over its seeds: each measure's mean, sample standard deviation (the spread;
    None for one seed), lowest and highest."""
    summary: dict[str, dict[str, Any]] = {}
    for protocol in dict.fromkeys(row["protocol"] for row in rows):
        ours = [row for row in rows if row["protocol"] == protocol]
        entry: dict[str, Any] = {"seeds": len(ours)}
        for key in MEASURES:
            values = torch.tensor([float(r[key]) for r in ours if r[key] is not None])
            if len(values):
                entry[key] = {
                    "mean": round(float(values.mean()), 3),
                    "sd": round(float(values.std()), 3) if len(values) > 1 else None,
                    "min": round(float(values.min()), 3),
                    "max": round(float(values.max()), 3),
                }
        summary[protocol] = entry
    return summary


def format_report(result: dict[str, Any]) -> str:
    """Per protocol: the papers' constants and ours, the published rows (± as printed, where each
    was read), then ours, one row a seed, and their mean ± standard deviation."""
    lines = []
    for protocol, summary in result["summary"].items():
        ours = [row for row in result["rows"] if row["protocol"] == protocol]
        measures = "KL to uniform (nats)" if protocol.startswith("stacked") else "high-quality %"
        lines += [
            f"{protocol}: modes captured of {ours[0]['of']}, {measures}",
            f"  papers' constants: {PAPER_CONSTANTS.get(protocol, 'none published')}",
            f"  ours:              {ours[0].get('constants', '-')}",
            f"{'method':<24} {'modes':>14} {'HQ %':>11} {'KL':>13}  source",
        ]
        for pub in result["published"][protocol]:
            pm = pub.get("pm", {})
            read = " [reprint]" if pub.get("read") == "reprint" else ""
            lines.append(
                f"{pub['method']:<24} {_cell(pub['modes'], pm.get('modes'), 14)} "
                f"{_cell(pub['high_quality'], pm.get('high_quality'), 11)} "
                f"{_cell(pub['kl'], pm.get('kl'), 13)}  {pub['source']}{read}"
            )
        for row in ours:
            lines.append(
                f"{'gankit ' + result['preset']:<24} {_cell(row['modes'], None, 14)} "
                f"{_cell(row['high_quality'], None, 11)} {_cell(row['kl'], None, 13)}  seed "
                f"{row['seed']}: {row['steps']} steps, final verdict '{row['verdict']}'"
                + _channel_note(row)
            )
        if summary["seeds"] > 1:
            cells = [
                _cell(summary.get(k, {}).get("mean"), summary.get(k, {}).get("sd"), w)
                for k, w in zip(MEASURES, (14, 11, 13), strict=True)
            ]
            lowest = ", ".join(
                f"{k.replace('_', '-')} {summary[k]['min']:g}-{summary[k]['max']:g}"
                for k in MEASURES
                if k in summary
            )
            lines.append(
                f"{'  mean ± sd':<24} {' '.join(cells)}  {summary['seeds']} seeds; range: {lowest}"
            )
        lines.append("")
    lines.append(
        f"spent {result['wall_minutes']:.1f} wall-clock minutes, "
        f"{result['cpu_minutes']:.1f} CPU minutes ({result['threads']} threads, "
        f"{result['cpus']} cores)"
    )
    return "\n".join(lines)


def _channel_note(row: dict[str, Any]) -> str:
    """The share of a Stacked MNIST KL that each channel's digit balance explains, and how
    clearly G draws its digits."""
    if row.get("kl_channels") is None:
        return ""
    from ..metrics.evaluate import CLEAR_DIGIT

    rarest = min(min(shares) for shares in row["digit_shares"])
    return (
        f"; {row['kl_channels']:g} of its KL from the channels' digit balance "
        f"(rarest digit {100 * rarest:.1f}% of a channel); {100 * row['clear_digits']:.0f}% "
        f"of its digits read with p >= {CLEAR_DIGIT:g}"
    )


def _cell(v, pm, width: int) -> str:
    if v is None:
        return f"{'-':>{width}}"
    return f"{f'{v:g} ± {pm:g}' if pm is not None else f'{v:g}':>{width}}"


def write_json(result: dict[str, Any], path: Path) -> None:
    from ..files import atomic_write

    atomic_write(path, (json.dumps(result, indent=2) + "\n").encode())
