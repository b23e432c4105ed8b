"""bench/quality_tables.py turns a `gankit bench mnist --json` result into one table per mark."""

import importlib.util
from pathlib import Path

from gankit.experiments.quality import REFERENCE, verdicts

SPEC = importlib.util.spec_from_file_location(
    "bench_quality_tables", Path(__file__).resolve().parents[1] / "bench" / "quality_tables.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def scores(fid: float) -> dict:
    return {
        "fid": fid,
        "precision": 0.5,
        "recall": 0.25,
        "classes_covered": 10,
        "min_class_share": 0.061,
    }


def test_one_table_per_mark_with_the_floor_and_the_verdict():
    rows = [
        {"method": m, "at": at, "steps": 1000 * at, "vgg": scores(f), "strided": scores(2 * f)}
        for at in (5, 10)
        for m, f in (("gankit dcgan", 3.0 / at), (REFERENCE, 4.0 / at))
    ]
    floor = {"method": "real data (test split vs training split)", **scores(0.1)}
    result = {
        "unit": "cpu_minutes",
        "marks": [5, 10],
        "spaces": {"vgg": {"floor": floor}, "strided": {"floor": floor}},
        "rows": rows,
        "verdicts": verdicts(rows, [5, 10]),
    }
    text = bench.tables(result)
    assert text.count("At ") == 2 and "At 10 CPU minutes:" in text
    assert (
        "| gankit dcgan | 5,000 | 0.60 | 0.50 | 0.25 | 1.20 | 0.50 | 0.25 | 10 | 6.1% | **yes** |"
        in text
    )
    assert f"| {REFERENCE} | 10,000 | 0.40 |" in text
    assert text.count("real data (test split vs training split)") == 2
