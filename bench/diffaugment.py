"""Does DiffAugment help on a small data set? The embedded digits (1,797 images), with and without.

Trains the same preset with the same seeds twice, once with `loss.diffaugment=POLICY` (Zhao et al.
2020: the same differentiable augmentation of real and generated images in D's and G's steps),
then scores both against all 1,797 digits in the features of a digit classifier trained on the
digits (first 80% train it, the last 20% are held out): FID, precision, recall, classes covered
and the rarest class's share of 10,000 samples.

    python bench/diffaugment.py --preset dcgan --steps 6000 --seeds 0,1,2

Ends with one JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gankit
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.metrics.classifier import train_classifier
from gankit.metrics.evaluate import evaluate_samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="dcgan")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--policy", default="color,translation,cutout")
    p.add_argument("--out", default="runs/bench-diffaugment")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    data = load_dataset(DataConfig(source="digits"))
    clf, report = train_classifier(data, epochs=30, holdout=0.2, seed=0, batch_size=64)
    print(f"classifier: held-out accuracy {report.holdout_accuracy:.4f} ({report.holdout_size} digits)")
    real = data.all()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for policy in ("", args.policy):
            cfg = gankit.make_config(args.preset, data={"source": "digits"},
                                     train={"steps": args.steps, "minutes": None, "seed": seed},
                                     loss={"diffaugment": policy}, overrides=args.overrides)
            run_dir = Path(args.out) / f"{args.preset}-{policy.replace(',', '+') or 'plain'}-seed{seed}-{time.strftime('%H%M%S')}"
            start = time.perf_counter()
            result = gankit.train(cfg, out=run_dir, progress=False)
            minutes = (time.perf_counter() - start) / 60
            m = evaluate_samples(clf, real, gankit.load(run_dir).sample(args.n, seed=seed), ["fid", "pr", "classes"])
            counts = m["class_counts"]
            rows.append({"preset": args.preset, "diffaugment": policy or "none", "seed": seed, "steps": result.step,
                         "minutes": round(minutes, 2), "fid": round(m["fid"], 3),
                         "precision": round(m["precision"], 3), "recall": round(m["recall"], 3),
                         "classes_covered": m["classes_covered"], "min_class_share": round(min(counts) / sum(counts), 4),
                         "final_verdict": result.summary["final_verdict"]})
    print(f"{'diffaugment':<26} {'seed':>4} {'FID':>7} {'prec':>5} {'rec':>5} {'classes':>7} {'min %':>6} {'min':>5}")
    for r in rows:
        print(f"{r['diffaugment']:<26} {r['seed']:>4} {r['fid']:>7.2f} {r['precision']:>5.2f} {r['recall']:>5.2f} "
              f"{r['classes_covered']:>7} {100 * r['min_class_share']:>6.2f} {r['minutes']:>5.1f}")
    for policy in ("none", args.policy):
        fids = [r["fid"] for r in rows if r["diffaugment"] == policy]
        print(f"median FID, {policy}: {statistics.median(fids):.2f}")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
