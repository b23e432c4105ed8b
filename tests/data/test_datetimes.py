"""Datetimes to seconds and back in every unit pandas stores (s, ms, us, ns), naive and aware."""

import datetime

import numpy as np
import pandas as pd
import pytest

from gankit.data import datetimes
from gankit.data.table import TableTransformer, infer_kinds

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

UNITS = ["s", "ms", "us", "ns"]
PANDAS_3 = datetimes.PANDAS_MAJOR >= 3


def stamps(
    unit,
    tz=None,
    values=("2021-01-01 00:00:00", "2021-06-30 13:45:17", None, "1999-12-31 23:59:59"),
):
    naive = pd.Series(pd.to_datetime(list(values))).astype(f"datetime64[{unit}]")
    return naive.dt.tz_localize(tz) if tz else naive


@pytest.mark.parametrize("unit", UNITS)
def test_seconds_are_the_same_in_every_unit(unit):
    """The bug this guards: pandas 3 reads text into microseconds, and
    int64 / 1e9 put 2021 in 1970."""
    seconds = datetimes.to_seconds(stamps(unit))
    assert seconds[0] == 1_609_459_200.0
    assert seconds[1] == 1_609_459_200.0 + 180 * 86_400 + 13 * 3600 + 45 * 60 + 17
    assert np.isnan(seconds[2]) and seconds[3] == 946_684_799.0


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize(
    "tz", [None, "UTC", "Europe/Paris", datetime.timezone(datetime.timedelta(hours=-5))]
)
def test_round_trip_keeps_values_unit_and_time_zone(unit, tz):
    original = stamps(unit, tz)
    back = datetimes.from_seconds(datetimes.to_seconds(original), str(original.dtype))
    assert back.dtype == original.dtype
    assert back.isna().equals(original.isna())
    assert (back[original.notna()] == original[original.notna()]).all()


def test_aware_timestamps_count_from_utc_and_naive_ones_from_wall_clock():
    paris = stamps("us", "Europe/Paris")
    # midnight in Paris is 23:00 UTC
    assert datetimes.to_seconds(paris)[0] == 1_609_459_200.0 - 3600
    assert datetimes.to_seconds(stamps("us"))[0] == 1_609_459_200.0


def test_sub_second_values_survive_in_fine_units():
    t = pd.Series(pd.to_datetime(["2021-01-01 00:00:00.123456"])).astype("datetime64[us]")
    back = datetimes.from_seconds(datetimes.to_seconds(t), "datetime64[us]")
    assert back[0] == t[0]
    # half to even
    assert datetimes.from_seconds(np.array([0.5]), "datetime64[s]")[0] == pd.Timestamp("1970-01-01")


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_dates_beyond_the_nanosecond_range_round_trip(unit):
    """Nanoseconds end in 1677 and 2262; microsecond data (pandas 3's
    default) holds years 1 to 9999."""
    old = pd.Series(
        np.array(["1500-03-04T06:00", "2500-01-01", "1066-10-14"], dtype=f"datetime64[{unit}]")
    )
    seconds = datetimes.to_seconds(old)
    assert seconds[0] < -14_000_000_000 and seconds[1] > 16_000_000_000
    back = datetimes.from_seconds(seconds, str(old.dtype))
    assert back.dtype == old.dtype and (back == old).all()


def test_a_value_beyond_the_units_range_moves_to_a_coarser_unit_instead_of_wrapping():
    back = datetimes.from_seconds(np.array([0.0, 300 * 365.25 * 86_400]), "datetime64[ns]")
    assert datetimes.unit_of(back.dtype) == "us"
    assert back[1].year == 2270 and back[0] == pd.Timestamp("1970-01-01")


def test_missing_and_non_finite_seconds_are_nat():
    back = datetimes.from_seconds(
        np.array([0.0, np.nan, np.inf, 86_400.0]),
        "datetime64[ns]",
        missing=np.array([True, False, False, False]),
    )
    assert back.isna().tolist() == [True, True, True, False]


def test_units_that_pandas_does_not_store_are_refused():
    with pytest.raises(TypeError):
        datetimes.unit_of("int64")
    with pytest.raises(TypeError):
        datetimes.unit_of(np.dtype("datetime64[D]"))


def test_text_parses_with_mixed_offsets_as_utc_instants_on_every_pandas():
    text = pd.Series(["2021-03-27T10:00:00+01:00", "2021-03-29T10:00:00+02:00", None])
    parsed = datetimes.parse(text)
    assert str(parsed.dt.tz) == "UTC"
    assert datetimes.to_seconds(parsed)[0] == pd.Timestamp("2021-03-27T09:00:00Z").timestamp()
    same = datetimes.parse(pd.Series(["2021-03-27T10:00:00+02:00"] * 2))
    assert (
        datetimes.is_aware(same.dtype)
        and datetimes.to_seconds(same)[0] == pd.Timestamp("2021-03-27T08:00Z").timestamp()
    )


# ---- through the table transformer (the path that sampled 2021 as 1970) --------------------------
def _round_trip(frame):
    tr = TableTransformer.fit(frame, infer_kinds(frame))
    tr = TableTransformer.from_dict(tr.to_dict())  # as a saved run reads it back
    return tr, tr.inverse(tr.transform(frame))


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_table_columns_of_every_unit_and_zone_sample_in_their_range(unit, tz):
    n = 60
    base = pd.Series(pd.date_range("2021-01-01", periods=n, freq="7h")).astype(
        f"datetime64[{unit}]"
    )
    frame = pd.DataFrame({"at": base.dt.tz_localize(tz) if tz else base, "x": np.arange(n) % 3})
    tr, back = _round_trip(frame)
    assert back["at"].dtype == frame["at"].dtype
    assert (back["at"] - frame["at"]).abs().max() <= pd.Timedelta(seconds=1)
    assert back["at"].min() >= frame["at"].min() and back["at"].max() <= frame["at"].max()


def test_iso_text_dates_sample_as_the_same_dates():
    """The issue's reproducer: a CSV column of ISO dates from 2021 came back as 1970-01-19."""
    days = pd.date_range("2021-01-01", periods=90, freq="D")
    frame = pd.DataFrame({"opened": days.strftime("%Y-%m-%d")})
    tr, back = _round_trip(frame)
    assert tr.column("opened").unit_s == 86_400
    assert (back["opened"] == days).all()
    assert back["opened"].dt.year.eq(2021).all()


def test_text_dates_beyond_the_nanosecond_range():
    frame = pd.DataFrame({"when": [f"{1500 + i}-03-04" for i in range(0, 240, 20)]})
    if PANDAS_3:
        _, back = _round_trip(frame)
        assert (back["when"].dt.strftime("%Y-%m-%d") == frame["when"]).all()
    else:
        from gankit.errors import DataError

        with pytest.raises(
            DataError,
            match=r"^column 'when' is datetime but holds '1500-03-04', a date pandas "
            r"\S+ cannot read from text .*install pandas 3",
        ):
            TableTransformer.fit(frame, infer_kinds(frame))


def test_table_json_of_nanosecond_runs_still_decodes_to_nanoseconds():
    """table.json written before the unit-safe conversion recorded text columns as datetime64[ns]
    and their values in seconds: they decode as they did."""
    frame = pd.DataFrame(
        {"opened": pd.date_range("2021-01-01", periods=40, freq="D").strftime("%Y-%m-%d")}
    )
    saved = TableTransformer.fit(frame, infer_kinds(frame)).to_dict()
    saved["columns"][0]["dtype"] = "datetime64[ns]"
    tr = TableTransformer.from_dict(saved)
    back = tr.inverse(tr.transform(frame))["opened"]
    assert (
        str(back.dtype) == "datetime64[ns]"
        and (back.dt.strftime("%Y-%m-%d") == frame["opened"]).all()
    )
