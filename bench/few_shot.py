"""The few-shot protocol: one preset trained on N images of one class without augmentation, with
DiffAugment and with ADA, several seeds each, for the same CPU time; FID over training and, at
the end, FID, precision and recall against every image of the class the N came from; and when
the health line's `D overfitting` verdict fired, beside when FID started to rise.

    python bench/few_shot.py --data cifar10 --data-dir CIFAR10 --classes horse --limit 100 \\
        --features cifar10-vgg15.safetensors --cpu-minutes 10 --points 10 --seeds 0,1,2 \\
        --workers 2 --out runs/few-shot-horses --json few_shot_horses.json \\
        --svg few_shot_horses.svg data.holdout=500

Each run trains in turns, as `gankit bench cifar10` races its models, until it has spent each of
`--points` equal shares of `--cpu-minutes` (or of `--steps`); at each it draws `--curve-n`
samples and scores their FID against the whole class. A run whose FID is lowest before its last
point has started to get worse: the verdict is a hit there when it fired at or before that
point's step, and a false alarm on a run whose FID fell to the end. Prints each run's curve, the
final figures, the medians per arm and the hit rates; `--json` keeps them all, `--svg` draws FID
over CPU time with the verdict's first firing marked.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.data import load_reference
from gankit.experiments.quality import Contestant, chunked_run, race_to
from gankit.metrics.distribution import fid, knn_radii, precision_recall
from gankit.metrics.evaluate import PR_K
from gankit.metrics.extractors import load_extractor
from gankit.metrics.reference import reference_features
from gankit.report.page import STYLE
from gankit.report.svg import PALETTE, Series, StepAxis, line_chart
from gankit.train import Trainer
from gankit.train.health import D_OVERFITTING

#: the curve's key of each weights' FID
FID_KEY = {"ema": "fid", "raw": "fid_raw"}

#: the three arms: the preset's loss options each adds
ARMS = {
    "none": {},
    "diffaugment": {"diffaugment": "color,translation,cutout"},
    "ada": {"ada": True},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="dcgan")
    p.add_argument("--data", required=True, help="cifar10, folder, mnist, ... (any source)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--classes", required=True, help="the class the few images are drawn from")
    p.add_argument("--limit", type=int, default=100, help="training images (default 100)")
    p.add_argument("--limit-seed", type=int, default=0)
    p.add_argument("--features", required=True, help="as `gankit eval --features`")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--cpu-minutes", type=float, help="CPU minutes of training per run")
    budget.add_argument("--steps", type=int, help="steps per run (deterministic; for tests)")
    p.add_argument("--points", type=int, default=10, help="curve points per run (default 10)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--arms", default=",".join(ARMS), help="comma list of: none, diffaugment, ada")
    p.add_argument("--curve-n", type=int, default=2000, help="samples per curve point")
    p.add_argument("-n", type=int, default=10000, help="samples for the final figures")
    p.add_argument("--workers", type=int, default=1, help="runs trained at once (processes)")
    p.add_argument("--out", default="runs/bench-few-shot")
    p.add_argument("--json", default=None)
    p.add_argument("--svg", default=None)
    p.add_argument("overrides", nargs="*", help="key=value config overrides of every run")
    args = p.parse_args(argv)
    unknown = [a for a in args.arms.split(",") if a not in ARMS]
    if unknown:
        p.error(f"unknown arm {unknown[0]} (choose from: {', '.join(ARMS)})")
    if args.points < 1:
        p.error("--points must be at least 1")
    return args


def arm_config(args: argparse.Namespace, arm: str, seed: int) -> gankit.Config:
    """The run of one arm and seed: the few images, one thread, logs at every 50 steps."""
    return gankit.make_config(
        args.preset,
        data={
            "source": args.data,
            "dir": args.data_dir,
            "classes": args.classes,
            "limit": args.limit,
            "limit_seed": args.limit_seed,
        },
        train={**chunked_run(seed, "cpu"), "threads": 1, "log_every": 50},
        loss=ARMS[arm],
        overrides=args.overrides,
    )


def marks(args: argparse.Namespace) -> tuple[str, list[float]]:
    total = args.steps if args.steps else args.cpu_minutes
    unit = "steps" if args.steps else "cpu_minutes"
    return unit, [total * (i + 1) / args.points for i in range(args.points)]


def first_firing(run_dir: Path, verdict: str = D_OVERFITTING) -> int | None:
    """The first logged step whose health verdict is `verdict`."""
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("verdict") == verdict:
            return int(record["step"])
    return None


def rise_step(curve: list[dict[str, Any]], key: str = "fid") -> int | None:
    """The step of the lowest FID when a later point is higher (FID started to rise), else None."""
    best = min(range(len(curve)), key=lambda i: curve[i][key])
    return curve[best]["steps"] if best < len(curve) - 1 else None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one arm and seed to each mark, scoring its FID there, then its final figures."""
    torch.set_num_threads(1)
    args, arm, seed = job["args"], job["arm"], job["seed"]
    cfg = arm_config(args, arm, seed)
    extract = load_extractor(args.features)
    full = load_reference(cfg.data, "full")
    real = reference_features(full, extract, Path(args.out) / "reference")
    run_dir = Path(args.out) / f"{arm}-seed{seed}"
    trainer = Trainer(cfg, run_dir, progress=False, echo=lambda line: None)
    curve_latents = trainer.recipe.latents(args.curve_n, torch.Generator().manual_seed(seed + 3))
    racer = Contestant(arm, trainer.train_steps, lambda: trainer.sample(curve_latents))
    unit, points = marks(args)
    # G as trained beside its EMA (when the run keeps one): an EMA lags a run this short
    weights = ("ema", "raw") if trainer.ema else ("ema",)
    curve = []
    try:
        for mark in points:
            race_to([racer], unit, mark, lambda line: None)
            point = {"steps": racer.steps, "cpu_minutes": round(racer.cpu / 60, 3)}
            for w in weights:
                images = trainer.sample(curve_latents, w)
                point[FID_KEY[w]] = fid(real, extract(images)[0])
            curve.append({**point, "fid_raw": point.get("fid_raw", point["fid"])})
        latents = trainer.recipe.latents(args.n, torch.Generator().manual_seed(seed))
        finals = {w: extract(trainer.sample(latents, w))[0] for w in weights}
    finally:
        trainer.close()
    radii = knn_radii(real, PR_K)
    final = {}
    for w, feats in finals.items():
        precision, recall = precision_recall(real, feats, PR_K, real_radii=radii)
        suffix = "" if w == "ema" else "_raw"
        final |= {f"fid{suffix}": fid(real, feats), f"precision{suffix}": precision}
        final[f"recall{suffix}"] = recall
    if "raw" not in finals:  # no EMA: the sampled G is G as trained
        final |= {f"{k}_raw": final[k] for k in ("fid", "precision", "recall")}
    fired = first_firing(run_dir)
    return {
        "arm": arm,
        "seed": seed,
        "training_images": len(trainer.data),
        "reference": full.name,
        "reference_images": len(full),
        "steps": racer.steps,
        "cpu_minutes": round(racer.cpu / 60, 3),
        "ema": bool(trainer.ema),
        **final,
        "best_fid": min(c["fid"] for c in curve),
        "best_fid_raw": min(c["fid_raw"] for c in curve),
        "fid_rose_after_step": rise_step(curve),
        "raw_fid_rose_after_step": rise_step(curve, "fid_raw"),
        "overfitting_fired_at": fired,
        "curve": curve,
        "run_dir": str(run_dir),
    }


def verdict_outcome(row: dict[str, Any], rose_key: str = "fid_rose_after_step") -> str:
    """How the verdict did on one run, against the sampled G's FID curve (or, with `rose_key`
    "raw_fid_rose_after_step", G's as trained): hit, late, missed, false alarm or quiet."""
    fired, rose = row["overfitting_fired_at"], row[rose_key]
    if rose is None:
        return "false alarm" if fired is not None else "quiet"
    if fired is None:
        return "missed"
    return "hit" if fired <= rose else "late"


def summary(rows: list[dict[str, Any]], arms: list[str]) -> list[dict[str, Any]]:
    out = []
    for arm in arms:
        runs = [r for r in rows if r["arm"] == arm]
        outcomes = [r["verdict_outcome"] for r in runs]
        outcomes_raw = [r["verdict_outcome_raw"] for r in runs]
        out.append(
            {
                "arm": arm,
                "seeds": len(runs),
                **{
                    f"median_{k}": statistics.median(r[k] for r in runs)
                    for k in (
                        *("fid", "best_fid", "precision", "recall", "steps"),
                        *("fid_raw", "best_fid_raw", "precision_raw", "recall_raw"),
                    )
                },
                "verdicts": {o: outcomes.count(o) for o in sorted(set(outcomes))},
                "verdicts_raw": {o: outcomes_raw.count(o) for o in sorted(set(outcomes_raw))},
            }
        )
    return out


def chart(rows: list[dict[str, Any]], title: str, x: str = "cpu_minutes") -> str:
    """FID over CPU minutes (or `x`="steps"), one curve per run (a colour per arm), the
    verdict's first firing a dot on its run's curve at the nearest point at or after it."""
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    colors = {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}
    series, fired = [], {arm: ([], []) for arm in arms}
    for r in rows:
        xs = [c[x] for c in r["curve"]]
        series.append(
            Series(f"{r['arm']} {r['seed']}", xs, [c["fid"] for c in r["curve"]], colors[r["arm"]])
        )
        if r["overfitting_fired_at"] is not None:
            at = next((c for c in r["curve"] if c["steps"] >= r["overfitting_fired_at"]), None)
            if at is not None:
                fired[r["arm"]][0].extend([at[x], at[x]])
                fired[r["arm"]][1].extend([at["fid"], math.nan])
    series += [
        Series(f"{arm}: D overfitting", xs, ys, "#000000") for arm, (xs, ys) in fired.items() if xs
    ]
    high = max(c[x] for r in rows for c in r["curve"])
    svg = line_chart(title, series, StepAxis(0.0, high))
    return svg.replace(">", f"><style>{STYLE}</style>", 1)


def print_report(rows: list[dict[str, Any]], sums: list[dict[str, Any]]) -> None:
    """FID is the sampled G's (its EMA when the run keeps one), raw FID G's as trained."""
    for r in rows:
        print(f"\n{r['arm']}, seed {r['seed']}: FID against {r['reference']} over training")
        print(f"{'steps':>7} {'CPU min':>8} {'FID':>8} {'raw FID':>8}")
        for c in r["curve"]:
            print(f"{c['steps']:>7} {c['cpu_minutes']:>8.2f} {c['fid']:>8.2f} {c['fid_raw']:>8.2f}")
    print(
        f"\n{'arm':<12} {'seed':>4} {'steps':>6} {'FID':>7} {'best':>7} {'prec':>5} {'rec':>5}",
        end="",
    )
    print(f" {'raw FID':>7} {'rose after':>10} {'fired at':>8}  verdict (on raw G's curve)")
    dash = lambda v: "-" if v is None else v  # noqa: E731
    for r in rows:
        print(
            f"{r['arm']:<12} {r['seed']:>4} {r['steps']:>6} {r['fid']:>7.2f} {r['best_fid']:>7.2f} "
            f"{r['precision']:>5.2f} {r['recall']:>5.2f} {r['fid_raw']:>7.2f} "
            f"{dash(r['fid_rose_after_step']):>10} {dash(r['overfitting_fired_at']):>8}  "
            f"{r['verdict_outcome']} ({r['verdict_outcome_raw']})"
        )
    print()
    for s in sums:
        print(
            f"median of {s['seeds']} seeds, {s['arm']}: FID {s['median_fid']:.2f} (best "
            f"{s['median_best_fid']:.2f}), precision {s['median_precision']:.2f}, recall "
            f"{s['median_recall']:.2f}; raw G: FID {s['median_fid_raw']:.2f}, recall "
            f"{s['median_recall_raw']:.2f}; the verdict: {s['verdicts']} "
            f"(on raw G's curve: {s['verdicts_raw']})"
        )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    arms = args.arms.split(",")
    jobs = [
        {"args": args, "arm": arm, "seed": int(s)} for s in args.seeds.split(",") for arm in arms
    ]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(run_job, jobs))
    else:
        rows = [run_job(job) for job in jobs]
    for r in rows:
        r["verdict_outcome"] = verdict_outcome(r)
        r["verdict_outcome_raw"] = verdict_outcome(r, "raw_fid_rose_after_step")
    sums = summary(rows, arms)
    print_report(rows, sums)
    result = {"command": sys.argv, "rows": rows, "summary": sums}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.svg:
        unit, _ = marks(args)
        x = "steps" if unit == "steps" else "cpu_minutes"
        title = f"FID against {rows[0]['reference']} over {x.replace('_', ' ')} ({args.preset})"
        Path(args.svg).write_text(chart(rows, title, x))


if __name__ == "__main__":
    main()
