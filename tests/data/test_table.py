"""The table transformer: kinds, IDs, missing values, reversibility, bad input."""
import numpy as np
import pandas as pd
import pytest

from gankit.data.table import TableTransformer, infer_kinds, read_table
from gankit.errors import DataError


def make_table(n=120, seed=0):
    r = np.random.default_rng(seed)
    amount = np.concatenate([r.normal(10, 1, n // 2), r.normal(100, 5, n - n // 2)])  # two modes
    amount[r.random(n) < 0.2] = np.nan
    return pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + n),
        "amount": amount,
        "grade": r.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1]),
        "fraud": r.random(n) < 0.1,
        "opened": pd.date_range("2021-01-01", periods=n, freq="D"),
        "visits": r.integers(0, 5, n),
        "balance": r.integers(0, 100_000, n),
    })


def test_kinds_inferred_and_overridable():
    t = make_table()
    assert infer_kinds(t) == {"customer_id": "id", "amount": "continuous", "grade": "categorical",
                              "fraud": "boolean", "opened": "datetime", "visits": "integer", "balance": "integer"}
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


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("a,b\n", "has no rows"),
    ("a,b\n1,x\n", "has 1 row;"),
    ("a,b\n" + "".join(f"{i},\n" for i in range(12)), "only missing values"),
    ("a,b\n" + "".join(f"{i},{i if i % 4 else 'unknown'}\n" for i in range(12)), "mixes numbers and text"),
])
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
    assert c.means[0] == 0.0 and c.stds[0] == 0.0 and c.weights[0] == pytest.approx((amount == 0).mean())
    back = tr.inverse(tr.transform(t))["amount"]
    assert ((back == 0) == (amount == 0)).all()
    # any offset the model outputs for the spike's mode decodes to the spike
    rows = tr.transform(t)
    rows[:, 0] = r.uniform(-1, 1, len(rows))
    assert (tr.inverse(rows)["amount"][amount == 0] == 0).all()
