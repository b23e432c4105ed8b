"""Fuzzing the tables a user feeds `gankit tabular fit`: CSV files of mixed types, all-missing
columns, one row, one column, huge integers, unicode names, dates, then the reversible transformer
over them. `read_table`, `infer_kinds` and `TableTransformer.fit` return their result or raise a
GankitError in one line; what fits encodes to finite vectors of its width and decodes (from those
vectors, or from any the generator could give) to a table of the same columns, categories intact;
and `gankit tabular fit` exits 0 or 2, a failed fit leaving no run directory behind."""

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from fuzzing import examples, fuzz_target, outcome, run_cli
from hypothesis import example, given
from hypothesis import strategies as st

from gankit.data.table import KINDS as KIND_NAMES
from gankit.data.table import MIN_ROWS, TableTransformer, infer_kinds, read_table

MISSING = ""
# Names and texts without line breaks (a GankitError writes a quoted one
# as \\n: the test at the end)
NO_BREAKS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")


def cells(kind: str) -> st.SearchStrategy:
    """The text of one cell of a column of `kind` ("" is a missing value)."""
    return {
        "small int": st.integers(-3, 3).map(str),
        "int": st.integers(-(10**6), 10**6).map(str),
        "huge int": st.one_of(
            st.integers(2**53 - 2, 2**53 + 2),
            st.integers(2**63 - 2, 2**64 + 2),
            st.integers(-(2**64), -(2**63) + 2),
            st.just(str(10**30)),
        ).map(str),
        "float": st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
        "any float": st.one_of(st.floats(), st.sampled_from([1e308, -1e308, 5e-324])).map(repr),
        "bool": st.sampled_from(["True", "False", "true", "0", "1"]),
        "category": st.sampled_from(["a", "b", "c", "ä", "日本", " a ", "NA", "None", "null"]),
        "text": st.text(NO_BREAKS, max_size=8),
        "date": st.dates().map(str),
        "datetime": st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
        "mixed": st.one_of(st.integers(0, 9).map(str), st.sampled_from(["x", "y"])),
    }[kind]


KINDS = [
    "small int",
    "int",
    "huge int",
    "float",
    "any float",
    "bool",
    "category",
    "text",
    "date",
    "datetime",
    "mixed",
]
NAMES = st.one_of(
    st.sampled_from(["amount", "id", "user_id", "Class", "1", "ünïcödé", "名前", "a,b", " ", ""]),
    st.text(NO_BREAKS, max_size=6),
)


@st.composite
def tables(draw, max_rows: int = 40) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of 1-4 columns and 0-max_rows rows; each column of one kind with a share of
    missing cells (all, in some), or all of one value."""
    n_rows = draw(st.sampled_from([MIN_ROWS, max_rows, max_rows, MIN_ROWS + 1, 0, 1, MIN_ROWS - 1]))
    header = draw(st.lists(NAMES, min_size=1, max_size=4))
    columns = []
    for _ in header:
        kind = draw(st.sampled_from(KINDS))
        missing = draw(st.sampled_from([0.0, 0.0, 0.2, 1.0]))
        constant = draw(st.integers(0, 7)) == 0
        first = draw(cells(kind))
        column = [first if constant else draw(cells(kind)) for _ in range(n_rows)]
        columns.append(
            [MISSING if draw(st.floats(0, 1)) < missing else v for v in column]
            if missing
            else column
        )
    return header, [list(row) for row in zip(*columns, strict=True)] if columns else []


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode()


@st.composite
def csv_files(draw) -> bytes:
    """A CSV file of a fuzzed table, sometimes cut short, with bytes changed, or not text at all."""
    raw = csv_bytes(*draw(tables()))
    damage = draw(st.sampled_from(["none", "none", "none", "none", "cut", "flip", "bytes"]))
    if damage == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if damage == "flip" and raw:
        flipped = bytearray(raw)
        flipped[draw(st.integers(0, len(raw) - 1))] = draw(st.sampled_from(list(b',"\n\r\x00\xff')))
        return bytes(flipped)
    if damage == "bytes":
        return draw(st.binary(max_size=80))
    return raw


def check_transformer(
    frame: pd.DataFrame, kinds: dict[str, str], transformer: TableTransformer
) -> None:
    """Encodes to finite vectors of its width, decodes back to the same columns with every
    categorical value intact, survives its JSON, and decodes anything a generator could output."""
    matrix = transformer.transform(frame, seed=0)
    assert matrix.shape == (len(frame), transformer.width) and np.isfinite(matrix).all()
    back = transformer.inverse(matrix)
    assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
    for name, kind in kinds.items():
        if kind in ("categorical", "boolean"):
            assert all(
                a == b or str(a) == str(b) or (pd.isna(a) and pd.isna(b))  # -0.0 is 0.0
                for a, b in zip(back[name], frame[name], strict=True)
            ), name
    again = TableTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))
    assert again.spans == transformer.spans
    noise = np.random.default_rng(0).normal(0, 3, (7, transformer.width)).astype(np.float32)
    generated = transformer.inverse(noise)
    assert list(generated.columns) == list(frame.columns) and len(generated) == 7


def fit_table(
    label: str,
    frame: pd.DataFrame,
    discrete: list[str] = (),
    declared: dict[str, str] | None = None,
) -> None:
    """Kinds, then the transformer, each counted under `label`."""
    kinds, _ = outcome(f"{label} (infer_kinds)", lambda: infer_kinds(frame, discrete, declared))
    if kinds is None:
        return
    transformer, _ = outcome(
        f"{label} (TableTransformer)", lambda: TableTransformer.fit(frame, kinds, seed=0)
    )
    if transformer is not None:
        check_transformer(frame, kinds, transformer)


@given(csv_files())
@examples(60)
@fuzz_target("CSV tables (read_table)")
# values past 1e154: the mixture's variance overflowed (sklearn: "array
# must not contain infs or NaNs")
@example(b"amount\n" + b"0.0\n" * 37 + b"1.3407807929942597e+154\n0.5\n")
# ... and near the largest float: the mean of two overflowed, 2.0 ** 1024 too
@example(b"amount\n" + b"0.0\n" * 8 + b"8.988465674311935e+307\n8.988465674311935e+307\n0.5\n")
# 2**63 as a float in a few-valued integer column with gaps: its Int64 cast raised OverflowError
@example(b"a,b\n" + b"0,\n" * 9 + b"0,9.223372036854776e+18\n0,\n")
# ID columns only (21 distinct texts): transform concatenated no arrays (ValueError)
@example(b"code\n" + b"".join(b"c%d\n" % i for i in range(21)))
def test_csv_files_read_fit_and_decode_or_raise_a_gankit_error(raw):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t.csv").write_bytes(raw)
        frame, _ = outcome("CSV tables (read_table)", lambda: read_table(Path(folder) / "t.csv"))
    if frame is not None:
        fit_table("CSV tables", frame)


@given(st.data())
@examples(40)
@fuzz_target("CSV tables, kinds declared (read_table)")
def test_declared_kinds_and_discrete_columns_fit_or_raise_a_gankit_error(data):
    """`discrete=` and `kinds=` naming any column (or none of them) with any kind, valid or not."""
    header, rows = data.draw(tables())
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t.csv").write_bytes(csv_bytes(header, rows))
        frame, _ = outcome(
            "CSV tables, kinds declared (read_table)", lambda: read_table(Path(folder) / "t.csv")
        )
    if frame is None:
        return
    names = st.one_of(st.sampled_from(list(frame.columns)), st.text(NO_BREAKS, max_size=3))
    discrete = data.draw(st.lists(names, max_size=2))
    declared = data.draw(st.dictionaries(names, st.sampled_from([*KIND_NAMES, "nope"]), max_size=2))
    fit_table("CSV tables, kinds declared", frame, discrete, declared)


# ---- `gankit tabular fit` ------------------------------------------------------------------------
TINY = [
    "--epochs",
    "1",
    "--no-progress",
    "model.hidden=[8]",
    "model.d_hidden=[8]",
    "model.z_dim=4",
    "optim.batch_size=10",
    "model.pack=1",
    "train.threads=1",
    "train.device=cpu",
]


@given(
    csv_files(),
    st.sampled_from(["ctgan", "tvae"]),
    st.sampled_from([None, "amount", "Class", "id", "nope"]),
)
@examples(6)
@fuzz_target("CSV tables (gankit tabular fit)")
def test_gankit_tabular_fit_on_a_fuzzed_csv_file(raw, model, target):
    with tempfile.TemporaryDirectory() as folder:
        data, out = Path(folder) / "t.csv", Path(folder) / "run"
        data.write_bytes(raw)
        code, _, _ = run_cli(
            "CSV tables (gankit tabular fit)",
            [
                "tabular",
                "fit",
                str(data),
                "--model",
                model,
                "--out",
                str(out),
                *(["--target", target] if target else []),
                *TINY,
            ],
        )
        if code == 2:
            assert not out.exists(), f"a failed fit left {sorted(p.name for p in out.rglob('*'))}"
        else:
            assert (out / "table.json").is_file() and list(
                (out / "checkpoints").glob("step_*.safetensors")
            )


def test_a_column_name_with_a_line_break_is_refused_in_one_line(tmp_path):
    (tmp_path / "t.csv").write_bytes(b'amount,"x\ny"\n' + b"1,\n" * 10)
    code, _, stderr = run_cli(
        None, ["tabular", "fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "run"), *TINY]
    )
    assert code == 2 and "only missing values" in stderr
