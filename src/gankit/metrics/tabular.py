"""Fidelity, detection, utility and privacy of a synthetic table against the real one.

`evaluate_tables(train, synthetic, holdout)` scores a synthetic table the way the tabular
literature does (CTGAN, Xu et al. 2019; SDMetrics' quality report; the DCR/NNDR privacy tests of
synthcity and Platzer & Reutterer 2021), with one code path for every model so figures compare:

- column shapes: 1 - Kolmogorov-Smirnov statistic per continuous column, 1 - total variation
  distance per discrete column (1 = same marginal);
- column-pair trends: 1 - |corr_real - corr_synth| / 2 per pair of continuous columns, and
  1 - total variation distance of the joint frequencies per pair with a discrete column
  (continuous partners binned at the real deciles);
- detection: cross-validated ROC AUC of a gradient-boosting classifier telling real rows from
  synthetic ones (0.5 = indistinguishable, 1 = trivially told apart);
- machine-learning efficacy: a gradient-boosting model trained on synthetic rows, tested on the
  real holdout, against the same model trained on the real train rows;
- privacy: distance to the closest train record (DCR) of synthetic rows against that of holdout
  rows (fresh real data: the baseline a model that does not memorise should match), the
  nearest-neighbour distance ratio (NNDR), and the share of synthetic rows that copy a train row.

`augmentation_gain` measures the fraud/rare-class use case: minority recall and PR-AUC on the real
holdout of a classifier trained with and without synthetic minority rows.

Datetimes compare as numbers (seconds); missing values are a value of their own: the missing share
is part of each column's distribution (below every number for KS, a category for TV).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from gankit.data import datetimes
from gankit.data.table import sklearn_seed
from gankit.errors import ConfigError, DataError

MISSING = "\x00missing"  # the category a missing discrete value becomes (no real value collides)
_MAX_CATEGORICAL_LEVELS = 250  # HistGradientBoosting's native categorical limit is 255 bins
_DECILES = np.linspace(0.1, 0.9, 9)


# ----------------------------------------------------------------------------- column handling


def column_kinds(table: pd.DataFrame, discrete: Sequence[str] = ()) -> dict[str, str]:
    """'discrete' or 'continuous' per column: text, boolean and category columns and the listed
    ones are discrete; numbers and datetimes (compared as seconds) are continuous."""
    unknown = [c for c in discrete if c not in table.columns]
    if unknown:
        raise ConfigError(f"discrete column(s) not in the table: {', '.join(map(str, unknown))}")
    kinds = {}
    for name in table.columns:
        col = table[name]
        numeric = (
            pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        ) or pd.api.types.is_datetime64_any_dtype(col)
        kinds[name] = "continuous" if numeric and name not in discrete else "discrete"
    return kinds


def _continuous(col: pd.Series, like: pd.Series) -> np.ndarray:
    """Floats (NaN for missing) from a column that should look like `like` (datetimes in s)."""
    if pd.api.types.is_datetime64_any_dtype(like):
        return datetimes.to_seconds(datetimes.parse(col))
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def _discrete(col: pd.Series) -> np.ndarray:
    """Values as canonical strings, so 1, 1.0 and "1" (a CSV round trip) are one category."""

    def canon(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return MISSING
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return np.array([canon(v) for v in col.tolist()], dtype=object)


def _checked(train: pd.DataFrame, other: pd.DataFrame, name: str) -> pd.DataFrame:
    """`other` with train's columns in train's order; a clear error if some are missing."""
    if not isinstance(other, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(other).__name__}")
    if len(other) == 0:
        raise DataError(f"{name} table is empty")
    missing = [c for c in train.columns if c not in other.columns]
    if missing:
        raise DataError(
            f"{name} table lacks column(s) of the real table: {', '.join(map(str, missing))}"
        )
    return other[list(train.columns)].reset_index(drop=True)


# ----------------------------------------------------------------------------- column shapes


def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 - the two-sample KS statistic; a missing value counts as smaller than every number, so a
    wrong missing share costs as much as a wrong mass anywhere else."""
    a = np.sort(np.where(np.isnan(real), -np.inf, real))
    b = np.sort(np.where(np.isnan(synthetic), -np.inf, synthetic))
    if len(a) == 0 or len(b) == 0:
        return 0.0
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def tv_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 - total variation distance between the category frequencies (missing is a category)."""
    p = pd.Series(real).value_counts(normalize=True)
    q = pd.Series(synthetic).value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def column_shapes(
    real: pd.DataFrame, synthetic: pd.DataFrame, discrete: Sequence[str] = ()
) -> dict:
    """Per-column marginal similarity: KS complement (continuous), TV complement (discrete)."""
    synthetic = _checked(real, synthetic, "synthetic")
    kinds = column_kinds(real, discrete)
    per_column = {}
    for name, kind in kinds.items():
        if kind == "continuous":
            score = ks_complement(
                _continuous(real[name], real[name]), _continuous(synthetic[name], real[name])
            )
        else:
            score = tv_complement(_discrete(real[name]), _discrete(synthetic[name]))
        per_column[name] = {"kind": kind, "score": score}
    ks = [v["score"] for v in per_column.values() if v["kind"] == "continuous"]
    tv = [v["score"] for v in per_column.values() if v["kind"] == "discrete"]
    return {
        "ks_complement": _mean(ks),
        "tv_complement": _mean(tv),
        "score": _mean(ks + tv),
        "per_column": per_column,
    }


# ----------------------------------------------------------------------------- column pairs


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation on rows where both are present; None where it is undefined."""
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _binned(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Continuous values as decile bins of the real column (missing is its own bin)."""
    present = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(present, _DECILES)) if len(present) else np.array([])
    bins = np.digitize(values, edges).astype(object)
    bins[np.isnan(values)] = MISSING
    return bins.astype(str)


def column_pair_trends(
    real: pd.DataFrame, synthetic: pd.DataFrame, discrete: Sequence[str] = ()
) -> dict:
    """Correlation similarity over continuous pairs, contingency similarity over pairs with a
    discrete column; the mean over all pairs is `score`."""
    synthetic = _checked(real, synthetic, "synthetic")
    kinds = column_kinds(real, discrete)
    cont = {
        n: (_continuous(real[n], real[n]), _continuous(synthetic[n], real[n]))
        for n, k in kinds.items()
        if k == "continuous"
    }
    disc = {
        n: (_discrete(real[n]), _discrete(synthetic[n]))
        for n, k in kinds.items()
        if k == "discrete"
    }
    as_categories = dict(disc)
    for name, (r, s) in cont.items():
        as_categories[name] = (_binned(r, r), _binned(s, r))
    correlation, contingency = [], []
    for a, b in combinations(list(real.columns), 2):
        if a in cont and b in cont:
            rho_real = _correlation(*[cont[n][0] for n in (a, b)])
            if rho_real is None:
                continue  # a constant real column: no trend to keep
            rho_synth = _correlation(*[cont[n][1] for n in (a, b)])
            correlation.append(1.0 - abs(rho_real - (rho_synth or 0.0)) / 2.0)
        else:
            (ra, sa), (rb, sb) = as_categories[a], as_categories[b]
            joint_r = np.char.add(np.char.add(ra.astype(str), "\x01"), rb.astype(str))
            joint_s = np.char.add(np.char.add(sa.astype(str), "\x01"), sb.astype(str))
            contingency.append(tv_complement(joint_r, joint_s))
    return {
        "correlation_similarity": _mean(correlation),
        "contingency_similarity": _mean(contingency),
        "score": _mean(correlation + contingency),
        "pairs": len(correlation) + len(contingency),
    }


# ----------------------------------------------------------------------------- features for models


class _Encoder:
    """Tables to numeric matrices for gradient boosting: continuous columns as floats (NaN kept:
    the trees route missing values), discrete ones as codes of the categories seen anywhere."""

    def __init__(self, tables: Sequence[pd.DataFrame], kinds: dict[str, str]):
        self.kinds = kinds
        self.reference = tables[0]
        self.codes = {}
        for name, kind in kinds.items():
            if kind == "discrete":
                seen = sorted(set().union(*(set(_discrete(t[name])) for t in tables)) - {MISSING})
                self.codes[name] = {v: i for i, v in enumerate(seen)}

    def categorical_mask(self) -> list[bool]:
        return [
            self.kinds[n] == "discrete" and len(self.codes[n]) <= _MAX_CATEGORICAL_LEVELS
            for n in self.kinds
        ]

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        columns = []
        for name, kind in self.kinds.items():
            if kind == "continuous":
                columns.append(_continuous(table[name], self.reference[name]))
            else:
                mapping = self.codes[name]
                columns.append(
                    np.array([mapping.get(v, np.nan) for v in _discrete(table[name])], dtype=float)
                )
        return np.column_stack(columns) if columns else np.zeros((len(table), 0))


def _single_threaded():
    """scikit-learn's OpenMP on one thread: with torch loaded, two OpenMP runtimes busy-wait
    against each other (docs/results/tabular.md), and these tables are small enough for one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


# Fit rows from which a booster that scores downstream use (efficacy, augmentation) stops early on a
# validation tenth of them. scikit-learn's "auto" stops only above 10,000 rows; below, 100 rounds at
# rate 0.1 overfit a rare class (docs/results/tabular.md), and the scores would not compare with
# the published ones.
EARLY_STOPPING_ROWS = 1000


def _booster(task: str, categorical: list[bool], seed: int, fit_rows: int | None = None):
    """Histogram gradient boosting with native categoricals; given `fit_rows`, it stops early from
    EARLY_STOPPING_ROWS rows on (detection, which cross-validates, keeps scikit-learn's rule)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    stop = True if fit_rows is not None and fit_rows >= EARLY_STOPPING_ROWS else "auto"
    return cls(
        categorical_features=categorical if any(categorical) else None,
        random_state=sklearn_seed(seed),
        early_stopping=stop,
    )


def _subsample(table: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(table) <= n:
        return table.reset_index(drop=True)
    return table.sample(n=n, random_state=sklearn_seed(seed)).reset_index(drop=True)


# ----------------------------------------------------------------------------- detection


def detection(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    discrete: Sequence[str] = (),
    *,
    seed: int = 0,
    folds: int = 3,
    max_rows: int = 5000,
) -> dict:
    """Cross-validated ROC AUC of a classifier telling real rows from synthetic (lower is better;
    0.5 is indistinguishable). Both sides are subsampled to the same size, so AUC is not skewed
    by class balance."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    synthetic = _checked(real, synthetic, "synthetic")
    n = min(len(real), len(synthetic), max_rows)
    if n < folds:
        raise DataError(f"detection needs at least {folds} rows on each side, got {n}")
    a, b = _subsample(real, n, seed), _subsample(synthetic, n, seed + 1)
    kinds = column_kinds(real, discrete)
    encode = _Encoder([real, synthetic], kinds)
    x = np.vstack([encode(a), encode(b)])
    y = np.r_[np.zeros(n), np.ones(n)]
    scores = np.empty(2 * n)
    with _single_threaded():
        for fit_rows, test_rows in StratifiedKFold(
            folds, shuffle=True, random_state=sklearn_seed(seed)
        ).split(x, y):
            model = _booster("classification", encode.categorical_mask(), seed)
            model.fit(x[fit_rows], y[fit_rows])
            scores[test_rows] = model.predict_proba(x[test_rows])[:, 1]
    auc = float(roc_auc_score(y, scores))
    return {"roc_auc": auc, "score": 1.0 - max(0.0, 2.0 * (auc - 0.5)), "rows_each": n}


# ----------------------------------------------------------------------------- ML efficacy


def _target_task(train: pd.DataFrame, target: str, kinds: dict[str, str]) -> str:
    if target not in train.columns:
        raise ConfigError(f"target column {target!r} not in the table")
    return "classification" if kinds[target] == "discrete" else "regression"


def _fit_and_score(fit_table, test_table, target, reference, encode, task, seed) -> float | None:
    """The holdout score of a booster fitted on `fit_table`: ROC AUC (macro one-vs-rest when
    multi-class) for a discrete target, R^2 for a continuous one; None if it cannot be fitted."""
    from sklearn.metrics import r2_score, roc_auc_score

    x_fit, x_test = encode(fit_table), encode(test_table)
    if task == "regression":
        y_fit = _continuous(fit_table[target], reference)
        y_test = _continuous(test_table[target], reference)
        keep, present = ~np.isnan(y_fit), ~np.isnan(y_test)
        if keep.sum() < 2:
            return None
        model = _booster(task, encode.categorical_mask(), seed, int(keep.sum())).fit(
            x_fit[keep], y_fit[keep]
        )
        return float(r2_score(y_test[present], model.predict(x_test[present])))
    y_fit, y_test = _discrete(fit_table[target]), _discrete(test_table[target])
    classes = np.unique(y_test)
    if len(np.unique(y_fit)) < 2:
        return 0.5  # one class only: the model ranks every holdout row alike, AUC 0.5
    model = _booster(task, encode.categorical_mask(), seed, len(x_fit)).fit(x_fit, y_fit)
    proba = pd.DataFrame(model.predict_proba(x_test), columns=model.classes_)
    proba = proba.reindex(columns=classes, fill_value=0.0).to_numpy()
    if len(classes) == 2:
        return float(roc_auc_score(y_test == classes[1], proba[:, 1]))
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    return float(roc_auc_score(y_test, proba, multi_class="ovr", average="macro", labels=classes))


def ml_efficacy(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    discrete: Sequence[str] = (),
    *,
    seed: int = 0,
) -> dict:
    """Train on synthetic, test on the real holdout (TSTR) against train on real (TRTR)."""
    synthetic, holdout = (
        _checked(train, synthetic, "synthetic"),
        _checked(train, holdout, "holdout"),
    )
    kinds = column_kinds(train, discrete)
    task = _target_task(train, target, kinds)
    features = {n: k for n, k in kinds.items() if n != target}
    encode = _Encoder([train, synthetic, holdout], features)
    with _single_threaded():
        synth, real = (
            _fit_and_score(t, holdout, target, train[target], encode, task, seed)
            for t in (synthetic, train)
        )
    return {
        "task": task,
        "metric": "roc_auc" if task == "classification" else "r2",
        "synthetic_score": synth,
        "real_score": real,
        "ratio": synth / real if synth is not None and real else None,
    }


# ----------------------------------------------------------------------------- privacy


def _distance_space(train: pd.DataFrame, kinds: dict[str, str]):
    """A function mapping a table to rows whose L1 distance / column count is a Gower distance:
    continuous columns scaled by their real range (a missing value sits one unit away from every
    present one), discrete ones one-hot at weight 1/2 (a mismatch costs 1)."""
    ranges = {}
    for name, kind in kinds.items():
        if kind == "continuous":
            values = _continuous(train[name], train[name])
            lo, hi = (np.nanmin(values), np.nanmax(values)) if (~np.isnan(values)).any() else (0, 1)
            ranges[name] = (lo, (hi - lo) or 1.0, bool(np.isnan(values).any()))
    codes = {n: sorted(set(_discrete(train[n]))) for n, k in kinds.items() if k == "discrete"}

    def embed(table: pd.DataFrame) -> np.ndarray:
        parts = []
        for name, kind in kinds.items():
            if kind == "continuous":
                lo, span, _ = ranges[name]
                values = (_continuous(table[name], train[name]) - lo) / span
                missing = np.isnan(values)
                parts.append(np.where(missing, 0.0, values)[:, None])
                parts.append(missing.astype(float)[:, None])
            else:
                values = _discrete(table[name])
                onehot = np.stack([values == c for c in codes[name]], axis=1).astype(float) * 0.5
                unseen = ~onehot.any(axis=1)  # a category train never had: its own slot
                parts.append(np.column_stack([onehot, unseen * 0.5]))
        return np.hstack(parts)

    return embed, len(kinds)


def _two_nearest(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distances (L1) from each query row to its two nearest reference rows, shape (n, 2)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2, metric="manhattan", algorithm="brute", n_jobs=1)
    with _single_threaded():
        return nn.fit(reference).kneighbors(queries)[0]


def _nearest_ratio(distances: np.ndarray) -> np.ndarray:
    """Nearest over second-nearest distance of each row of `_two_nearest`; 1 where both are 0."""
    second = distances[:, 1]
    return np.where(second > 0, distances[:, 0] / np.where(second > 0, second, 1.0), 1.0)


def _canonical_rows(table: pd.DataFrame, kinds: dict[str, str], like: pd.DataFrame) -> list[tuple]:
    """Rows as tuples that are equal exactly when the values are (numbers and datetimes as
    floats, categories as canonical text, missing as one marker)."""
    columns = []
    for name, kind in kinds.items():
        if kind == "continuous":
            values = _continuous(table[name], like[name]).astype(object)
            values[pd.isna(values)] = MISSING
            columns.append(values)
        else:
            columns.append(_discrete(table[name]))
    return list(zip(*columns, strict=True))


def exact_copy_share(
    train: pd.DataFrame, other: pd.DataFrame, discrete: Sequence[str] = ()
) -> float:
    """Share of `other`'s rows equal, value for value, to some train row."""
    other = _checked(train, other, "compared")
    kinds = column_kinds(train, discrete)
    keys = set(_canonical_rows(train, kinds, train))
    return float(np.mean([row in keys for row in _canonical_rows(other, kinds, train)]))


def privacy(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    discrete: Sequence[str] = (),
    *,
    seed: int = 0,
    max_rows: int = 3000,
) -> dict:
    """DCR and NNDR of synthetic rows against train, beside the same for real holdout rows (what
    data the model never saw looks like), and the share of exact copies.

    `dcr_ratio` = median DCR(synthetic) / median DCR(holdout): near 1 or above is no closer to
    train than fresh real data; far below 1 is memorisation. `closer_than_holdout_p5` is the share
    of synthetic rows nearer to train than 95% of holdout rows are (about 0.05 when private)."""
    synthetic, holdout = (
        _checked(train, synthetic, "synthetic"),
        _checked(train, holdout, "holdout"),
    )
    kinds = column_kinds(train, discrete)
    embed, width = _distance_space(train, kinds)
    reference = embed(train)
    synth = _two_nearest(reference, embed(_subsample(synthetic, max_rows, seed))) / width
    fresh = _two_nearest(reference, embed(_subsample(holdout, max_rows, seed))) / width
    dcr_synth, dcr_fresh = float(np.median(synth[:, 0])), float(np.median(fresh[:, 0]))
    return {
        "dcr_synthetic_median": dcr_synth,
        "dcr_holdout_median": dcr_fresh,
        "dcr_ratio": dcr_synth / dcr_fresh if dcr_fresh > 0 else None,
        "closer_than_holdout_p5": float(np.mean(synth[:, 0] < np.quantile(fresh[:, 0], 0.05))),
        "nndr_synthetic_median": float(np.median(_nearest_ratio(synth))),
        "nndr_holdout_median": float(np.median(_nearest_ratio(fresh))),
        "exact_copy_share": exact_copy_share(train, synthetic, discrete),
        "holdout_exact_copy_share": exact_copy_share(train, holdout, discrete),
    }


# ----------------------------------------------------------------------------- the entry points


def evaluate_tables(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    target: str | None = None,
    discrete: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """Every metric of a synthetic table: fidelity against `train` (what the model saw), utility
    and privacy against the real `holdout` (what it never saw). ML efficacy needs `target`."""
    if not isinstance(train, pd.DataFrame) or len(train) < 2:
        raise DataError("the real train table needs at least 2 rows")
    synthetic, holdout = (
        _checked(train, synthetic, "synthetic"),
        _checked(train, holdout, "holdout"),
    )
    if target is not None and target not in train.columns:
        raise ConfigError(f"target column {target!r} not in the table")
    result = {
        "rows": {"train": len(train), "synthetic": len(synthetic), "holdout": len(holdout)},
        "column_shapes": column_shapes(train, synthetic, discrete),
        "column_pairs": column_pair_trends(train, synthetic, discrete),
        "detection": detection(train, synthetic, discrete, seed=seed),
        "privacy": privacy(train, synthetic, holdout, discrete, seed=seed),
    }
    if target is not None:
        result["ml_efficacy"] = ml_efficacy(train, synthetic, holdout, target, discrete, seed=seed)
    return result


def augmentation_gain(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    target: str,
    minority=None,
    discrete: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """Minority recall and PR-AUC on the real holdout of a gradient-boosting classifier trained on
    `train` alone and on `train` plus the synthetic rows of the minority class (default: the rarest
    class in train). Synthetic rows of other classes are not added."""
    from sklearn.metrics import average_precision_score, recall_score

    synthetic, holdout = (
        _checked(train, synthetic, "synthetic"),
        _checked(train, holdout, "holdout"),
    )
    kinds = column_kinds(train, discrete)
    if _target_task(train, target, kinds) != "classification":
        raise ConfigError(f"augmentation needs a discrete target; {target!r} is continuous")
    labels = _discrete(train[target])
    minority = (
        pd.Series(labels).value_counts().idxmin()
        if minority is None
        else _discrete(pd.Series([minority]))[0]
    )
    if minority not in set(labels):
        raise ConfigError(f"class {minority!r} of {target!r} never occurs in the train table")
    added = synthetic[_discrete(synthetic[target]) == minority]
    features = {n: k for n, k in kinds.items() if n != target}
    encode = _Encoder([train, synthetic, holdout], features)
    y_test = _discrete(holdout[target]) == minority

    def scored(table: pd.DataFrame) -> dict:
        model = _booster("classification", encode.categorical_mask(), seed, len(table))
        model.fit(encode(table), _discrete(table[target]) == minority)
        proba = model.predict_proba(encode(holdout))[:, 1]
        return {
            "minority_recall": float(recall_score(y_test, proba >= 0.5, zero_division=0.0)),
            "pr_auc": float(average_precision_score(y_test, proba)),
            "minority_rows": int((_discrete(table[target]) == minority).sum()),
        }

    with _single_threaded():
        base = scored(train.reset_index(drop=True))
        augmented = scored(pd.concat([train.reset_index(drop=True), added], ignore_index=True))
    return {
        "minority": minority,
        "synthetic_rows_added": len(added),
        "real": base,
        "augmented": augmented,
        "recall_gain": augmented["minority_recall"] - base["minority_recall"],
        "pr_auc_gain": augmented["pr_auc"] - base["pr_auc"],
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
