"""`gankit compare`: GAN, VAE and diffusion trained on the same data under the same wall-clock
budget, then measured the same way, so the table the seed documents tell in adjectives is
measured instead.

Every model trains on the first N - 2,000 images of the MNIST files (`data.holdout=2000`: the last
2,000 are held out, the split the project's classifier uses), so the VAE's ELBO is on images no
model saw. Quality is measured in the digit classifier's features (as `gankit bench mnist`):
FID, precision/recall, density/coverage and classes against the training images. Samples are
drawn in fixed batches of `speed_batch` images and timed, giving images/s (wall-clock, one
process). DDPM with 1,000 steps is ~1,000x slower than a GAN's one pass, so every row is measured
at `slow_samples` (the same n for all rows: FID is biased by n, and rows compare like with like)
and the fast rows also at `samples`.

`--budget-minutes` is each model's training; sampling is on top of it, and DDPM over all its
timesteps can outlast the training many times over on a CPU. So before anything trains the
command times one sampling batch of every row on the untrained networks (a network's cost does not
depend on its weights), says how long the whole command will take, and, past `--max-minutes`,
refuses up front with the choices that fit (fewer `--slow-samples`, `--no-full-ddpm`).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from .. import config as config_mod
from ..errors import ConfigError

DEFAULT_MODELS = ("dcgan", "vae", "ddpm")
HOLDOUT = 2000
#: DDIM step counts each diffusion model is sampled with, beside DDPM over all its timesteps
DDIM_STEPS = (50, 10)
METRICS = ["fid", "pr", "dc", "classes"]
KEEP = ("fid", "precision", "recall", "density", "coverage", "classes_covered", "min_class_share")


def compare_config(
    preset: str, data_dir: str, minutes: float, seed: int, threads: int | None, overrides: list[str]
) -> config_mod.Config:
    train = {"seed": seed, "minutes": minutes, "steps": None}
    if threads is not None:
        train["threads"] = threads
    recipe = config_mod.from_preset(preset).recipe
    cfg = config_mod.build(
        preset,
        overrides=[o for o in overrides if config_mod.reads(recipe, o)],  # each its own family's
        data={"source": "mnist", "dir": data_dir, "holdout": HOLDOUT},
        train=train,
    )
    if cfg.model.conditional:
        raise ConfigError(f"compare measures unconditional models; '{preset}' is conditional")
    return cfg


def _parameters(nets: dict[str, torch.nn.Module]) -> int:
    return sum(p.numel() for net in nets.values() for p in net.parameters())


@torch.no_grad()
def timed_samples(model, n: int, seed: int, batch: int) -> tuple[torch.Tensor, float, float]:
    """n samples in batches of `batch`, with the wall-clock and CPU seconds they took."""
    wall, cpu = time.perf_counter(), time.process_time()
    samples = model.sample(n, seed=seed, batch_size=batch)
    return samples, time.perf_counter() - wall, time.process_time() - cpu


def _sampler_rows(recipe, full_ddpm: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(label, sampler options) a model is measured with: one pass, or DDPM over all T steps
    (unless `full_ddpm` is off) and DDIM at 50 and 10 (those at most T)."""
    if not hasattr(recipe, "set_sampler"):
        return [("one pass", {})]
    timesteps = recipe.schedule.timesteps
    rows = [(f"DDPM {timesteps}", {"sampler": "ddpm", "steps": None})] if full_ddpm else []
    return rows + [
        (f"DDIM {s}", {"sampler": "ddim", "steps": s}) for s in DDIM_STEPS if s < timesteps
    ]


def _row_samples(options: dict[str, Any], samples: int, slow_samples: int) -> int:
    return slow_samples if options.get("sampler") == "ddpm" else samples


@torch.no_grad()
def _batch_seconds(recipe, options: dict[str, Any], batch: int, device: torch.device) -> float:
    """Seconds one sampling batch of `batch` images takes with these sampler options: a diffusion
    row is timed over two DDIM steps and scaled to its step count (every step is one U-Net pass),
    after one untimed call that pays the first-call costs."""
    latents = recipe.latents(batch, torch.Generator().manual_seed(0)).to(device)
    steps = 1
    if options:
        steps = options["steps"] or recipe.schedule.timesteps
        recipe.set_sampler("ddim", 2)
    recipe.generate(latents[:1])
    _synchronize(device)
    start = time.perf_counter()
    recipe.generate(latents)
    _synchronize(device)
    per_call = time.perf_counter() - start
    return per_call * (steps / 2 if options else 1)


def plan_compare(
    cfgs: dict[str, config_mod.Config],
    sample_shape: tuple[int, ...],
    budget_minutes: float,
    samples: int,
    slow_samples: int,
    speed_batch: int,
    full_ddpm: bool = True,
) -> dict[str, Any]:
    """How long the command will take: each model's training budget plus its rows' sampling,
    estimated from one timed batch per row on the untrained networks."""
    from ..recipes import build_recipe
    from ..train.distributed import resolve_device

    rows = []
    for preset, cfg in cfgs.items():
        device = resolve_device(cfg.train.device)
        with torch.random.fork_rng(devices=[]):
            recipe = build_recipe(cfg, sample_shape)
        for net in recipe.nets.values():
            net.to(device).eval()
        for label, options in _sampler_rows(recipe, full_ddpm):
            n = _row_samples(options, samples, slow_samples)
            batch = min(speed_batch, n)
            seconds = _batch_seconds(recipe, options, batch, device) * n / batch
            rows.append({"model": preset, "sampler": label, "n": n, "minutes": seconds / 60})
    training = budget_minutes * len(cfgs)
    sampling = sum(r["minutes"] for r in rows)
    return {"training_minutes": training, "sampling_minutes": sampling, "rows": rows}


def describe_plan(plan: dict[str, Any], models: int, budget_minutes: float) -> str:
    """The estimate in one line, naming the slowest row when it dominates."""
    total = plan["training_minutes"] + plan["sampling_minutes"]
    line = (
        f"compare will take about {_minutes(total)}: {models} x {budget_minutes:g} min of "
        f"training, then about {_minutes(plan['sampling_minutes'])} of sampling"
    )
    slowest = max(plan["rows"], key=lambda r: r["minutes"])
    if slowest["minutes"] > 0.5 * plan["sampling_minutes"] and slowest["minutes"] >= 1:
        line += (
            f" ({slowest['model']} {slowest['sampler']}: {_minutes(slowest['minutes'])} "
            f"for {slowest['n']:,} images)"
        )
    return line


def shorter_choices(
    plan: dict[str, Any], max_minutes: float, samples: int, slow_samples: int, full_ddpm: bool
) -> list[str]:
    """Sampling options that bring the estimate within `max_minutes`: the full DDPM row left out,
    fewer --slow-samples (that row's images), fewer --samples (the other rows'), or both fewer.
    Sampling time is linear in each row's images."""
    spare = max_minutes - plan["training_minutes"]
    slow = sum(r["minutes"] for r in plan["rows"] if r["sampler"].startswith("DDPM"))
    fast = plan["sampling_minutes"] - slow
    if spare <= 0:
        return []
    choices = []
    if slow and full_ddpm and fast <= spare:
        choices.append("--no-full-ddpm")
    if slow and fast < spare and int(slow_samples * (spare - fast) / slow) >= 10:
        choices.append(f"--slow-samples {int(slow_samples * (spare - fast) / slow)}")
    if not choices:
        fewer = spare / plan["sampling_minutes"]
        fast_n, slow_n = int(samples * fewer), int(slow_samples * fewer)
        drop_slow = slow and full_ddpm and int(samples * spare / fast) >= max(slow_samples, 10)
        if drop_slow:
            choices.append(f"--no-full-ddpm --samples {int(samples * spare / fast)}")
        elif slow_n >= 10:
            choices.append(f"--samples {fast_n} --slow-samples {slow_n}")
    return choices


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _minutes(m: float) -> str:
    return f"{m:.1f} min" if m < 10 else f"{m:.0f} min"


def _train_model(
    preset: str, cfg: config_mod.Config, run_dir: Path, progress: bool | None
) -> dict[str, Any]:
    from ..api import load
    from ..train import Trainer

    if run_dir.exists():
        raise ConfigError(
            f"{run_dir} already holds a compare run: choose another --out (or remove it)"
        )
    cpu = time.process_time()
    result = Trainer(cfg, run_dir, progress=progress).run()
    if result.status == "interrupted":
        raise KeyboardInterrupt
    model = load(run_dir, device=cfg.train.device)  # sampled where it trained
    return {
        "model": model,
        "steps": result.step,
        "train_minutes": round(result.summary["train_seconds"] / 60, 2),
        "train_cpu_minutes": round((time.process_time() - cpu) / 60, 2),
        "verdict": result.summary["final_verdict"],
        "healthy": result.summary["healthy"],
        "status": result.status,
        "parameters": _parameters(model.nets),
        "run": str(run_dir),
    }


def run_compare(
    data_dir: str,
    budget_minutes: float,
    out: str | Path,
    *,
    models: list[str] | None = None,
    seed: int = 0,
    samples: int = 2000,
    slow_samples: int = 200,
    speed_batch: int = 50,
    threads: int | None = 1,
    classifier: str | None = None,
    overrides: list[str] | None = None,
    progress: bool | None = False,
    full_ddpm: bool = True,
    max_minutes: float | None = None,
    log=lambda line: None,
) -> dict[str, Any]:
    """Train each preset in `models` for `budget_minutes` and measure it; returns the table as a
    dict. The whole command's estimated duration is logged before anything trains; over
    `max_minutes` it is refused (ConfigError) with the sampling options that would fit."""
    from ..data import load_dataset, load_heldout
    from ..metrics.evaluate import compare_features, real_knn_radii
    from ..metrics.extractors import classifier_extractor
    from .bench import _classifier

    models = list(models or DEFAULT_MODELS)
    twice = sorted({m for m in models if models.count(m) > 1})
    if twice:  # the second would find the first one's run folder, after the first had trained
        raise ConfigError(f"name each model once: {', '.join(twice)} named twice")
    if not data_dir:
        raise ConfigError("compare needs --data-dir, the folder of the MNIST files")
    if not 0 < budget_minutes < math.inf:  # NaN fails too
        raise ConfigError("--budget-minutes must be a positive finite number")
    if slow_samples < 10 or samples < slow_samples:
        raise ConfigError(
            "--slow-samples must be at least 10 and --samples at least --slow-samples"
        )
    if speed_batch < 1:
        raise ConfigError("--speed-batch must be at least 1")
    if max_minutes is not None and not 0 < max_minutes < math.inf:
        raise ConfigError("--max-minutes must be a positive finite number")
    cfgs = {
        m: compare_config(m, data_dir, budget_minutes, seed, threads, list(overrides or []))
        for m in models
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    train_data = load_dataset(cfgs[models[0]].data)
    plan = plan_compare(
        cfgs, train_data.sample_shape, budget_minutes, samples, slow_samples, speed_batch, full_ddpm
    )
    estimate = describe_plan(plan, len(models), budget_minutes)
    _check_max_minutes(plan, estimate, max_minutes, samples, slow_samples, full_ddpm)
    log(estimate)
    extract = classifier_extractor(_classifier(classifier, data_dir, progress))
    heldout = load_heldout(cfgs[models[0]].data)
    real_feats, _ = extract(train_data.all())
    radii = real_knn_radii(real_feats, METRICS)  # once: every row is scored against them
    rows: list[dict[str, Any]] = []
    for preset in models:
        log(f"training {preset} for {budget_minutes:g} min")
        run = _train_model(preset, cfgs[preset], out / preset, progress)
        model = run.pop("model")
        elbo = (
            model.recipe.elbo(heldout.all(), heldout.y, model.nets, seed=seed)
            if hasattr(model.recipe, "elbo")
            else None
        )
        for label, options in _sampler_rows(model.recipe, full_ddpm):
            if options:
                model.recipe.set_sampler(options["sampler"], options["steps"])
            n = _row_samples(options, samples, slow_samples)
            log(f"sampling {preset} ({label}): {n} images")
            images, sec, cpu_sec = timed_samples(model, n, seed, speed_batch)
            feats, logits = extract(images)
            full, common = (
                compare_features(real_feats, feats[:m], logits[:m], METRICS, seed, real_radii=radii)
                for m in (n, slow_samples)
            )
            row = {
                "model": preset,
                "recipe": cfgs[preset].recipe,
                "sampler": label,
                "n": n,
                **{k: _round(full[k]) for k in KEEP},
                "fid_common_n": _round(common["fid"]),
                "coverage_common_n": _round(common["coverage"]),
                "images_per_s": round(n / sec, 2),
                "sampling_cpu_s_per_image": round(cpu_sec / n, 5),
                **run,
            }
            if elbo is not None:
                row.update(
                    {
                        "heldout_nelbo_nats": round(elbo["nelbo_nats"], 2),
                        "heldout_bits_per_dim": round(elbo["bits_per_dim"], 4),
                        "likelihood": elbo["likelihood"],
                    }
                )
            rows.append(row)
            _save_grid(images, out / "grids" / f"{preset}-{label.replace(' ', '-').lower()}.png")
    floor = _real_floor(real_feats, radii, extract, heldout, samples, slow_samples, seed)
    return {
        "data": "mnist",
        "budget_minutes": budget_minutes,
        "seed": seed,
        "models": models,
        "samples": samples,
        "slow_samples": slow_samples,
        "speed_batch": speed_batch,
        "holdout": HOLDOUT,
        "rows": rows,
        "real_floor": floor,
        "estimated_minutes": round(plan["training_minutes"] + plan["sampling_minutes"], 2),
        "wall_minutes": round((time.perf_counter() - wall) / 60, 2),
        "cpu_minutes": round((time.process_time() - cpu) / 60, 2),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }


def _check_max_minutes(
    plan: dict[str, Any],
    estimate: str,
    max_minutes: float | None,
    samples: int,
    slow_samples: int,
    full_ddpm: bool,
) -> None:
    if max_minutes is None:
        return
    if plan["training_minutes"] + plan["sampling_minutes"] <= max_minutes:
        return
    choices = shorter_choices(plan, max_minutes, samples, slow_samples, full_ddpm)
    fix = (
        f"; within it: {' or '.join(choices)}"
        if choices
        else "; no sample count fits: a larger --max-minutes, a smaller --budget-minutes or "
        "fewer --models"
    )
    raise ConfigError(f"{estimate}, over --max-minutes {max_minutes:g}{fix}")


def _real_floor(real_feats, radii, extract, heldout, samples, slow_samples, seed) -> dict[str, Any]:
    """Held-out real images against the training images: the best a model can score at each n."""
    from ..metrics.evaluate import compare_features

    feats, logits = extract(heldout.all()[:samples])
    full, common = (
        compare_features(real_feats, feats[:m], logits[:m], METRICS, seed, real_radii=radii)
        for m in (samples, slow_samples)
    )
    return {
        "n": len(feats),
        **{k: _round(full[k]) for k in KEEP},
        "fid_common_n": _round(common["fid"]),
        "coverage_common_n": _round(common["coverage"]),
    }


def _save_grid(images: torch.Tensor, path: Path) -> None:
    from ..export import save_png

    save_png(images[:64], path)


def _round(v):
    return round(v, 4) if isinstance(v, float) else v


def format_markdown(result: dict[str, Any]) -> str:
    """One Markdown table: a row per model and sampler, then the real-data floor."""
    n_slow = result["slow_samples"]
    lines = [
        f"MNIST, {result['budget_minutes']:g} wall-clock minutes of training per model "
        f"({result['threads']} thread(s)), seed {result['seed']}; metrics in the project digit "
        f"classifier's features against the {result['holdout']:,}-image-held-out training set. "
        f"n: samples measured; FID@{n_slow}: every row at the same n. Sampling images/s: "
        f"wall-clock, batches of {result['speed_batch']}.",
        "",
        "| model | sampler | n | FID | precision | recall | density | coverage | classes | "
        f"min class % | FID@{n_slow} | coverage@{n_slow} | train min | train CPU min | steps | "
        "sampling img/s | parameters | held-out bits/dim | final health |",
        "|" + "---|" * 19,
    ]
    for r in result["rows"]:
        bpd = f"{r['heldout_bits_per_dim']:.3f}" if "heldout_bits_per_dim" in r else "-"
        lines.append(
            f"| {r['model']} | {r['sampler']} | {r['n']:,} | {r['fid']:.3f} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['density']:.3f} | "
            f"{r['coverage']:.3f} | {r['classes_covered']} | {100 * r['min_class_share']:.1f} | "
            f"{r['fid_common_n']:.3f} | {r['coverage_common_n']:.3f} | "
            f"{r['train_minutes']:.2f} | {r['train_cpu_minutes']:.2f} | {r['steps']:,} | "
            f"{_speed(r['images_per_s'])} | {r['parameters']:,} | {bpd} | "
            f"{r['verdict'] or 'no log step'} |"
        )
    f = result["real_floor"]
    lines.append(
        f"| real data (held out) | - | {f['n']:,} | {f['fid']:.3f} | {f['precision']:.3f} | "
        f"{f['recall']:.3f} | {f['density']:.3f} | {f['coverage']:.3f} | {f['classes_covered']} | "
        f"{100 * f['min_class_share']:.1f} | "
        f"{f['fid_common_n']:.3f} | {f['coverage_common_n']:.3f} | - | - | - | - | - | - | - |"
    )
    speedup = ddim_speedup(result)
    if speedup:
        lines += ["", "; ".join(speedup)]
    lines += [
        "",
        f"spent {result['wall_minutes']:.1f} wall-clock minutes, "
        f"{result['cpu_minutes']:.1f} CPU minutes ({result['cpus']} cores)",
    ]
    return "\n".join(lines)


def ddim_speedup(result: dict[str, Any]) -> list[str]:
    """DDIM's sampling speed and FID (at the common n) against DDPM's, per diffusion model."""
    notes = []
    for model in dict.fromkeys(r["model"] for r in result["rows"]):
        rows = {r["sampler"]: r for r in result["rows"] if r["model"] == model}
        ddpm = next((r for label, r in rows.items() if label.startswith("DDPM")), None)
        if ddpm is None:
            continue
        for label, r in rows.items():
            if label.startswith("DDIM"):
                ratio = (
                    r["fid_common_n"] / ddpm["fid_common_n"] if ddpm["fid_common_n"] else math.nan
                )
                notes.append(
                    f"{model} {label}: {r['images_per_s'] / ddpm['images_per_s']:.1f}x "
                    f"{ddpm['sampler']}'s images/s, FID@{result['slow_samples']} "
                    f"{r['fid_common_n']:.3f} vs "
                    f"{ddpm['fid_common_n']:.3f} ({ratio:.2f}x)"
                )
    return notes


def _speed(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def write_outputs(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    from ..files import atomic_write

    md, js = out / "compare.md", out / "compare.json"
    atomic_write(md, (format_markdown(result) + "\n").encode())
    atomic_write(js, (json.dumps(result, indent=2) + "\n").encode())
    return md, js
