"""Tabular fidelity, detection, utility and privacy metrics on constructed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gankit.errors import ConfigError, DataError
from gankit.metrics.tabular import (
    augmentation_gain,
    column_kinds,
    column_pair_trends,
    column_shapes,
    detection,
    evaluate_tables,
    exact_copy_share,
    ks_complement,
    ml_efficacy,
    privacy,
    tv_complement,
)

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too


def make_table(n: int, seed: int) -> pd.DataFrame:
    """Two correlated numbers, a category that follows them, a dependent pair of categories, a
    datetime, a column with missing values and a 15%-minority target that the numbers predict."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = x + 0.3 * rng.normal(size=n)
    colour = np.where(x > 0.5, "red", np.where(x < -0.5, "blue", "green"))
    size = np.where(colour == "red", "L", "S")
    income = np.where(rng.random(n) < 0.2, np.nan, np.exp(1 + 0.5 * rng.normal(size=n)))
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    fraud = (x + y + 0.8 * rng.normal(size=n)) > 2.2
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "colour": colour,
            "size": size,
            "income": income,
            "when": when,
            "fraud": fraud,
        }
    )


@pytest.fixture(scope="module")
def train():
    return make_table(600, seed=0)


@pytest.fixture(scope="module")
def holdout():
    return make_table(400, seed=1)


def shuffled_columns(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.permutation(table[c].to_numpy()) for c in table.columns})


def test_kinds_infer_numbers_and_datetimes_as_continuous_and_obey_overrides(train):
    kinds = column_kinds(train, discrete=["y"])
    assert kinds == {
        "x": "continuous",
        "y": "discrete",
        "colour": "discrete",
        "size": "discrete",
        "income": "continuous",
        "when": "continuous",
        "fraud": "discrete",
    }
    with pytest.raises(ConfigError, match="nope"):
        column_kinds(train, discrete=["nope"])


def test_ks_and_tv_complements_on_known_distributions():
    a = np.arange(100, dtype=float)
    assert ks_complement(a, a.copy()) == 1.0
    assert ks_complement(a, a + 50) == pytest.approx(0.5)
    # half the values missing, the present ones alike: the missing mass is the whole difference
    assert ks_complement(a, np.r_[a, np.full(100, np.nan)]) == pytest.approx(0.5)
    assert tv_complement(np.array(["a", "b"] * 50), np.array(["a"] * 100)) == pytest.approx(0.5)
    assert tv_complement(np.array(["a", "b"]), np.array(["c", "d"])) == 0.0


def test_identical_tables_score_perfectly(train):
    shapes = column_shapes(train, train.copy())
    assert shapes["ks_complement"] == shapes["tv_complement"] == shapes["score"] == 1.0
    assert all(v["score"] == 1.0 for v in shapes["per_column"].values())
    pairs = column_pair_trends(train, train.copy())
    assert pairs["correlation_similarity"] == pairs["contingency_similarity"] == 1.0
    assert pairs["pairs"] == 21


def test_csv_round_trip_does_not_change_scores(train, tmp_path):
    path = tmp_path / "t.csv"
    table = train.round(6)  # floats with few digits survive the text round trip exactly
    table.to_csv(path, index=False)
    back = pd.read_csv(path)  # datetimes come back as text, booleans as bool, NaN as empty
    assert column_shapes(table, back)["score"] == 1.0
    assert column_pair_trends(table, back)["score"] == 1.0
    assert exact_copy_share(table, back) == 1.0


def test_independent_shuffles_keep_shapes_but_break_pair_trends(train):
    shuffled = shuffled_columns(train)
    assert column_shapes(train, shuffled)["score"] == 1.0
    pairs = column_pair_trends(train, shuffled)
    fresh = column_pair_trends(train, make_table(600, seed=2))
    assert pairs["correlation_similarity"] < fresh["correlation_similarity"] - 0.05
    assert fresh["correlation_similarity"] > 0.95
    only_xy = column_pair_trends(train[["x", "y"]], shuffled[["x", "y"]])
    assert only_xy["correlation_similarity"] < 0.6  # corr 0.95 became about 0
    assert pairs["contingency_similarity"] < fresh["contingency_similarity"] - 0.1


def test_shifted_datetimes_and_missing_shares_lower_the_shape_score(train):
    moved = train.copy()
    moved["when"] = moved["when"] + pd.Timedelta(days=120)
    moved["income"] = moved["income"].fillna(moved["income"].median())
    per_column = column_shapes(train, moved)["per_column"]
    assert per_column["when"]["score"] < 0.75
    assert per_column["income"]["score"] == pytest.approx(
        1 - train["income"].isna().mean(), abs=0.02
    )
    assert per_column["x"]["score"] == 1.0


def test_detection_tells_shuffles_apart_but_not_fresh_samples(train):
    assert detection(train, shuffled_columns(train))["roc_auc"] > 0.9
    fresh = detection(train, make_table(600, seed=3))
    assert fresh["roc_auc"] < 0.6
    assert fresh["score"] > 0.8


def test_ml_efficacy_matches_real_for_fresh_data_and_drops_for_shuffles(train, holdout):
    fresh = ml_efficacy(train, make_table(600, seed=4), holdout, target="fraud")
    assert fresh["metric"] == "roc_auc" and fresh["task"] == "classification"
    assert fresh["real_score"] > 0.85
    assert fresh["synthetic_score"] > fresh["real_score"] - 0.05
    broken = ml_efficacy(train, shuffled_columns(train), holdout, target="fraud")
    assert broken["synthetic_score"] < 0.65
    assert broken["real_score"] == fresh["real_score"]
    regression = ml_efficacy(train, make_table(600, seed=4), holdout, target="y")
    assert regression["metric"] == "r2" and regression["real_score"] > 0.7


def rare_class_table(n: int, seed: int) -> pd.DataFrame:
    """8 numbers, two of them weakly predicting a 5% class: the lending_club kind of target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    bad = rng.random(n) < 1 / (1 + np.exp(-(0.8 * x[:, 0] + 0.5 * x[:, 1] - 3.4)))
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(8)]).assign(bad=bad)


def test_ml_efficacy_booster_stops_early_on_a_rare_class_instead_of_overfitting():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    train, holdout = rare_class_table(3000, seed=0), rare_class_table(2000, seed=1)
    scored = ml_efficacy(train, train, holdout, target="bad")["real_score"]
    x, y = train.drop(columns="bad"), train["bad"]
    unstopped = HistGradientBoostingClassifier(early_stopping=False, random_state=0).fit(x, y)
    plain = roc_auc_score(
        holdout["bad"], unstopped.predict_proba(holdout.drop(columns="bad"))[:, 1]
    )
    assert scored > plain + 0.01  # 0.689 against 0.672 when written


def test_privacy_catches_copies_and_near_copies(train, holdout):
    copies = privacy(train, train.sample(300, random_state=0), holdout)
    assert copies["exact_copy_share"] == 1.0 and copies["dcr_synthetic_median"] == 0.0
    assert copies["dcr_ratio"] == 0.0 and copies["closer_than_holdout_p5"] == 1.0
    assert copies["holdout_exact_copy_share"] == 0.0
    near = train.copy()
    near["x"] = near["x"] + 1e-3
    nearly = privacy(train, near, holdout)
    assert nearly["exact_copy_share"] == 0.0
    assert nearly["dcr_ratio"] < 0.05 and nearly["nndr_synthetic_median"] < 0.1
    fresh = privacy(train, make_table(600, seed=5), holdout)
    assert 0.7 < fresh["dcr_ratio"] < 1.4
    assert fresh["closer_than_holdout_p5"] < 0.12 and fresh["exact_copy_share"] == 0.0
    assert fresh["nndr_synthetic_median"] == pytest.approx(fresh["nndr_holdout_median"], abs=0.1)


def test_evaluate_tables_reports_every_metric_and_perfect_fidelity_for_copies(train, holdout):
    result = evaluate_tables(train, train.copy(), holdout, target="fraud", seed=0)
    assert set(result) == {
        "rows",
        "column_shapes",
        "column_pairs",
        "detection",
        "privacy",
        "ml_efficacy",
    }
    assert result["column_shapes"]["score"] == result["column_pairs"]["score"] == 1.0
    assert result["detection"]["roc_auc"] < 0.6
    assert result["privacy"]["exact_copy_share"] == 1.0
    assert result["ml_efficacy"]["ratio"] == pytest.approx(1.0)
    assert "ml_efficacy" not in evaluate_tables(train, train, holdout)


def test_augmentation_with_minority_rows_raises_recall(train, holdout):
    pool = make_table(3000, seed=6)
    extra = pd.concat([pool[pool["fraud"]], pool[~pool["fraud"]].head(50)])  # majority rows ignored
    gain = augmentation_gain(train, extra, holdout, target="fraud")
    assert gain["minority"] == "True"
    assert gain["synthetic_rows_added"] == int(pool["fraud"].sum())
    assert (
        gain["augmented"]["minority_rows"]
        == gain["real"]["minority_rows"] + gain["synthetic_rows_added"]
    )
    assert gain["recall_gain"] > 0.05
    assert 0.0 <= gain["real"]["pr_auc"] <= 1.0
    with pytest.raises(ConfigError, match="continuous"):
        augmentation_gain(train, extra, holdout, target="x")
    with pytest.raises(ConfigError, match="never occurs"):
        augmentation_gain(train, extra, holdout, target="colour", minority="purple")


def test_bad_tables_get_clear_errors(train, holdout):
    with pytest.raises(DataError, match="lacks column.*income"):
        evaluate_tables(train, train.drop(columns=["income"]), holdout)
    with pytest.raises(DataError, match="empty"):
        evaluate_tables(train, train.head(0), holdout)
    with pytest.raises(ConfigError, match="target column 'nope'"):
        evaluate_tables(train, train, holdout, target="nope")
    with pytest.raises(DataError, match="DataFrame"):
        column_shapes(train, train.to_numpy())
