"""Tables in, tensors out, and back: column kinds, missing values, ID columns and the reversible
transformer of CTGAN (Xu et al. 2019).

Each column becomes one or more *spans* of the model's row vector:
- continuous, integer with many values, datetime (as seconds): mode-specific normalisation.
  Values 5% of the rows share exactly (zero in a zero-inflated amount) are modes of zero width
  that decode to the value itself; for the rest a variational Gaussian mixture (scikit-learn's
  BayesianGaussianMixture, at most 10 modes, the Dirichlet-process prior pruning the unused
  ones) is fitted per column; a value becomes its mode as a one-hot span and its offset within
  the mode, (x - mu_k) / (4 sigma_k), as a tanh span.
  Multi-modal, skewed columns then look like a few well-behaved bumps to the networks.
- categorical, boolean, integer with few values: one one-hot span over the values seen.
- missing values: a categorical column gets a "missing" category; a numeric column gets a
  two-way one-hot span (present, missing) and its mixture is fitted on the present values, a
  missing value being encoded at the column's mean (the model learns when to leave it empty).
ID columns (unique per row: consecutive integers or distinct strings, or named like an id) carry
no distribution: they are left out of the model and regenerated uniquely on sampling.
The fitted transformer is plain JSON (no pickle), written beside the checkpoints.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import numbers
import re
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from . import datetimes

KINDS = ("continuous", "integer", "categorical", "boolean", "datetime", "id")
DAY_S = 86_400
#: an integer column with at most this many distinct values is modelled one-hot (counts, grades)
DISCRETE_INTEGER_MAX = 25
MIN_ROWS = 10
MAX_MODES = 10
#: modes of the fitted mixture lighter than this are dropped (CTGAN's weight threshold)
MODE_WEIGHT_MIN = 0.005
#: a value held by this share of a numeric column's rows is a mode of its own, decoded exactly
SPIKE_SHARE = 0.05
#: rows a mixture is fitted on at most (a random subset beyond it: the fit is the slow part)
MIXTURE_FIT_ROWS = 20_000
MISSING = "__missing__"
_ID_NAME = re.compile(r"(^|_)(id|key|uuid|rownames?|index)$", re.IGNORECASE)


@dataclass
class Span:
    """A slice of the row vector: `tanh` (one value in [-1, 1]) or `softmax` (a one-hot group)."""

    activation: str
    size: int
    column: str
    role: str  # value | mode | category (in the conditional vector) | level | missing


@dataclass
class Column:
    name: str
    kind: str  # one of KINDS
    dtype: str  # the pandas dtype to restore
    missing_share: float = 0.0
    categories: list[Any] | None = None  # one-hot columns: the values, in span order
    counts: list[int] | None = None  # ... and how often each occurs in the training rows
    means: list[float] | None = None  # mixture columns: the kept modes
    stds: list[float] | None = None
    weights: list[float] | None = None
    mean: float = 0.0  # stand-in for a missing value before encoding
    low: float = 0.0  # observed range, kept on decoding
    high: float = 0.0
    id_start: int | None = None  # integer IDs: regenerated from here
    unit_s: int | None = None  # datetime: 86400 when every value is a date at midnight

    @property
    def one_hot(self) -> bool:
        return self.categories is not None

    @property
    def modelled(self) -> bool:
        return self.kind != "id"

    @property
    def conditionable(self) -> bool:
        """Categorical and boolean columns (declared discrete ones included) carry the conditional
        vector; a few-valued integer column is one-hot in the row (its exact values) but not a
        condition: training-by-sampling over a count's rare values (a 22 in delinquencies) would
        show the critic a table skewed towards them, as the ctgan package avoids by keeping counts
        numeric."""
        return self.one_hot and self.kind != "integer"


# ---- reading and inferring ----------------------------------------------------------------------
def read_table(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A DataFrame as given, or a CSV file read with pandas; empty or tiny tables are refused."""
    if isinstance(data, pd.DataFrame):
        frame, where = data, "the table"
    else:
        path = Path(data)
        where = str(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise DataError(
                f"{path} is not a readable CSV file: {str(e).splitlines()[0]}"
            ) from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError(f"{where} has no rows")
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{where} has {len(frame)} row{'s' if len(frame) != 1 else ''}; a model of a table "
            f"needs at least {MIN_ROWS}"
        )
    if frame.columns.duplicated().any():
        raise DataError(
            f"{where} has duplicate column names: "
            f"{sorted(set(frame.columns[frame.columns.duplicated()]))}"
        )
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    _refuse_python_objects(frame)
    return frame


#: what a cell may hold (besides a missing value): what a CSV file can say
_CELL_TYPES = (
    str,
    numbers.Real,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    np.generic,
    uuid.UUID,
)


def _refuse_python_objects(frame: pd.DataFrame) -> None:
    """A DataFrame's cells hold numbers, text, booleans or dates; a column of complex numbers,
    lists, dicts or other Python objects has no kind to model (and no way into table.json)."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_complex_dtype(column):
            raise DataError(
                f"column '{name}' holds complex numbers: a table takes numbers, text, booleans "
                "and dates (split it into real and imaginary columns)"
            )
        if column.dtype != object:
            continue
        values = column.dropna()
        odd = values.map(lambda v: not isinstance(v, _CELL_TYPES) or isinstance(v, complex))
        if odd.any():
            kind = type(values[odd].iloc[0]).__name__
            raise DataError(
                f"column '{name}' holds Python objects of type {kind}: a table takes numbers, "
                "text, booleans and dates (convert them, or drop the column)"
            )


def infer_kinds(
    frame: pd.DataFrame, discrete: Iterable[str] = (), kinds: dict[str, str] | None = None
) -> dict[str, str]:
    """Each column's kind, from its values, unless named in `discrete` (categorical) or `kinds`."""
    kinds = dict(kinds or {})
    for name in [*discrete, *kinds]:
        if name not in frame.columns:
            raise DataError(f"unknown column '{name}' (columns: {', '.join(frame.columns)})")
    bad = {k: v for k, v in kinds.items() if v not in KINDS}
    if bad:
        raise DataError(f"unknown kind for {bad} (choose from: {', '.join(KINDS)})")
    out = {}
    for name in frame.columns:
        values = frame[name].dropna()
        if values.empty:
            raise DataError(f"column '{name}' has only missing values: drop it")
        if name in kinds:
            out[name] = kinds[name]
        elif name in set(discrete):
            out[name] = "categorical"
        else:
            out[name] = _infer_kind(name, frame[name], values)
    return out


def _infer_kind(name: str, column: pd.Series, values: pd.Series) -> str:
    n, unique = len(column), values.nunique()
    if pd.api.types.is_bool_dtype(column) or (values.map(type).eq(bool).all()):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column):
        _refuse_infinite(name, _floats(column))
        integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if (
            integral
            and unique == n
            and (_ID_NAME.search(name) or values.max() - values.min() + 1 == n)
        ):
            return "id"
        if integral and set(values.unique()) <= {0, 1}:
            return "boolean"
        return "integer" if integral else "continuous"
    types = set(values.map(lambda v: type(v).__name__))
    if isinstance(column.dtype, pd.CategoricalDtype):
        return "categorical"
    if len(types) > 1:
        raise DataError(
            f"column '{name}' mixes types ({', '.join(sorted(types))}): make it one type, "
            f"or declare it categorical (--discrete {name})"
        )
    text = values.astype(str)
    numeric = pd.to_numeric(text, errors="coerce").notna()
    if numeric.mean() >= 0.5 and not numeric.all():
        example = text[~numeric].iloc[0]
        raise DataError(
            f"column '{name}' mixes numbers and text (e.g. '{example}'): clean it, "
            f"or declare it categorical (--discrete {name})"
        )
    if text.str.match(datetimes.ISO_DATE).all():
        return "datetime"
    if unique == n and (_ID_NAME.search(name) or n >= 20):
        return "id"
    return "categorical"


def fingerprint(frame: pd.DataFrame) -> str:
    """A hash of a table's contents: resuming must see the data the run started with."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update("\x00".join(frame.columns).encode())
    return digest.hexdigest()[:16]


# ---- the transformer ----------------------------------------------------------------------------
@dataclass
class TableTransformer:
    columns: list[Column] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, kinds: dict[str, str], seed: int = 0) -> TableTransformer:
        return cls([_fit_column(name, frame[name], kinds[name], seed) for name in frame.columns])

    # -- layout
    @property
    def spans(self) -> list[Span]:
        spans = []
        for c in self.columns:
            if not c.modelled:
                continue
            if c.one_hot:
                spans.append(
                    Span(
                        "softmax",
                        len(c.categories),
                        c.name,
                        "category" if c.conditionable else "level",
                    )
                )
                continue
            spans += [
                Span("tanh", 1, c.name, "value"),
                Span("softmax", len(c.means), c.name, "mode"),
            ]
            if c.missing_share > 0:
                spans.append(Span("softmax", 2, c.name, "missing"))
        return spans

    @property
    def width(self) -> int:
        return sum(s.size for s in self.spans)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise DataError(
            f"unknown column '{name}' (columns: {', '.join(c.name for c in self.columns)})"
        )

    @property
    def discrete(self) -> list[Column]:
        """The conditionable columns: what the conditional vector can ask for."""
        return [c for c in self.columns if c.modelled and c.conditionable]

    # -- encoding
    def transform(self, frame: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """Rows to the model's vectors; a value's mode is drawn from its posterior over the modes
        (as CTGAN does), with a fixed seed so the same table always encodes the same way."""
        rng = np.random.default_rng(numpy_seed(seed))
        parts = [np.zeros((len(frame), 0))]  # a table of ID columns only has no values to model
        for c in self.columns:
            if c.modelled:
                parts += _encode(c, frame[c.name], rng)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def category_index(self, name: str, value: Any) -> tuple[int, int]:
        """(position of the column among the discrete ones, position of the value) for `where`."""
        for j, c in enumerate(self.discrete):
            if c.name == name:
                for i, v in enumerate(c.categories):
                    if _same(v, value):
                        return j, i
                shown = ", ".join(str(v) for v in c.categories[:20])
                raise DataError(
                    f"'{value}' never occurs in column '{name}' of the training data "
                    f"(values: {shown}{' ...' if len(c.categories) > 20 else ''})"
                )
        if any(c.name == name for c in self.columns):
            raise DataError(
                f"column '{name}' is {self.column(name).kind}, not categorical: `where` takes "
                f"categorical or boolean columns, or those declared discrete at fit "
                f"({', '.join(c.name for c in self.discrete) or 'none here'})"
            )
        raise DataError(
            f"unknown column '{name}' (columns: {', '.join(c.name for c in self.columns)})"
        )

    # -- decoding
    def inverse(self, matrix: np.ndarray, id_offset: int = 0) -> pd.DataFrame:
        """Model vectors (tanh values, one-hot or scores per softmax span) back to a typed table."""
        out, pos, n = {}, 0, len(matrix)
        for c in self.columns:
            if not c.modelled:
                out[c.name] = _new_ids(c, n, id_offset)
                continue
            if c.one_hot:
                k = len(c.categories)
                out[c.name] = _decode_category(c, matrix[:, pos : pos + k].argmax(1))
                pos += k
                continue
            k = len(c.means)
            alpha = np.clip(matrix[:, pos], -1, 1)
            mode = matrix[:, pos + 1 : pos + 1 + k].argmax(1)
            with np.errstate(
                over="ignore"
            ):  # modes near the largest float: inf, clipped to the range below
                value = alpha * 4 * np.asarray(c.stds)[mode] + np.asarray(c.means)[mode]
            pos += 1 + k
            missing = np.zeros(n, dtype=bool)
            if c.missing_share > 0:
                missing = matrix[:, pos : pos + 2].argmax(1) == 1
                pos += 2
            out[c.name] = _decode_number(c, np.clip(value, c.low, c.high), missing)
        return pd.DataFrame(out)

    # -- JSON
    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableTransformer:
        return cls([Column(**c) for c in d["columns"]])

    @property
    def metadata(self) -> dict[str, str]:
        return {c.name: c.kind for c in self.columns}


def _same(a: Any, b: Any) -> bool:
    if a == MISSING or b is None or (isinstance(b, float) and np.isnan(b)):
        return a == MISSING and (
            b is None or b == MISSING or (isinstance(b, float) and np.isnan(b))
        )
    return a == b or str(a) == str(b)


def _python(v: Any) -> Any:
    """A numpy scalar as the plain Python value JSON takes."""
    return v.item() if isinstance(v, np.generic) else v


def _as_numbers(c: Column, series: pd.Series) -> np.ndarray:
    """A numeric or datetime column as floats (seconds for dates), NaN where missing; a value
    that is not a number (not a date), or an infinite one, is refused naming the column."""
    if c.kind == "datetime":
        stamps = datetimes.parse(series, utc=datetimes.is_aware(c.dtype))
        bad = stamps.isna() & series.notna()
        if bad.any():
            value = series[bad].iloc[0]
            raise DataError(
                f"column '{c.name}' is datetime but holds '{value}', "
                f"{datetimes.unreadable_reason(value, c.name)}"
            )
        return datetimes.to_seconds(stamps)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        raise DataError(f"column '{c.name}' is {c.kind} but holds '{series[bad].iloc[0]}'")
    x = values.to_numpy(dtype=float)
    _refuse_infinite(c.name, x)
    return x


def _refuse_infinite(name: str, x: np.ndarray) -> None:
    """inf and -inf are not values a column's distribution can hold (and not missing ones: an
    overflow or a division by zero upstream is a bug to fix there, not a gap to fill)."""
    infinite = np.isinf(x)
    if infinite.any():
        row = int(np.argmax(infinite))
        raise DataError(
            f"column '{name}' holds an infinite value ({x[row]:g} in data row {row + 1}): "
            "replace it with a number, or leave the cell empty to mark it missing"
        )


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _fit_column(name: str, series: pd.Series, kind: str, seed: int) -> Column:
    c = Column(name, kind, str(series.dtype), missing_share=float(series.isna().mean()))
    if kind == "id":
        numbers = pd.to_numeric(series, errors="coerce")
        if numbers.notna().all():
            c.id_start = int(numbers.max()) + 1  # new IDs never collide with the real ones
        return c
    if kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(
        series
    ):  # text: as pandas reads it
        aware = datetimes.is_aware(
            datetimes.parse(series).dtype
        )  # with UTC offsets: instants in UTC
        c.dtype = str(datetimes.parse(series, utc=aware).dtype)
    values = series.dropna()
    if kind == "integer":  # a few-valued one is one-hot: its values are checked here
        _refuse_infinite(name, _floats(series))
    if kind in ("categorical", "boolean") or (
        kind == "integer" and values.nunique() <= DISCRETE_INTEGER_MAX
    ):
        counts = values.value_counts(sort=False)
        categories = sorted(counts.index, key=lambda v: (str(type(v)), v))
        c.categories = [_python(v) for v in categories]
        c.counts = [int(counts[v]) for v in categories]
        if c.missing_share > 0:
            c.categories.append(MISSING)
            c.counts.append(int(series.isna().sum()))
        return c
    x = _as_numbers(c, series)
    present = x[~np.isnan(x)]
    c.mean, c.low, c.high = _mean(present), float(present.min()), float(present.max())
    c.means, c.stds, c.weights = _fit_modes(present, seed)
    if kind == "datetime" and np.all(np.mod(present, DAY_S) == 0):
        c.unit_s = DAY_S  # dates: sampled as dates, not as times of day
    return c


def _fit_modes(x: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    """Modes of a numeric column: *spikes* first, values that SPIKE_SHARE or more of the rows hold
    exactly (0 in a zero-inflated amount, a round loan size), as modes of zero width that decode
    to the value itself; then a variational Gaussian mixture of the other values."""
    values, counts = np.unique(x, return_counts=True)
    spike = counts >= SPIKE_SHARE * len(x)
    means, stds, weights = (
        list(values[spike]),
        [0.0] * int(spike.sum()),
        list(counts[spike] / len(x)),
    )
    rest = x[~np.isin(x, values[spike])]
    if len(rest):
        m, sd, w = _fit_mixture(rest, seed)
        means, stds, weights = means + m, stds + sd, weights + [v * len(rest) / len(x) for v in w]
    return [float(v) for v in means], [float(v) for v in stds], [float(v) for v in weights]


def numpy_seed(seed: int) -> int:
    """A gankit seed (any integer; negative ones too, as torch takes them) for numpy's
    `default_rng`, which takes non-negative ones: those are kept, a negative one wraps to 64
    bits."""
    return seed if seed >= 0 else seed % 2**64


def sklearn_seed(seed: int) -> int:
    """A gankit seed for scikit-learn's `random_state`, which takes 0 .. 2**32 - 1: the seed
    modulo 2**32 (the same number for a seed in that range)."""
    return seed % 2**32


def _fit_mixture(x: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    if len(x) > MIXTURE_FIT_ROWS:
        x = np.random.default_rng(numpy_seed(seed)).choice(x, MIXTURE_FIT_ROWS, replace=False)
    exponent = _overflow_exponent(x)
    if exponent:  # fitted in units of 2**exponent: squares of values past 1e154 overflow
        means, stds, weights = _fit_mixture(np.ldexp(x, -exponent), seed)
        return np.ldexp(means, exponent).tolist(), np.ldexp(stds, exponent).tolist(), weights
    spread = float(x.std())
    if spread == 0 or len(np.unique(x)) < 2:
        return [float(x.mean())], [max(spread, 1e-3 * max(abs(float(x.mean())), 1.0))], [1.0]
    gm = BayesianGaussianMixture(
        n_components=min(MAX_MODES, len(np.unique(x))),
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001,
        max_iter=100,
        n_init=1,
        random_state=sklearn_seed(seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(x.reshape(-1, 1))
    keep = gm.weights_ > MODE_WEIGHT_MIN
    means = gm.means_.ravel()[keep]
    stds = np.sqrt(gm.covariances_.ravel()[keep])
    weights = gm.weights_[keep] / gm.weights_[keep].sum()
    # no mode narrower than the data's resolution (a tenth of a unit for whole numbers)
    resolution = 0.1 if np.all(np.mod(x, 1) == 0) else 1e-4 * spread
    stds = np.maximum(stds, resolution)
    return means.tolist(), stds.tolist(), weights.tolist()


def _overflow_exponent(x: np.ndarray) -> int:
    """0, or for values so large that their squares (a variance) or sums (a mean) overflow, the
    power of two `e` such that x / 2**e is within [-1, 1] (`np.ldexp(x, -e)`, which loses no
    digit)."""
    largest = float(np.abs(x).max()) if len(x) else 0.0
    return 0 if largest < 2.0**500 else math.frexp(largest)[1]


def _mean(x: np.ndarray) -> float:
    """The mean, without overflowing to inf on two values near the largest float."""
    exponent = _overflow_exponent(x)
    return float(np.ldexp(np.ldexp(x, -exponent).mean(), exponent))


def _encode(c: Column, series: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
    n = len(series)
    if c.one_hot:
        index = {(_python(v) if v != MISSING else MISSING): i for i, v in enumerate(c.categories)}
        codes = np.empty(n, dtype=np.int64)
        for r, v in enumerate(series.tolist()):
            key = MISSING if pd.isna(v) else _python(v)
            if key not in index:
                raise DataError(f"'{v}' never occurs in column '{c.name}' of the training data")
            codes[r] = index[key]
        return [np.eye(len(c.categories), dtype=np.float32)[codes]]
    x = _as_numbers(c, series)
    missing = np.isnan(x)
    x = np.where(missing, c.mean, x)
    means, stds, weights = (np.asarray(v, dtype=float) for v in (c.means, c.stds, c.weights))
    spike = stds == 0
    exponent = _overflow_exponent(np.concatenate([x, means]))  # past 1e154, in units of 2**exponent
    x_, means_ = np.ldexp(x, -exponent), np.ldexp(means, -exponent)
    width = np.ldexp(np.where(spike, 1.0, stds), -exponent)
    with np.errstate(over="ignore"):  # a value far out of a narrow mode: z**2 = inf, probability 0
        z = (x_[:, None] - means_) / width
        log_p = np.where(spike, -np.inf, np.log(weights) - np.log(width) - 0.5 * z**2)
    if spike.all():  # only spikes: the nearest one
        log_p = -np.abs(z)
    far = np.isneginf(log_p.max(1))  # no mode gives the value any chance: the nearest one
    log_p[far] = -np.abs(x_[far, None] - means_)
    p = np.exp(log_p - log_p.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    mode = (p.cumsum(1) > rng.random((n, 1))).argmax(1)  # a draw from each row's posterior
    exact = (x[:, None] == means) & spike
    mode = np.where(exact.any(1), exact.argmax(1), mode)  # a spike's value is its spike
    alpha = np.where(
        spike[mode], 0.0, np.clip((x_ - means_[mode]) / (4 * width[mode]), -0.99, 0.99)
    )
    parts = [alpha[:, None], np.eye(len(means), dtype=np.float32)[mode]]
    if c.missing_share > 0:
        parts.append(np.eye(2, dtype=np.float32)[missing.astype(int)])
    return parts


def _decode_category(c: Column, codes: np.ndarray) -> pd.Series:
    values = [None if c.categories[i] == MISSING else c.categories[i] for i in codes]
    series = pd.Series(values, dtype=object)
    dtype = (
        c.dtype
        if c.missing_share == 0 or not series.isna().any()
        else "Int64"
        if c.kind == "integer" or c.dtype.startswith("int")
        else None
    )
    try:
        return series.astype(dtype) if dtype else series
    except (
        TypeError,
        ValueError,
        OverflowError,
    ):  # OverflowError: 2**63 read as a float is no Int64
        return series


def _decode_number(c: Column, value: np.ndarray, missing: np.ndarray) -> pd.Series:
    if c.kind == "datetime":
        step = c.unit_s or 1
        return datetimes.from_seconds(np.round(value / step) * step, c.dtype, missing)
    if c.kind == "integer":
        series = pd.Series(np.round(value)).astype("Int64")
        series[missing] = pd.NA
        return series if missing.any() or not c.dtype.startswith("int") else series.astype(c.dtype)
    series = pd.Series(value.astype(float))
    series[missing] = np.nan
    return series


def _new_ids(c: Column, n: int, offset: int) -> pd.Series:
    if c.id_start is not None:
        return pd.Series(np.arange(c.id_start + offset, c.id_start + offset + n), dtype="int64")
    return pd.Series([f"synthetic-{offset + i + 1}" for i in range(n)], dtype=object)
