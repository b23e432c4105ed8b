"""`gankit.tabular.fit` from Python: wrong arguments and unusable tables raise a typed error and
write nothing; a resumed fit refuses changed settings as the CLI does."""

import datetime
import re
import uuid

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_TABLE

import gankit.tabular as tabular
from gankit.errors import ConfigError, DataError, GankitError

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

TINY = [*TINY_TABLE, "train.device=cpu"]


def make_table(n=40):
    r = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": r.lognormal(3, 1, n).round(2),
            "grade": r.choice(["A", "B"], n),
            "age": r.integers(18, 80, n),
        }
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": float("nan")}, ConfigError, "--epochs must be a positive number, got nan"),
        ({"epochs": float("inf")}, ConfigError, "--epochs must be a positive number, got inf"),
        ({"epochs": 0}, ConfigError, "--epochs must be a positive number, got 0"),
        ({"minutes": float("nan")}, ConfigError, "--minutes must be a positive number, got nan"),
        ({"epochs": "1"}, ConfigError, "--epochs must be a number, got '1'"),
        ({"epochs": 1, "minutes": 1}, ConfigError, "give --epochs or --minutes, not both"),
        (
            {"kinds": ["age"]},
            ConfigError,
            "kinds must be a dict of column name to kind (e.g. {'age': 'integer'}), got ['age']",
        ),
        (
            {"discrete": "age"},
            ConfigError,
            "discrete must be a list of column names (e.g. ['zip']), got 'age'",
        ),
        ({"seed": 1.5}, ConfigError, "--seed must be an integer, got 1.5"),
        ({"model": "gan"}, ConfigError, "unknown model 'gan' (choose from: ctgan, tvae)"),
        (
            {"model": "tvae", "overrides": ["vae.beta=-1"]},
            ConfigError,
            "vae.beta and vae.kl_warmup cannot be negative",
        ),
    ],
)
def test_bad_arguments_raise_typed_errors_and_write_nothing(tmp_path, kwargs, error, message):
    with pytest.raises(error) as e:
        tabular.fit(make_table(), tmp_path / "run", **{"overrides": TINY, **kwargs})
    assert str(e.value) == message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("data", [None, [1, 2], {"a": [1] * 12}, np.zeros((12, 2))])
def test_data_that_is_not_a_table_is_refused(tmp_path, data):
    with pytest.raises(
        DataError,
        match=f"^data must be a pandas DataFrame or the path of a CSV file, not "
        f"{type(data).__name__}$",
    ):
        tabular.fit(data, tmp_path / "run", epochs=1)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "values, message",
    [
        (
            [[i] for i in range(40)],
            "column 'x' holds Python objects of type list: a table takes numbers, text, booleans "
            "and dates (convert them, or drop the column)",
        ),
        (
            [{"k": i % 3} for i in range(40)],
            "column 'x' holds Python objects of type dict: a table takes numbers, text, "
            "booleans and dates (convert them, or drop the column)",
        ),
        (
            [object()] * 40,
            "column 'x' holds Python objects of type object: a table takes numbers, text, "
            "booleans and dates (convert them, or drop the column)",
        ),
        (
            [complex(i % 2, 1) for i in range(40)],
            "column 'x' holds complex numbers: a table takes numbers, text, "
            "booleans and dates (split it into real and imaginary columns)",
        ),
    ],
)
@pytest.mark.parametrize("discrete", [None, ["x"]])
def test_python_objects_in_cells_are_a_data_error(tmp_path, values, message, discrete):
    table = make_table().assign(x=values)
    with pytest.raises(DataError) as e:
        tabular.fit(table, tmp_path / "run", epochs=1, discrete=discrete, overrides=TINY)
    assert str(e.value) == message
    assert not (tmp_path / "run").exists()


def test_categories_json_cannot_hold_are_refused_before_any_file(tmp_path):
    table = make_table().assign(day=[datetime.date(2021, 1, 1 + i % 3) for i in range(40)])
    with pytest.raises(
        DataError,
        match="^column 'day' holds date values, which table.json cannot store as "
        "categories: convert them to text or numbers$",
    ):
        tabular.fit(table, tmp_path / "run", epochs=1, discrete=["day"], overrides=TINY)
    assert not (tmp_path / "run").exists()


def test_a_fit_failing_before_its_first_checkpoint_removes_what_it_wrote(tmp_path, monkeypatch):
    def fail(self):
        (self.run_dir / "config.yaml").write_text("written by the run\n")
        raise GankitError("stopped")

    monkeypatch.setattr(tabular.Trainer, "run", fail)
    with pytest.raises(GankitError, match="stopped"):
        tabular.fit(make_table(), tmp_path / "new", epochs=1, overrides=TINY)
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("the user's")
    with pytest.raises(GankitError, match="stopped"):
        tabular.fit(make_table(), kept, epochs=1, overrides=TINY)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]


def test_a_fit_diverging_before_its_first_checkpoint_keeps_nothing_and_the_retry_works(
    tmp_path, capsys
):
    """It returned "diverged" with no checkpoint: TabularModel then failed ("no checkpoint found",
    exit 2) and table.json + config.yaml blocked the retry."""
    from gankit.cli import main

    table = make_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    argv = [
        "tabular",
        "fit",
        str(tmp_path / "t.csv"),
        "--model",
        "tvae",
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "3",
        "--no-progress",
        *TINY,
    ]
    # the exit code of a diverged run
    assert main([*argv, "optim.lr_g=1e35", "optim.lr_d=1e35"]) == 1
    assert "the fit diverged (NaN/Inf) at step" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main(argv) == 0


def test_numpy_scalars_and_uuids_in_object_columns_are_values(tmp_path):
    table = make_table().assign(
        ok=pd.Series([np.bool_(i % 3 == 0) if i % 5 else None for i in range(40)], dtype=object),
        ref=[uuid.UUID(int=i) for i in range(40)],
    )
    model = tabular.fit(table, tmp_path / "run", epochs=1, overrides=TINY)
    assert model.metadata["ref"] == "id" and model.metadata["ok"] in ("boolean", "categorical")


def test_resume_through_the_api_refuses_changes_and_keeps_the_run_settings(tmp_path):
    table, run = make_table(), tmp_path / "run"
    tabular.fit(table, run, model="tvae", target="grade", seed=5, epochs=1, overrides=TINY)
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    for kwargs, change in [
        ({"seed": 6}, "--seed (fitted with 5, given 6)"),
        ({"model": "ctgan"}, "--model (fitted as tvae, given ctgan)"),
        ({"target": "age"}, "--target (fitted with grade, given age)"),
        (
            {"kinds": {"age": "continuous"}},
            "the kind of column 'age' (fitted as integer, given continuous)",
        ),
        ({"overrides": ["vae.beta=2"]}, "vae.beta (fitted with 1.0, given 2.0)"),
    ]:
        with pytest.raises(ConfigError) as e:
            tabular.fit(table, run, resume=True, epochs=2, **kwargs)
        assert (
            str(e.value) == f"cannot change {change} when resuming {run}: "
            "leave them out, or fit into another --out"
        )
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files
    # left out, the model and seed are the run's; repeated, they are no change
    assert tabular.fit(table, run, resume=True, epochs=1.5, overrides=TINY).config.recipe == "tvae"
    resumed = tabular.fit(
        table, run, resume=True, epochs=2, model="tvae", target="grade", seed=5, overrides=TINY
    )
    assert resumed.step == 4 and resumed.config.recipe == "tvae" and resumed.config.train.seed == 5


def test_sample_arguments_are_checked_as_the_image_models_are(tmp_path):
    """`TabularModel.sample(2.5)` raised a TypeError deep in torch; it shares
    `Generator.sample`'s checks."""
    model = tabular.fit(make_table(), tmp_path / "run", epochs=1, overrides=TINY)
    assert len(model.sample(np.int64(5), seed=np.int32(2))) == 5
    for kwargs, message in [
        ({"n": 2.5}, "n must be an integer, got 2.5"),
        ({"n": 0}, "n must be in 1..9223372036854775807, got 0"),
        ({"n": 3, "seed": None}, "seed must be an integer, got None"),
        ({"n": 3, "batch_size": 0}, "batch_size must be at least 1, got 0"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            model.sample(**kwargs)
