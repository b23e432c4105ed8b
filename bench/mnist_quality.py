"""Does a preset give clean digits of every class in a wall-clock budget, across seeds?

Trains the project's digit classifier once (first 8,000 MNIST test images train it, the last 2,000
are held out), then for each seed trains PRESET on all 10,000 images for --minutes, samples 10,000
images from the final (EMA) weights and counts their classes; also FID in the classifier's
feature space against the 10,000 real images, and the health summary of the run.

    python bench/mnist_quality.py --preset dcgan --minutes 5 --seeds 0,1,2

Ends with one JSON line per seed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gankit
from gankit.data import load_dataset
from gankit.metrics.classifier import load_classifier, save_classifier, train_classifier
from gankit.metrics.evaluate import evaluate_samples

ROOT = Path(__file__).resolve().parents[1]


def classifier(data, path: Path):
    if path.exists():
        return load_classifier(path)
    model, report = train_classifier(data, epochs=8, holdout=0.2, seed=0)
    print(
        f"classifier: held-out accuracy {report.holdout_accuracy:.4f} "
        f"({report.holdout_size} images)"
    )
    save_classifier(model, report, path, data.name)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="dcgan")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    p.add_argument("--out", default="runs/bench-mnist-quality")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    out = Path(args.out)
    cfg0 = gankit.make_config(args.preset, data={"source": "mnist", "dir": args.data_dir})
    data = load_dataset(cfg0.data)
    clf = classifier(data, out / "classifier.safetensors")
    real = data.all()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        cfg = gankit.make_config(
            args.preset,
            data={"source": "mnist", "dir": args.data_dir},
            train={"minutes": args.minutes, "steps": None, "seed": seed},
            overrides=args.overrides,
        )
        run_dir = out / f"{args.preset}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = gankit.train(cfg, out=run_dir, progress=False)
        fake = gankit.load(run_dir).sample(args.n, seed=seed)
        m = evaluate_samples(clf, real, fake, ["fid", "pr", "classes"])
        counts = m["class_counts"]
        rows.append(
            {
                "preset": args.preset,
                "seed": seed,
                "minutes": args.minutes,
                "steps": result.step,
                "fid": round(m["fid"], 3),
                "precision": round(m["precision"], 3),
                "recall": round(m["recall"], 3),
                "classes_covered": m["classes_covered"],
                "min_class_share": round(min(counts) / sum(counts), 4),
                "class_counts": counts,
                "healthy": result.summary["healthy"],
                "final_verdict": result.summary["final_verdict"],
                "grid": str(sorted((run_dir / "samples").glob("*.png"))[-1]),
            }
        )
    print(
        f"{'seed':>4} {'steps':>6} {'FID':>7} {'prec':>5} {'rec':>5} {'classes':>7} {'min %':>6}"
        "  health"
    )
    for r in rows:
        print(
            f"{r['seed']:>4} {r['steps']:>6} {r['fid']:>7.2f} {r['precision']:>5.2f} "
            f"{r['recall']:>5.2f} {r['classes_covered']:>7} {100 * r['min_class_share']:>6.2f}  "
            f"{r['final_verdict']}"
        )
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
