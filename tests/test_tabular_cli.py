"""`gankit tabular fit|sample|eval` end to end, and every bad input the issue lists: one line,
exit code 2, nothing written."""
import json

import numpy as np
import pandas as pd
import pytest

from gankit.cli import main

TINY = ["model.hidden=[16]", "model.d_hidden=[16]", "model.z_dim=8", "optim.batch_size=20", "model.pack=2",
        "train.threads=1"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tab")
    r = np.random.default_rng(0)
    n = 120
    table = pd.DataFrame({"loan_id": [f"L{i:04d}" for i in range(n)], "amount": r.lognormal(5, 1, n).round(2),
                          "grade": r.choice(["A", "B", "C"], n), "opened": pd.date_range("2020-01-01", periods=n).astype(str),
                          "is_fraud": (r.random(n) < 0.1).astype(int)})
    table.loc[::7, "amount"] = np.nan
    table.iloc[:100].to_csv(folder / "train.csv", index=False)
    table.iloc[100:].to_csv(folder / "holdout.csv", index=False)
    code = main(["tabular", "fit", str(folder / "train.csv"), "--target", "is_fraud", "--epochs", "2",
                 "--out", str(folder / "run"), "--seed", "1", "--no-progress", *TINY])
    assert code == 0
    return folder


def test_sample_writes_rows_and_where_holds_for_every_row(fitted, capsys):
    out = fitted / "synth.csv"
    assert main(["tabular", "sample", str(fitted / "run"), "-n", "40", "-o", str(out), "--where", "is_fraud=1"]) == 0
    rows = pd.read_csv(out)
    assert len(rows) == 40 and (rows["is_fraud"] == 1).all()
    assert list(rows.columns) == ["loan_id", "amount", "grade", "opened", "is_fraud"]
    assert rows["loan_id"].is_unique and not set(rows["loan_id"]) & set(pd.read_csv(fitted / "train.csv")["loan_id"])


def test_eval_reports_the_metrics(fitted, capsys):
    report = fitted / "eval.json"
    assert main(["tabular", "eval", str(fitted / "run"), "--real", str(fitted / "holdout.csv"), "--json", str(report)]) == 0
    results = json.loads(report.read_text())
    assert 0 <= results["column_shapes"]["ks_complement"] <= 1
    assert "ml_efficacy" in results and "privacy" in results and "detection" in results


def test_resume_continues_the_run(fitted, capsys):
    assert main(["tabular", "fit", str(fitted / "train.csv"), "--out", str(fitted / "run"), "--resume",
                 "--epochs", "4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "completed: 20 steps" in out
    # ctgan logs every 50 steps: the last line says why there is no verdict, as `gankit train`'s does
    assert "health: too short to judge (no log step: train.log_every is more than the steps run)" in out


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("a,b\n1,x\n", "has 1 row"),
    ("a,b\n" + "".join(f"{i},\n" for i in range(12)), "only missing values"),
    ("a,b\n" + "".join(f"{i},{i if i % 3 else 'x'}\n" for i in range(12)), "mixes numbers and text"),
])
def test_bad_tables_fail_cleanly(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["tabular", "fit", str(path), "--out", str(tmp_path / "run"), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where, message", [
    ("nope=1", "unknown column 'nope'"),
    ("grade=Z", "'Z' never occurs in column 'grade'"),
    ("amount=3", "not categorical"),
    ("grade", "not of the form COLUMN=VALUE"),
])
def test_bad_conditions_fail_cleanly(fitted, tmp_path, capsys, where, message):
    out = tmp_path / "synth.csv"
    assert main(["tabular", "sample", str(fitted / "run"), "-n", "5", "-o", str(out), "--where", where]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_other_mistakes(fitted, tmp_path, capsys):
    run = str(fitted / "run")
    assert main(["tabular", "sample", run, "-n", "0", "-o", str(tmp_path / "s.csv")]) == 2
    assert main(["tabular", "sample", str(tmp_path), "-n", "5", "-o", str(tmp_path / "s.csv")]) == 2
    assert main(["tabular", "fit", str(fitted / "train.csv"), "--out", run, "--epochs", "1"]) == 2
    assert main(["tabular", "fit", str(fitted / "train.csv"), "--epochs", "1", "--minutes", "1"]) == 2
    assert main(["sample", run, "-o", str(tmp_path / "g.png")]) == 2   # an image command on a table run
    assert main(["tabular", "fit", str(fitted / "train.csv"), "--model", "gan", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "table model" in err and "unknown model 'gan'" in err and "already holds" in err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "r").exists()
