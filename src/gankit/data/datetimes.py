"""Datetimes to numbers and back, whatever their unit (s, ms, us, ns) and time zone.

A model sees a datetime column as seconds since 1970-01-01 UTC. The integer behind a timestamp
counts the dtype's unit: pandas 2 reads text into nanoseconds, pandas 3 into microseconds, and a
user's DataFrame may hold any of the four. Read without its unit, a date is off by a factor of
1,000 or more, so every conversion between datetimes and numbers goes through this module.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

#: ticks of each unit pandas stores timestamps in, per second
TICKS_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
#: ISO 8601 text: a date, optionally a time of day, optionally a UTC offset
ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_INT64_MAX = np.iinfo(np.int64).max
PANDAS_MAJOR = int(pd.__version__.split(".")[0])


def unit_of(dtype: Any) -> str:
    """The unit ('s', 'ms', 'us' or 'ns') a datetime dtype counts in, naive or time-zone aware."""
    dtype = pd.api.types.pandas_dtype(dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit
    if dtype.kind != "M":
        raise TypeError(f"{dtype} is not a datetime dtype")
    unit, count = np.datetime_data(dtype)
    if unit not in TICKS_PER_SECOND or count != 1:
        raise TypeError(f"datetime unit {count}{unit} is not one pandas stores")
    return unit


def is_aware(dtype: Any) -> bool:
    """Whether a dtype (or its name, as table.json records it) carries a time zone."""
    return isinstance(pd.api.types.pandas_dtype(dtype), pd.DatetimeTZDtype)


def to_seconds(stamps: pd.Series) -> np.ndarray:
    """Seconds since 1970-01-01 (UTC for aware timestamps, wall-clock for naive ones) as floats,
    NaN where missing. Whole seconds stay exact: the ticks are split before they become floats."""
    index = pd.DatetimeIndex(stamps)
    per = TICKS_PER_SECOND[unit_of(index.dtype)]
    whole, rest = np.divmod(index.asi8, per)
    seconds = whole.astype(float) + rest / per
    seconds[np.asarray(index.isna())] = np.nan
    return seconds


def from_seconds(seconds: np.ndarray, dtype: Any, missing: np.ndarray | None = None) -> pd.Series:
    """Timestamps of `dtype` (its unit and time zone) from seconds since 1970-01-01, NaT where
    `missing` or not finite. A value beyond the unit's range (nanoseconds end in 1677 and 2262)
    is written in the finest unit that holds every value, never wrapped around."""
    target = pd.api.types.pandas_dtype(dtype)
    seconds = np.asarray(seconds, dtype=float)
    missing = ~np.isfinite(seconds) | (
        np.zeros(len(seconds), bool) if missing is None else np.asarray(missing)
    )
    present = np.where(missing, 0.0, seconds)
    unit = _unit_holding(present, unit_of(target))
    per = TICKS_PER_SECOND[unit]
    whole = np.floor(present)
    ticks = whole.astype(np.int64) * per + np.round((present - whole) * per).astype(np.int64)
    values = ticks.astype(f"datetime64[{unit}]")
    values[missing] = np.datetime64("NaT")
    stamps = pd.Series(values)
    if isinstance(target, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(target.tz)
    return stamps


def _unit_holding(seconds: np.ndarray, unit: str) -> str:
    """`unit`, or the first coarser one whose int64 ticks hold every value."""
    largest = float(np.abs(seconds).max()) + 1 if len(seconds) else 0.0
    units = list(TICKS_PER_SECOND)
    for candidate in reversed(units[: units.index(unit) + 1]):
        if largest * TICKS_PER_SECOND[candidate] < _INT64_MAX:
            return candidate
    raise OverflowError(f"{largest:g} s from 1970 is beyond any datetime unit")


def parse(series: pd.Series, utc: bool = False) -> pd.Series:
    """Timestamps from a column of text or timestamps, NaT where missing or unreadable.

    ISO text (what the kind inference calls datetime) is read as ISO 8601 value by value, so
    dates with and without a time of day mix. Text with different UTC offsets (a column across a
    change of daylight saving time) is read as instants in UTC, on every pandas version (pandas 3
    raises on it, pandas 2 returns objects). `utc=True` reads every column as instants in UTC.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_convert("UTC") if utc and is_aware(series.dtype) else series
    text = series.dropna()
    iso = (
        len(text) > 0
        and text.map(lambda v: isinstance(v, str)).all()
        and text.str.match(ISO_DATE).all()
    )
    options: dict[str, Any] = {"format": "ISO8601"} if iso else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas 2 on mixed offsets: handled below
        warnings.simplefilter("ignore", UserWarning)  # pandas guessing a format for other text
        try:
            stamps = pd.to_datetime(series, errors="coerce", utc=utc, **options)
        except ValueError:  # pandas 3: "Mixed timezones detected"
            stamps = None
        if stamps is None or not pd.api.types.is_datetime64_any_dtype(stamps):
            stamps = pd.to_datetime(series, errors="coerce", utc=True, **options)
    return stamps


def unreadable_reason(value: Any, column: str) -> str:
    """Why a value of a datetime column did not parse and what to do, for the error naming it."""
    if (
        isinstance(value, str)
        and ISO_DATE.match(value)
        and PANDAS_MAJOR < 3
        and not 1678 <= int(value[:4]) <= 2261
    ):
        return (
            f"a date pandas {pd.__version__} cannot read from text (it reads text in nanoseconds, "
            f"from 1677 to 2262): install pandas 3, or declare the column categorical "
            f"(--discrete {column})"
        )
    return (
        "which is not a date pandas can read: fix it, or declare the column categorical "
        f"(--discrete {column})"
    )
