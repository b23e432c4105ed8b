"""`gankit bench`: the published protocols end to end (train a preset, evaluate it their way) with
the papers' own rows printed beside ours.

- toy2d: the 8-Gaussian ring and the 25-Gaussian grid, one run each; 2,500 samples counted as
  VEEGAN and PacGAN count them (modes captured, share of samples within 3 standard deviations).
- stacked-mnist: 1,000 modes; 26,000 samples read channel by channel by the project's digit
  classifier (modes captured, KL to uniform), as PacGAN evaluates.

The image-quality protocols (mnist, fashion-mnist, cifar10: presets against the plain DCGAN loop in
two feature spaces) are `quality.py`'s.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from .. import config as config_mod
from ..errors import ConfigError
from ..metrics.published import PUBLISHED

PROTOCOLS = ("toy2d", "stacked-mnist")
TOY_SAMPLES = 2500  # VEEGAN / PacGAN
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


def _classifier(path: str | None, data_dir: str, out: Path):
    """The given digit classifier, or one trained on the MNIST files once and kept in `out`."""
    from ..data import load_dataset
    from ..metrics.classifier import load_classifier, save_classifier, train_classifier

    if path:
        return load_classifier(path)
    cached = out / "classifier.safetensors"
    if cached.exists():
        return load_classifier(cached)
    data = load_dataset(config_mod.DataConfig(source="mnist", dir=data_dir))
    model, report = train_classifier(data, epochs=8, holdout=0.2, seed=0)
    save_classifier(model, report, cached, data.name)
    return model


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


def _toy2d(preset, out, minutes, steps, seed, overrides, progress, **_) -> list[dict[str, Any]]:
    from ..data.toy2d import mixture
    from ..metrics.modes import mode_coverage_2d

    rows = []
    for kind in ("ring", "grid"):
        cfg = bench_config(
            "toy2d", preset, {"source": "toy2d", "toy": kind}, minutes, steps, seed, overrides
        )
        run = _train(cfg, out / f"{preset}-{kind}-seed{seed}", progress)
        centers, std = mixture(kind)
        cov = mode_coverage_2d(run.pop("model").sample(TOY_SAMPLES, seed=seed), centers, std)
        rows.append(
            {
                "protocol": kind,
                "modes": cov["modes_captured"],
                "of": len(centers),
                "high_quality": round(100 * cov["high_quality_share"], 1),
                "kl": None,
                **run,
            }
        )
    return rows


def _stacked_mnist(
    preset, out, minutes, steps, seed, overrides, progress, data_dir, classifier, samples
):
    from ..metrics.evaluate import stacked_mnist_modes

    clf = _classifier(classifier, data_dir, out)
    cfg = bench_config(
        "stacked-mnist",
        preset,
        {"source": "stacked-mnist", "dir": data_dir},
        minutes,
        steps,
        seed,
        overrides,
    )
    run = _train(cfg, out / f"{preset}-stacked-mnist-seed{seed}", progress)
    modes = stacked_mnist_modes(clf, run.pop("model").sample(samples or STACKED_SAMPLES, seed=seed))
    return [
        {
            "protocol": "stacked-mnist",
            "modes": modes["modes_captured"],
            "of": 1000,
            "high_quality": None,
            "kl": round(modes["kl_to_uniform"], 3),
            **run,
        }
    ]


def _round(v):
    return round(v, 4) if isinstance(v, float) else v


RUNNERS = {"toy2d": _toy2d, "stacked-mnist": _stacked_mnist}


def run_bench(
    protocol: str,
    preset: str,
    out: str | Path,
    *,
    data_dir: str | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    classifier: str | None = None,
    samples: int | None = None,
    overrides: list[str] | None = None,
    progress: bool | None = False,
) -> dict[str, Any]:
    """Train and evaluate `preset` on a protocol; the result holds our rows, the published rows of
    the same protocol, and the wall-clock and CPU minutes this call spent. `samples` replaces
    Stacked MNIST's 26,000 (quick checks; the published rows count 26,000)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown benchmark '{protocol}' (choose from: {', '.join(PROTOCOLS)})")
    if protocol != "toy2d" and not data_dir:
        raise ConfigError(
            f"the {protocol} benchmark needs --data-dir, the folder of the MNIST files"
        )
    config_mod.from_preset(preset)  # unknown presets fail before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = RUNNERS[protocol](
        preset=preset,
        out=out,
        minutes=minutes,
        steps=steps,
        seed=seed,
        overrides=list(overrides or []),
        progress=progress,
        data_dir=data_dir,
        classifier=classifier,
        samples=samples,
    )
    return {
        "protocol": protocol,
        "preset": preset,
        "seed": seed,
        "rows": rows,
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


def format_report(result: dict[str, Any]) -> str:
    """Published rows of each protocol, then ours, as one plain-text table per protocol."""
    lines = []
    for row in result["rows"]:
        measures = (
            "KL to uniform (nats)"
            if row["protocol"] == "stacked-mnist"
            else "high-quality % (3 std)"
        )
        lines += [
            f"{row['protocol']}: modes captured of {row['of']}, {measures}",
            f"{'method':<28} {'modes':>7} {'HQ %':>6} {'KL':>6}  source",
        ]
        for pub in result["published"][row["protocol"]]:
            lines.append(
                f"{pub['method']:<28} {_cell(pub['modes'])} {_cell(pub['high_quality'], 6)} "
                f"{_cell(pub['kl'], 6)}  {pub['source']}"
            )
        lines.append(
            f"{'gankit ' + result['preset']:<28} {_cell(row['modes'])} "
            f"{_cell(row['high_quality'], 6)} {_cell(row['kl'], 6)}  this run: {row['steps']} "
            f"steps, final verdict '{row['verdict']}'"
        )
        lines.append("")
    lines.append(
        f"spent {result['wall_minutes']:.1f} wall-clock minutes, "
        f"{result['cpu_minutes']:.1f} CPU minutes ({result['threads']} threads, "
        f"{result['cpus']} cores)"
    )
    return "\n".join(lines)


def _cell(v, width: int = 7) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}g}"


def write_json(result: dict[str, Any], path: Path) -> None:
    from ..files import atomic_write

    atomic_write(path, (json.dumps(result, indent=2) + "\n").encode())
