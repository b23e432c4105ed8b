"""The overfitting signals of finished GAN runs, as a markdown table: r_t and D's held-out gap
after the warm-up (median and range), the first step each verdict fired, ADA's last p, and the
first step the `D overfitting` rule would fire at other thresholds (how docs/results/overfitting.md
chose them).

    python bench/overfit_signals.py RUN [RUN ...] [--gaps 0.25,0.5] [--rts 0.95,0.99]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from gankit.train.health import D_OVERFITTING, HealthMonitor, Thresholds


def records(run: Path) -> list[dict]:
    """The log-step records of a run (evaluations left out)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "eval" not in r]


def first_firing(rows: list[dict], **thresholds: float) -> int | None:
    """The first step the health monitor, with these thresholds, says `D overfitting`."""
    monitor = HealthMonitor(Thresholds(**thresholds))
    for r in rows:
        figures = {k: v for k, v in r.items() if isinstance(v, float)}
        if monitor.observe(figures, r["step"])[0] == D_OVERFITTING:
            return r["step"]
    return None


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def first_step(rows: list[dict], verdict: str) -> str:
    """The first step the run logged `verdict` at (as it ran, with its own thresholds)."""
    return str(next((r["step"] for r in rows if r.get("verdict") == verdict), "-"))


def table(runs: list[Path], gaps: list[float], rts: list[float], after: int = 500) -> list[str]:
    """The markdown table's lines, one row a run."""
    header = ["run", "steps", "r_t", "held-out gap", "D overfitting at", "D winning at", "last p"]
    header += [f"gap >= {g}" for g in gaps] + [f"r_t >= {r} (no gap)" for r in rts]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for run in runs:
        rows = records(run)
        late = [r for r in rows if r["step"] > after]
        without_gap = [{k: v for k, v in r.items() if k != "heldout_gap"} for r in rows]
        cells = [
            run.name,
            str(rows[-1]["step"]),
            spread([r["rt"] for r in late if "rt" in r]),
            spread([r["heldout_gap"] for r in late if "heldout_gap" in r]),
            first_step(rows, D_OVERFITTING),
            first_step(rows, "D winning"),
            f"{rows[-1]['ada_p']:.3f}" if "ada_p" in rows[-1] else "-",
        ]
        cells += [str(first_firing(rows, overfit_gap=g) or "-") for g in gaps]
        cells += [str(first_firing(without_gap, overfit_rt=r) or "-") for r in rts]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--gaps", default="0.25,0.5,1.0", help="held-out gap thresholds to try")
    parser.add_argument("--rts", default="0.9,0.95,0.99", help="r_t thresholds to try")
    parser.add_argument("--after", type=int, default=500, help="steps of warm-up left out")
    args = parser.parse_args(argv)
    gaps = [float(g) for g in args.gaps.split(",")]
    rts = [float(r) for r in args.rts.split(",")]
    print("\n".join(table(args.runs, gaps, rts, args.after)))


if __name__ == "__main__":
    main()
