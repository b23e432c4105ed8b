"""The table transformer: kinds, IDs, missing values, reversibility, bad input."""

import numpy as np
import pandas as pd
import pytest

from gankit.data.table import TableTransformer, infer_kinds, read_table
from gankit.errors import DataError

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too


def make_table(n=120, seed=0):
    r = np.random.default_rng(seed)
    amount = np.concatenate([r.normal(10, 1, n // 2), r.normal(100, 5, n - n // 2)])  # two modes
    amount[r.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "amount": amount,
            "grade": r.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1]),
            "fraud": r.random(n) < 0.1,
            "opened": pd.date_range("2021-01-01", periods=n, freq="D"),
            "visits": r.integers(0, 5, n),
            "balance": r.integers(0, 100_000, n),
        }
    )


def test_kinds_inferred_and_overridable():
    t = make_table()
    assert infer_kinds(t) == {
        "customer_id": "id",
        "amount": "continuous",
        "grade": "categorical",
        "fraud": "boolean",
        "opened": "datetime",
        "visits": "integer",
        "balance": "integer",
    }
    kinds = infer_kinds(t, discrete=["visits"], kinds={"balance": "continuous"})
    assert kinds["visits"] == "categorical" and kinds["balance"] == "continuous"
    text = t.astype({"opened": str})  # as read from a CSV file
    assert infer_kinds(text)["opened"] == "datetime"


def test_round_trip_keeps_types_categories_and_missing_values():
    t = make_table()
    tr = TableTransformer.fit(t, infer_kinds(t))
    back = tr.inverse(tr.transform(t))
    assert list(back.columns) == list(t.columns)
    for c in ("grade", "fraud", "visits"):
        assert (back[c] == t[c]).all()
    assert (back["amount"].isna() == t["amount"].isna()).all()
    present = t["amount"].notna()
    assert np.allclose(back["amount"][present], t["amount"][present], rtol=1e-3)
    assert np.allclose(back["balance"], t["balance"], atol=2)
    assert (back["opened"] == t["opened"]).all()
    # IDs are regenerated, unique and new
    assert back["customer_id"].is_unique and back["customer_id"].min() > t["customer_id"].max()
    # the fitted transformer survives JSON (what the run directory stores)
    again = TableTransformer.from_dict(tr.to_dict())
    assert again.inverse(tr.transform(t)).equals(back)
    # two modes of the bimodal column are found
    assert len(tr.column("amount").means) >= 2


def test_conditions_are_checked():
    t = make_table()
    tr = TableTransformer.fit(t, infer_kinds(t))
    assert tr.category_index("grade", "C") == (0, 2)
    with pytest.raises(DataError, match="never occurs"):
        tr.category_index("grade", "Z")
    with pytest.raises(DataError, match="not categorical"):
        tr.category_index("amount", 3)
    with pytest.raises(DataError, match="unknown column"):
        tr.category_index("nope", 1)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("a,b\n", "has no rows"),
        ("a,b\n1,x\n", "has 1 row;"),
        ("a,b\n" + "".join(f"{i},\n" for i in range(12)), "only missing values"),
        (
            "a,b\n" + "".join(f"{i},{i if i % 4 else 'unknown'}\n" for i in range(12)),
            "mixes numbers and text",
        ),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        infer_kinds(read_table(path))


def test_mixed_python_types_and_unknown_columns_are_refused():
    t = pd.DataFrame({"a": [1, "x"] * 6})
    with pytest.raises(DataError, match="mixes types"):
        infer_kinds(t)
    assert infer_kinds(t, discrete=["a"]) == {"a": "categorical"}
    with pytest.raises(DataError, match="unknown column 'b'"):
        infer_kinds(t, discrete=["b"])


def test_a_value_many_rows_share_is_a_spike_decoded_exactly():
    r = np.random.default_rng(0)
    amount = np.where(r.random(300) < 0.9, 0.0, r.lognormal(6, 1, 300))  # zero-inflated
    t = pd.DataFrame({"amount": amount})
    tr = TableTransformer.fit(t, {"amount": "continuous"})
    c = tr.column("amount")
    assert (
        c.means[0] == 0.0
        and c.stds[0] == 0.0
        and c.weights[0] == pytest.approx((amount == 0).mean())
    )
    back = tr.inverse(tr.transform(t))["amount"]
    assert ((back == 0) == (amount == 0)).all()
    # any offset the model outputs for the spike's mode decodes to the spike
    rows = tr.transform(t)
    rows[:, 0] = r.uniform(-1, 1, len(rows))
    assert (tr.inverse(rows)["amount"][amount == 0] == 0).all()


def test_infinite_values_are_refused_naming_the_column():
    t = make_table()
    t.loc[3, "amount"] = -np.inf
    with pytest.raises(
        DataError,
        match=r"^column 'amount' holds an infinite value \(-inf in data row 4\): replace "
        r"it with a number, or leave the cell empty to mark it missing$",
    ):
        infer_kinds(t)
    for kind in ("continuous", "integer"):  # a declared kind is checked too
        with pytest.raises(DataError, match="column 'amount' holds an infinite value"):
            TableTransformer.fit(t[["amount"]], {"amount": kind})


def test_iso_dates_that_do_not_parse_are_refused_and_iso_formats_mix():
    t = pd.DataFrame({"when": [f"2021-13-{10 + i}" for i in range(12)]})
    assert infer_kinds(t) == {"when": "datetime"}
    with pytest.raises(
        DataError,
        match=r"^column 'when' is datetime but holds '2021-13-10', which is not a date "
        r"pandas can read: fix it, or declare the column categorical \(--discrete when\)$",
    ):
        TableTransformer.fit(t, infer_kinds(t))
    assert (
        TableTransformer.fit(t, infer_kinds(t, discrete=["when"])).column("when").kind
        == "categorical"
    )
    # dates with and without a time of day, as docs/tabular.md's datetime row says (pandas 2 reads
    # the first value's format for all unless told ISO 8601)
    mixed = pd.DataFrame(
        {"when": [f"2021-03-{1 + i:02d}" + (" 12:30" if i % 2 else "") for i in range(12)]}
    )
    tr = TableTransformer.fit(mixed, infer_kinds(mixed))
    back = tr.inverse(tr.transform(mixed))["when"]
    assert tr.column("when").missing_share == 0 and back.notna().all()
    assert back[1] == pd.Timestamp("2021-03-02 12:30")


def test_python_objects_in_a_frame_are_refused():
    for values, what in [
        ([[1]] * 12, "Python objects of type list"),
        ([1j] * 12, "complex numbers"),
        ([object()] * 12, "Python objects of type object"),
    ]:
        with pytest.raises(DataError, match=f"^column 'x' holds {what}"):
            read_table(pd.DataFrame({"x": values}))
    ok = pd.DataFrame({"x": ["a", 1.5, None, True, pd.Timestamp("2021-01-01"), np.int64(3)] * 2})
    # plain values pass (mixed types are judged by the kind inference)
    assert read_table(ok).equals(ok)


def test_any_seed_fits_and_in_range_seeds_keep_their_numbers():
    from gankit.data.table import numpy_seed, sklearn_seed

    assert [sklearn_seed(s) for s in (0, 7, 2**32 - 1, 2**32, -1)] == [
        0,
        7,
        2**32 - 1,
        0,
        2**32 - 1,
    ]
    assert [numpy_seed(s) for s in (0, 7, 2**63 - 1, -1)] == [0, 7, 2**63 - 1, 2**64 - 1]
    t = make_table()
    kinds = infer_kinds(t)
    # -1 and 2**32 - 1 give scikit-learn the same seed: the same mixtures
    assert (
        TableTransformer.fit(t, kinds, -1).to_dict()
        == TableTransformer.fit(t, kinds, 2**32 - 1).to_dict()
    )
    for seed in (-(2**63), 2**40, 2**64 + 5):
        TableTransformer.fit(t, kinds, seed).transform(t, seed=seed)


def test_a_column_of_dates_is_sampled_as_dates_and_one_of_times_keeps_its_times():
    """Dates at midnight (`2021-03-01` in a CSV) came back with a time of day
    ('2021-06-04 15:31:23'): a column whose values are all whole days decodes to whole days."""
    n = 200
    days = pd.date_range("2021-01-01", periods=n, freq="D")
    t = pd.DataFrame(
        {"day": days.astype(str), "stamp": days + pd.to_timedelta(np.arange(n) * 937, unit="s")}
    )
    tr = TableTransformer.fit(t, infer_kinds(t))
    assert [c.unit_s for c in tr.columns] == [86_400, None]
    rows = tr.transform(t)
    # as a model's samples
    rows += np.random.default_rng(0).normal(0, 0.05, rows.shape).astype(rows.dtype)
    back = tr.inverse(rows)
    assert (back["day"] == back["day"].dt.normalize()).all()
    assert (back["stamp"] != back["stamp"].dt.normalize()).any()
    # written as a date
    assert back.to_csv(index=False).splitlines()[1].split(",")[0].count(":") == 0
    assert TableTransformer.from_dict(tr.to_dict()).columns[0].unit_s == 86_400


def test_iso_dates_with_mixed_utc_offsets_are_instants_in_utc():
    """Local times across a daylight-saving change (+01:00, +02:00) crashed the fit (pandas kept
    them as objects); they are read as instants and sampled in UTC."""
    t = pd.DataFrame({"when": [f"2021-03-{d:02d}T10:00:00+0{1 + d % 2}:00" for d in range(1, 21)]})
    tr = TableTransformer.fit(t, infer_kinds(t))
    back = tr.inverse(tr.transform(t))
    instants = pd.to_datetime(t["when"], utc=True, format="ISO8601")
    # pandas' unit for text
    assert back["when"].dtype == instants.dtype and str(back["when"].dt.tz) == "UTC"
    assert (back["when"] == instants).all()
