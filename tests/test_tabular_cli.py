"""`gankit tabular fit|sample|eval` end to end, and every bad input the issue lists: one line,
exit code 2, nothing written."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_TABLE

from gankit import tabular
from gankit.cli import main
from gankit.data.table import read_table
from gankit.metrics.tabular import evaluate_tables

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

TINY = TINY_TABLE


def refused_fit(tmp_path, capsys, content: str) -> str:
    """`gankit tabular fit` of a CSV holding `content`: it must exit with 2 and write no run; the
    stripped stderr, for the caller's checks of the message."""
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "run"
    assert (
        main(["tabular", "fit", str(path), "--out", str(out), "--epochs", "1", "--no-progress"])
        == 2
    )
    assert not out.exists()
    return capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tab")
    r = np.random.default_rng(0)
    n = 120
    table = pd.DataFrame(
        {
            "loan_id": [f"L{i:04d}" for i in range(n)],
            "amount": r.lognormal(5, 1, n).round(2),
            "grade": r.choice(["A", "B", "C"], n),
            "opened": pd.date_range("2020-01-01", periods=n).astype(str),
            "is_fraud": (r.random(n) < 0.1).astype(int),
        }
    )
    table.loc[::7, "amount"] = np.nan
    table.iloc[:100].to_csv(folder / "train.csv", index=False)
    table.iloc[100:].to_csv(folder / "holdout.csv", index=False)
    code = main(
        [
            "tabular",
            "fit",
            str(folder / "train.csv"),
            "--target",
            "is_fraud",
            "--epochs",
            "2",
            "--out",
            str(folder / "run"),
            "--seed",
            "1",
            "--no-progress",
            *TINY,
        ]
    )
    assert code == 0
    return folder


def test_sample_writes_rows_and_where_holds_for_every_row(fitted, capsys):
    out = fitted / "synth.csv"
    assert (
        main(
            [
                "tabular",
                "sample",
                str(fitted / "run"),
                "-n",
                "40",
                "-o",
                str(out),
                "--where",
                "is_fraud=1",
            ]
        )
        == 0
    )
    rows = pd.read_csv(out)
    assert len(rows) == 40 and (rows["is_fraud"] == 1).all()
    assert list(rows.columns) == ["loan_id", "amount", "grade", "opened", "is_fraud"]
    assert rows["loan_id"].is_unique and not set(rows["loan_id"]) & set(
        pd.read_csv(fitted / "train.csv")["loan_id"]
    )


def test_eval_reports_the_metrics(fitted, capsys):
    report = fitted / "eval.json"
    assert (
        main(
            [
                "tabular",
                "eval",
                str(fitted / "run"),
                "--real",
                str(fitted / "holdout.csv"),
                "--json",
                str(report),
            ]
        )
        == 0
    )
    results = json.loads(report.read_text())
    assert 0 <= results["column_shapes"]["ks_complement"] <= 1
    assert "ml_efficacy" in results and "privacy" in results and "detection" in results


def test_eval_takes_a_negative_seed(fitted, capsys):
    """scikit-learn's random_state takes 0 .. 2**32 - 1: it crashed on
    --seed -1 (gets seed mod 2**32)."""
    assert (
        main(
            [
                "tabular",
                "eval",
                str(fitted / "run"),
                "--real",
                str(fitted / "holdout.csv"),
                "--seed",
                "-1",
            ]
        )
        == 0
    )
    assert "ks_complement" in capsys.readouterr().out


def test_resume_continues_the_run(fitted, capsys):
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--out",
                str(fitted / "run"),
                "--resume",
                "--epochs",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "completed: 20 steps" in out
    # ctgan logs every 50 steps: the last line says why there is no
    # verdict, as `gankit train`'s does
    assert (
        "health: too short to judge (no log step: train.log_every is more than the steps run)"
        in out
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("a,b\n1,x\n", "has 1 row"),
        ("a,b\n" + "".join(f"{i},\n" for i in range(12)), "only missing values"),
        (
            "a,b\n" + "".join(f"{i},{i if i % 3 else 'x'}\n" for i in range(12)),
            "mixes numbers and text",
        ),
    ],
)
def test_bad_tables_fail_cleanly(tmp_path, capsys, content, message):
    err = refused_fit(tmp_path, capsys, content)
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "where, message",
    [
        ("nope=1", "unknown column 'nope'"),
        ("grade=Z", "'Z' never occurs in column 'grade'"),
        ("amount=3", "not categorical"),
        ("grade", "not of the form COLUMN=VALUE"),
    ],
)
def test_bad_conditions_fail_cleanly(fitted, tmp_path, capsys, where, message):
    out = tmp_path / "synth.csv"
    assert (
        main(
            ["tabular", "sample", str(fitted / "run"), "-n", "5", "-o", str(out), "--where", where]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_column_given_two_values_is_refused(fitted, tmp_path, capsys):
    out = tmp_path / "synth.csv"
    assert (
        main(
            [
                "tabular",
                "sample",
                str(fitted / "run"),
                "-n",
                "5",
                "-o",
                str(out),
                "--where",
                "grade=A",
                "--where",
                "grade=B",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        "gankit: error: --where gives column 'grade' two values (A, B): a row has one"
    )
    assert not out.exists()


def test_other_mistakes(fitted, tmp_path, capsys):
    run = str(fitted / "run")
    assert main(["tabular", "sample", run, "-n", "0", "-o", str(tmp_path / "s.csv")]) == 2
    assert main(["tabular", "sample", str(tmp_path), "-n", "5", "-o", str(tmp_path / "s.csv")]) == 2
    assert main(["tabular", "fit", str(fitted / "train.csv"), "--out", run, "--epochs", "1"]) == 2
    assert (
        main(["tabular", "fit", str(fitted / "train.csv"), "--epochs", "1", "--minutes", "1"]) == 2
    )
    # an image command on a table run
    assert main(["sample", run, "-o", str(tmp_path / "g.png")]) == 2
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--model",
                "gan",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "table model" in err and "unknown model 'gan'" in err and "already holds" in err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "r").exists()


def _files(folder):
    """Every file under a folder with its bytes: what a refused command must leave as it was."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(fitted, tmp_path):
    """A copy of the fitted run (target is_fraud, seed 1, ctgan) that a test may resume."""
    run = tmp_path / "run"
    shutil.copytree(fitted / "run", run)
    return run


@pytest.mark.parametrize(
    "args, change",
    [
        (["--model", "tvae"], "--model (fitted as ctgan, given tvae)"),
        (["--target", "grade"], "--target (fitted with is_fraud, given grade)"),
        (["--seed", "3"], "--seed (fitted with 1, given 3)"),
        # the default, given: a change all the same
        (["--seed", "0"], "--seed (fitted with 1, given 0)"),
        (
            ["--discrete", "amount"],
            "the kind of column 'amount' (fitted as continuous, given categorical)",
        ),
        (["optim.lr_g=1e-3"], "optim.lr_g (fitted with 0.0002, given 0.001)"),
        (
            ["--model", "tvae", "--target", "grade", "--seed", "3", "model.z_dim=4"],
            "--model (fitted as ctgan, given tvae), --target (fitted with is_fraud, given grade), "
            "--seed (fitted with 1, given 3), model.z_dim (fitted with 8, given 4)",
        ),
    ],
)
def test_resume_refuses_changed_settings(fitted, run_copy, capsys, args, change):
    before = _files(run_copy)
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--out",
                str(run_copy),
                "--resume",
                "--epochs",
                "3",
                "--no-progress",
                *args,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err == f"gankit: error: cannot change {change} when resuming {run_copy}: "
        "leave them out, or fit into another --out"
    )
    assert _files(run_copy) == before


def test_resume_takes_the_run_settings_and_a_new_length(fitted, run_copy, capsys):
    """Repeating the fit's settings is no change; the length, threads and progress may change."""
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--out",
                str(run_copy),
                "--resume",
                "--epochs",
                "5",
                "--target",
                "is_fraud",
                "--seed",
                "1",
                "--discrete",
                "grade",
                "--no-progress",
                *TINY,
                "train.log_every=7",
            ]
        )
        == 0
    )
    assert "completed: 25 steps" in capsys.readouterr().out


def _rows(values, column="b"):
    return f"a,{column}\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))


@pytest.mark.parametrize(
    "content, message",
    [
        (
            _rows([i * 1.5 if i != 2 else "inf" for i in range(12)]),
            "column 'b' holds an infinite value (inf in data row 3): replace it with a number, "
            "or leave the cell empty to mark it missing",
        ),
        (
            _rows(["inf"] * 12),
            "column 'b' holds an infinite value (inf in data row 1): replace it with a number, or "
            "leave the cell empty to mark it missing",
        ),
        (
            _rows([i % 3 if i != 5 else "-inf" for i in range(12)]),
            "column 'b' holds an infinite value (-inf in data row 6): replace it with a number, "
            "or leave the cell empty to mark it missing",
        ),
        (
            _rows([f"2021-13-{10 + i}" for i in range(12)], "when"),
            "column 'when' is datetime but holds '2021-13-10', which is not a date pandas can "
            "read: fix it, or declare the column categorical (--discrete when)",
        ),
        (
            _rows([f"2021-02-{10 + i}" if i != 4 else "2021-02-30" for i in range(12)], "when"),
            "column 'when' is datetime but holds '2021-02-30', which is not a date pandas can "
            "read: fix it, or declare the column categorical (--discrete when)",
        ),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_column(tmp_path, capsys, content, message):
    assert refused_fit(tmp_path, capsys, content) == f"gankit: error: {message}"


def test_any_seed_fits_and_samples(fitted, tmp_path, capsys):
    """Negative seeds (scikit-learn's mixtures take 0 .. 2**32 - 1) fit and sample."""
    run = tmp_path / "neg"
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--seed",
                "-1",
                "--no-progress",
                *TINY,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "tabular",
                "sample",
                str(run),
                "-n",
                "5",
                "-o",
                str(tmp_path / "s.csv"),
                "--seed",
                "-7",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "s.csv")) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "gankit: error: --epochs must be a positive number, got 0.0"),
        (["--minutes", "-1"], "gankit: error: --minutes must be a positive number, got -1.0"),
        # refused by the CLI's number type or by fit: one line either way
        (["--epochs", "nan"], None),
        (
            ["--model", "tvae", "vae.beta=-1"],
            "gankit: error: vae.beta and vae.kl_warmup cannot be negative",
        ),
        (
            ["--model", "tvae", "vae.kl_warmup=-1"],
            "gankit: error: vae.beta and vae.kl_warmup cannot be negative",
        ),
    ],
)
def test_bad_options_write_nothing(fitted, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert (
        main(
            ["tabular", "fit", str(fitted / "train.csv"), "--out", str(out), "--no-progress", *args]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and (err == message if message else "--epochs" in err)
    assert not out.exists()


@pytest.mark.parametrize(
    "content, detail",
    [
        ("{}", "does not hold a usable table model: no 'transformer' entry"),
        ("[1, 2]", "does not hold a usable table model: not a JSON object"),
        (
            '{"transformer": {"columns": 3}}',
            "does not hold a usable table model: 'int' object is not iterable",
        ),
    ],
)
def test_an_unusable_table_json_is_one_line(fitted, run_copy, tmp_path, capsys, content, detail):
    (run_copy / "table.json").write_text(content)
    out = tmp_path / "s.csv"
    assert main(["tabular", "sample", str(run_copy), "-n", "10", "-o", str(out)]) == 2
    assert main(["tabular", "eval", str(run_copy), "--real", str(fitted / "holdout.csv")]) == 2
    assert (
        main(
            [
                "tabular",
                "fit",
                str(fitted / "train.csv"),
                "--out",
                str(run_copy),
                "--resume",
                "--epochs",
                "3",
            ]
        )
        == 2
    )
    expected = f"gankit: error: {run_copy / 'table.json'} {detail}"
    assert capsys.readouterr().err.strip().splitlines() == [expected] * 3
    assert not out.exists()


def test_real_tables_are_cleaned_and_left_as_they_were(fitted):
    model = tabular.load(fitted / "run")
    assert model.metadata["loan_id"] == "id" and model.metadata["opened"] == "datetime"
    train, holdout = read_table(fitted / "train.csv"), read_table(fitted / "holdout.csv")
    before = train.copy()
    synthetic = model.sample(30, seed=0)
    inputs = tabular.scoring_inputs(model, train, synthetic, holdout)
    for name in ("train", "synthetic", "holdout"):
        assert list(inputs[name].columns) == ["amount", "grade", "opened", "is_fraud"], name
        assert pd.api.types.is_datetime64_any_dtype(inputs[name]["opened"]), name
    assert inputs["train"]["opened"].iloc[3] == pd.Timestamp("2020-01-04")
    assert inputs["holdout"]["opened"].iloc[0] == pd.Timestamp("2020-04-10")
    assert len(inputs["synthetic"]) == 30 and inputs["target"] == "is_fraud"
    assert inputs["discrete"] == ["grade", "is_fraud"]  # the kinds the model inferred
    pd.testing.assert_frame_equal(train, before)  # the caller's table keeps its IDs and text


def test_the_command_scores_these_inputs(fitted, capsys):
    model = tabular.load(fitted / "run")
    train, holdout = read_table(fitted / "train.csv"), read_table(fitted / "holdout.csv")
    inputs = tabular.scoring_inputs(model, train, model.sample(60, seed=3), holdout)
    expected = evaluate_tables(**inputs, seed=3)
    capsys.readouterr()
    argv = ["tabular", "eval", str(fitted / "run"), "--real", str(fitted / "holdout.csv")]
    assert main([*argv, "-n", "60", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(expected, default=str))
    assert printed["rows"] == {"train": 100, "synthetic": 60, "holdout": 20}
