"""bench/overfit_signals.py: the table of docs/results/overfitting.md from recorded runs."""

import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location(
    "bench_overfit_signals", ROOT / "bench" / "overfit_signals.py"
)
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench
SPEC.loader.exec_module(bench)


def test_the_table_reads_each_run_and_tries_each_threshold(tmp_path):
    runs = []
    for name in ("mnist100", "mnistfull"):
        (tmp_path / name).mkdir()
        recorded = ROOT / "tests" / "fixtures" / "overfitting" / f"{name}.jsonl"
        shutil.copy(recorded, tmp_path / name / "metrics.jsonl")
        runs.append(tmp_path / name)
    header, rule, few, full = bench.table(runs, gaps=[0.25, 0.5], rts=[0.95])
    assert header.split(" | ")[-3:] == ["gap >= 0.25", "gap >= 0.5", "r_t >= 0.95 (no gap) |"]
    assert rule.count("---") == 10
    # run, steps, r_t, gap, D overfitting at, D winning at, last p, then the thresholds
    few_cells = [c.strip() for c in few.strip("| ").split("|")]
    full_cells = [c.strip() for c in full.strip("| ").split("|")]
    assert few_cells[:2] == ["mnist100", "3000"] and few_cells[2].startswith("1.00 (")
    assert few_cells[7:] == ["600", "700", "800"]
    # full data: a stretch of gaps from 0.25 to 0.33 trips the lower threshold only
    assert full_cells[7:] == ["1800", "-", "-"] and full_cells[4] == "-"
