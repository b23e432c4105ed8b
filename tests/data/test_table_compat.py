"""A table model written before the unit-safe datetime conversion (gankit at ed7da48 under pandas
2.0, where it was right: `tests/fixtures/table_run_pandas2`, its `source` path blanked) loads and
samples the same rows, value for value, on the pandas installed now."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from gankit.cli import main

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

FIXTURE = Path(__file__).parent.parent / "fixtures" / "table_run_pandas2"


def test_a_pandas_2_table_run_samples_the_rows_it_sampled_then(tmp_path, capsys):
    run = shutil.copytree(FIXTURE / "run", tmp_path / "run")
    out = tmp_path / "sample.csv"
    assert main(["tabular", "sample", str(run), "-n", "30", "--seed", "5", "-o", str(out)]) == 0
    assert out.read_text() == (FIXTURE / "sample.csv").read_text()
    rows = pd.read_csv(out)
    assert rows["opened"].str.startswith("2020-").all()  # the dates of the training rows, not 1970
    assert rows["seen"].str.startswith("2021-").all() and rows["seen"].str.endswith("+00:00").all()
