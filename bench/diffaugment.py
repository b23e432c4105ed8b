"""Does DiffAugment help on a small data set? The embedded digits (1,797 images), with and without.

Trains the same preset with the same seeds twice, once with `loss.diffaugment=POLICY` (Zhao et al.
2020: the same differentiable augmentation of real and generated images in D's and G's steps).

The split: a digit classifier (the feature space of every score) trains on the first 80% of the
digits, and so does every GAN; the last 20% are held out from both. Scoring only against the
images G trained on would reward memorising them, so each run is scored against both:

- `train`: the 1,438 training digits; `held-out`: the 359 held-out digits.
- Along the run (every `--eval-every` steps, from a checkpoint, `--curve-n` samples): FID to both
  references, and D's overfitting gap (Zhao et al., Fig. 1): D's mean logit on training digits
  minus its mean logit on held-out digits. A D that memorises its training set scores them higher.
- At the end, from `-n` samples: FID, precision, recall, classes covered, rarest class's share.

    python bench/diffaugment.py --preset dcgan --steps 5000 --seeds 0,1,2 --eval-every 500 \\
        --workers 2 data.resolution=16 model.width=64 train.threads=1

Prints one curve per run, a table of the final and best-of-run figures, the medians over seeds,
and ends with one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.data import Dataset, load_dataset
from gankit.metrics.classifier import (
    accuracy,
    load_classifier,
    save_classifier,
    split,
    train_classifier,
)
from gankit.metrics.evaluate import compare_features
from gankit.metrics.extractors import classifier_extractor
from gankit.train import Trainer
from gankit.train.checkpoint import list_checkpoints

HOLDOUT = 0.2


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="dcgan")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--policy", default="color,translation,cutout")
    p.add_argument(
        "--arms",
        choices=("both", "none", "aug"),
        default="both",
        help="run both arms, or only the one without (none) or with (aug) DiffAugment",
    )
    p.add_argument(
        "--eval-every", type=int, default=0, help="steps between curve points (0: steps / 10)"
    )
    p.add_argument("--curve-n", type=int, default=2000, help="samples per curve point")
    p.add_argument("-n", type=int, default=10000, help="samples for the final figures")
    p.add_argument(
        "--workers", type=int, default=1, help="runs trained at once, in separate processes"
    )
    p.add_argument("--out", default="runs/bench-diffaugment")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (give train.threads=1)")
    return p.parse_args()


def load_digits(overrides: list[str]) -> Dataset:
    """All 1,797 digits at the resolution the overrides ask for."""
    cfg = gankit.make_config(
        "dcgan",
        data={"source": "digits"},
        overrides=[o for o in overrides if o.startswith("data.")],
    )
    return load_dataset(cfg.data)


def training_split(data: Dataset) -> Dataset:
    train, _ = split(len(data), HOLDOUT)
    return Dataset(data.x[train], data.y[train], name=f"{data.name}[:{train.stop}]")


def references(data: Dataset, classifier: torch.nn.Module) -> dict[str, Any]:
    """Classifier features and images of the training and held-out digits."""
    train, held = split(len(data), HOLDOUT)
    x = data.all()
    extract = classifier_extractor(classifier)
    return {"train": (x[train], extract(x[train])[0]), "held-out": (x[held], extract(x[held])[0])}


@torch.no_grad()
def score(
    model: gankit.Generator,
    refs: dict[str, Any],
    classifier: torch.nn.Module,
    n: int,
    seed: int,
    metrics: list[str],
) -> dict[str, dict[str, Any]]:
    """Metrics of n samples against each reference, plus D's mean logit
    on each reference's images."""
    feats, logits = classifier_extractor(classifier)(model.sample(n, seed=seed))
    D = model.nets["D"]
    out = {}
    for name, (images, real_feats) in refs.items():
        out[name] = compare_features(real_feats, feats, logits, metrics, seed)
        out[name]["d_logit"] = float(D(images).mean())
    return out


def run_arm(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (seed, policy) run, then score each of its checkpoints and its final model."""
    torch.set_num_threads(1)
    args, seed, policy = job["args"], job["seed"], job["policy"]
    data = load_digits(args.overrides)
    classifier = load_classifier(job["classifier"])
    refs = references(data, classifier)
    every = args.eval_every or max(1, args.steps // 10)
    cfg = gankit.make_config(
        args.preset,
        data={"source": "digits"},
        train={
            "steps": args.steps,
            "minutes": None,
            "seed": seed,
            "threads": 1,
            "checkpoint_every": every,
            "keep_checkpoints": args.steps // every + 1,
        },
        loss={"diffaugment": policy},
        overrides=args.overrides,
    )
    arm = policy.replace(",", "+") or "plain"
    run_dir = Path(args.out) / f"{args.preset}-{arm}-seed{seed}-{time.strftime('%H%M%S')}"
    cpu = time.process_time()
    result = Trainer(
        cfg, run_dir, progress=False, echo=lambda line: None, data=training_split(data)
    ).run()
    train_cpu = (time.process_time() - cpu) / 60
    curve = []
    for path in list_checkpoints(run_dir / "checkpoints"):
        s = score(gankit.load(path), refs, classifier, args.curve_n, seed, ["fid"])
        curve.append(
            {
                "step": int(path.stem.split("_")[1]),
                "fid_train": round(s["train"]["fid"], 3),
                "fid_heldout": round(s["held-out"]["fid"], 3),
                "d_gap": round(s["train"]["d_logit"] - s["held-out"]["d_logit"], 3),
            }
        )
    final = score(gankit.load(run_dir), refs, classifier, args.n, seed, ["fid", "pr", "classes"])
    held = final["held-out"]
    best = min(curve, key=lambda c: c["fid_heldout"])
    row = {
        "preset": args.preset,
        "overrides": args.overrides,
        "diffaugment": policy or "none",
        "seed": seed,
        "steps": result.step,
        "train_cpu_minutes": round(train_cpu, 2),
        "fid_train": round(final["train"]["fid"], 3),
        "fid_heldout": round(held["fid"], 3),
        "precision": round(held["precision"], 3),
        "recall": round(held["recall"], 3),
        "classes_covered": held["classes_covered"],
        "min_class_share": round(held["min_class_share"], 4),
        "best_fid_heldout": best["fid_heldout"],
        "best_step": best["step"],
        "final_d_gap": curve[-1]["d_gap"],
        "max_d_gap": max(c["d_gap"] for c in curve),
        "final_verdict": result.summary["final_verdict"],
        "curve": curve,
        "run_dir": str(run_dir),
    }
    # kept if a later run of the bench fails
    (run_dir / "bench-row.json").write_text(json.dumps(row))
    return row


def print_report(rows: list[dict[str, Any]], policies: list[str]) -> None:
    for r in rows:
        print(
            f"\ncurve: {r['diffaugment']}, seed {r['seed']} (FID from {r['curve_n']} samples; "
            "d_gap = D's mean logit on training minus held-out digits)"
        )
        print(f"{'step':>7} {'FID train':>9} {'FID held':>9} {'d_gap':>7}")
        for c in r["curve"]:
            print(
                f"{c['step']:>7} {c['fid_train']:>9.2f} {c['fid_heldout']:>9.2f} {c['d_gap']:>7.2f}"
            )
    print(
        f"\nfinal model ({rows[0]['n']} samples; "
        "precision/recall/classes against the held-out digits)"
    )
    print(
        f"{'diffaugment':<24} {'seed':>4} {'FID tr':>7} {'FID ho':>7} {'best ho':>7} {'@step':>6} "
        f"{'prec':>5} {'rec':>5} {'cls':>3} {'min %':>5} {'gap':>5} {'cpu m':>5}"
    )
    for r in rows:
        print(
            f"{r['diffaugment']:<24} {r['seed']:>4} {r['fid_train']:>7.2f} "
            f"{r['fid_heldout']:>7.2f} {r['best_fid_heldout']:>7.2f} {r['best_step']:>6} "
            f"{r['precision']:>5.2f} {r['recall']:>5.2f} {r['classes_covered']:>3} "
            f"{100 * r['min_class_share']:>5.1f} {r['final_d_gap']:>5.2f} "
            f"{r['train_cpu_minutes']:>5.1f}"
        )
    print()
    for policy in policies:
        arm = [r for r in rows if r["diffaugment"] == policy]
        med = {
            k: statistics.median(r[k] for r in arm)
            for k in (
                "fid_train",
                "fid_heldout",
                "best_fid_heldout",
                "recall",
                "min_class_share",
                "final_d_gap",
            )
        }
        print(
            f"median of {len(arm)} seeds, {policy}: FID train {med['fid_train']:.2f}, FID held-out "
            f"{med['fid_heldout']:.2f}, best held-out {med['best_fid_heldout']:.2f}, "
            f"recall {med['recall']:.2f}, rarest class {100 * med['min_class_share']:.1f}%, "
            f"D gap {med['final_d_gap']:.2f}"
        )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    data = load_digits(args.overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clf_path = out / f"classifier-{data.sample_shape[-1]}px.safetensors"
    # deterministic (seed 0), so a later bench run in the same folder reuses it
    if not clf_path.exists():
        classifier, report = train_classifier(
            data, epochs=30, holdout=HOLDOUT, seed=0, batch_size=64
        )
        save_classifier(classifier, report, clf_path, data.name)
    train, held = split(len(data), HOLDOUT)
    held_accuracy = accuracy(load_classifier(clf_path), data.all()[held], data.y[held])
    print(
        f"classifier: held-out accuracy {held_accuracy:.4f} ({held.stop - held.start} digits); "
        f"GANs train on the other {train.stop}"
    )
    policies = {"both": ["", args.policy], "none": [""], "aug": [args.policy]}[args.arms]
    jobs = [
        {"args": args, "seed": int(s), "policy": p, "classifier": str(clf_path)}
        for s in args.seeds.split(",")
        for p in policies
    ]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(run_arm, jobs))
    else:
        rows = [run_arm(job) for job in jobs]
    for r in rows:
        r.update(n=args.n, curve_n=args.curve_n)
    print_report(rows, [p or "none" for p in policies])
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
