"""Fuzzing the checkpoints gankit reads back: random bytes, a real checkpoint cut at every length or
with bytes changed, a valid safetensors header over garbage tensors, and gankit's own metadata
over a state with keys missing, tensors of the wrong shape or dtype, values of the wrong type.
`checkpoint.load` / `load_latest` return a state or raise a CheckpointError in one line; `gankit
sample RUN` and `gankit train --resume` exit 0 or 2, write no grid and no checkpoint when they
fail, and leave the run as it was."""

import contextlib
import copy
import json
import shutil
import struct
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fuzzing import CI_EXAMPLES, COUNTS, examples, files_under, fuzz_target, outcome, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from gankit.errors import CheckpointError
from gankit.train import checkpoint as ckpt

TINY = [
    "--preset",
    "seed-mlp",
    "--no-progress",
    "model.hidden=[8]",
    "model.z_dim=4",
    "optim.batch_size=4",
    "train.device=cpu",
    "train.threads=1",
    "train.log_every=1",
    "train.checkpoint_every=1",
    "train.sample_every=1",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A two-step run of the seed MLP on the digits, a checkpoint at each step."""
    folder = tmp_path_factory.mktemp("fuzz-ckpt") / "run"
    code, _, _ = run_cli(None, ["train", "--steps", "2", "--out", str(folder), *TINY])
    assert code == 0 and len(ckpt.list_checkpoints(folder / "checkpoints")) == 2
    return folder


DTYPES = [
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
]


def tensors() -> st.SearchStrategy:
    """A small tensor of any dtype and shape, empty ones and NaN included."""
    shape = st.lists(st.integers(0, 9), max_size=3)
    return st.builds(
        lambda dtype, shape, nan: (
            torch.full(shape, float("nan"))
            if nan
            else torch.arange(int(torch.tensor(shape).prod()) if shape else 1).reshape(shape)
        ).to(dtype),
        st.sampled_from(DTYPES),
        shape,
        st.booleans(),
    )


def json_values() -> st.SearchStrategy:
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 70),
        st.integers(2**62, 2**70),
        st.floats(),
        st.text(max_size=6),
    )
    return st.recursive(
        scalar,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
        ),
        max_leaves=4,
    )


def paths(obj, prefix=()):  # noqa: ANN001, ANN201
    """Every key path into a nested state, parents before children."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def mutate(state: dict, path: tuple, how: str, draw) -> None:  # noqa: ANN001
    """One change at `path`: the entry deleted, or replaced by another tensor, the same values in
    another shape or dtype, or a value of any JSON type."""
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if isinstance(parent, tuple):
        return  # tuples (Adam's betas) are replaced whole, from their parent
    old = parent[key]
    if how == "delete" and isinstance(parent, dict):
        del parent[key]
    elif how == "reshape" and isinstance(old, torch.Tensor) and old.numel() > 1:
        parent[key] = old.reshape(-1) if old.dim() > 1 else old.reshape(1, -1)
    elif how == "dtype" and isinstance(old, torch.Tensor):
        parent[key] = old.to(draw(st.sampled_from(DTYPES)))
    elif how == "tensor":
        parent[key] = draw(tensors())
    else:
        parent[key] = draw(json_values())


@st.composite
def damaged_states(draw, state: dict, depth: int = 1) -> dict:
    """The run's state with 1-3 changes, the config's options among the places changed, at
    `depth` or deeper."""
    state = copy.deepcopy(state)
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in paths(state) if len(p) >= depth]
        path = draw(st.sampled_from(where))
        mutate(
            state,
            path,
            draw(st.sampled_from(["delete", "reshape", "dtype", "tensor", "value"])),
            draw,
        )
    return state


@st.composite
def damaged_bytes(draw, raw: bytes, header_flips: bool = True) -> bytes:
    """A checkpoint file cut short, with bytes changed (in its tensors only, unless
    `header_flips`), or its header's JSON rewritten (tensors of other dtypes, shapes and
    offsets over the same bytes)."""
    size = int.from_bytes(raw[:8], "little")
    how = draw(st.sampled_from(["cut", "flip", "header", "random"]))
    if how == "random":
        return draw(st.binary(max_size=200))
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if how == "flip":
        flipped = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            flipped[draw(st.integers(0 if header_flips else 8 + size, len(raw) - 1))] ^= draw(
                st.integers(1, 255)
            )
        return bytes(flipped)
    header = json.loads(raw[8 : 8 + size])
    body = raw[8 + size :]
    name = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    entry = header[name]
    field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "delete"]))
    if field == "dtype":
        entry["dtype"] = draw(
            st.sampled_from(
                ["F32", "F16", "BF16", "F64", "I64", "I8", "U8", "BOOL", "F8_E4M3", "X", 3]
            )
        )
    elif field == "shape":
        entry["shape"] = draw(
            st.lists(
                st.one_of(st.integers(0, 9), st.integers(2**31, 2**64 + 1), st.integers(-2, -1)),
                max_size=3,
            )
        )
    elif field == "data_offsets":
        entry["data_offsets"] = draw(
            st.lists(st.integers(-1, len(body) + 8), min_size=0, max_size=3)
        )
    else:
        del header[name]
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def newest(run: Path) -> Path:
    return ckpt.list_checkpoints(run / "checkpoints")[-1]


def damage(target: Path, source: Path, data: st.DataObject) -> None:
    """Write to `target` the checkpoint `source` damaged: its bytes, or its state (then saved)."""
    if data.draw(st.booleans()):
        target.write_bytes(data.draw(damaged_bytes(source.read_bytes())))
    else:
        state = data.draw(damaged_states(ckpt.load(source)))
        with tempfile.TemporaryDirectory() as folder:
            target.write_bytes(ckpt.save(Path(folder) / "s.safetensors", state).read_bytes())


@contextlib.contextmanager
def copied(run: Path) -> Iterator[Path]:
    """A copy of the run to damage."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(shutil.copytree(run, Path(folder) / "run"))


def check_state(state: dict) -> None:
    assert isinstance(state, dict) and isinstance(state["step"], int)


# ---- the API: checkpoint.load and load_latest ----------------------------------------------------
@given(st.data())
@examples(60)
@fuzz_target("checkpoint files (checkpoint.load)")
def test_damaged_checkpoint_files_load_or_raise_a_checkpoint_error(run, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "step_0000009.safetensors"
        damage(path, newest(run), data)
        state, _ = outcome("checkpoint files (checkpoint.load)", lambda: ckpt.load(path))
    if state is not None:
        check_state(state)


def test_a_checkpoint_cut_at_every_length_is_refused(run):
    """A real checkpoint cut short. Under the long profile at every length; in CI at every length
    of its first 512 bytes and 64 each side of where its tensors start and end, and every 13th
    length between. None loads; each is refused in one line."""
    raw = newest(run).read_bytes()
    start = 8 + int.from_bytes(raw[:8], "little")
    stride = 1 if settings.default.max_examples > CI_EXAMPLES else 13
    lengths = {
        *range(512),
        *range(start - 64, start + 64),
        *range(len(raw) - 64, len(raw)),
        *range(0, len(raw), stride),
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.safetensors"
        path.write_bytes(raw)
        with open(path, "r+b") as f:
            # cut shorter and shorter (opening a file for writing is slow)
            for length in sorted(lengths, reverse=True):
                f.truncate(length)
                f.flush()
                with pytest.raises(CheckpointError) as e:
                    ckpt.load(path)
                assert "\n" not in str(e.value)
    COUNTS["checkpoint files cut at N bytes (checkpoint.load)"].update(
        tried=len(lengths), refused=len(lengths)
    )


@given(st.data())
@examples(30)
@fuzz_target("run folders (checkpoint.load_latest)")
def test_load_latest_returns_the_newest_readable_checkpoint(run, data):
    """A run whose checkpoints are each intact or damaged: the newest intact one, or an error."""
    with copied(run) as copy_dir:
        intact = []
        for path in ckpt.list_checkpoints(copy_dir / "checkpoints"):
            if data.draw(st.booleans()):
                path.write_bytes(data.draw(damaged_bytes(path.read_bytes())))
            else:
                intact.append(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found, error = outcome(
                "run folders (checkpoint.load_latest)", lambda: ckpt.load_latest(copy_dir)
            )
        assert all("\n" not in str(w.message) for w in caught)
        # damage may leave one readable
        readable = [p for p in ckpt.list_checkpoints(copy_dir / "checkpoints") if _loads(p)]
        assert set(intact) <= set(readable)
        if found is None:
            assert not readable or isinstance(error, ckpt.NewerCheckpointError)
        else:
            path, state = found
            check_state(state)
            assert path == readable[-1]


def _loads(path: Path) -> bool:
    try:
        ckpt.load(path)
        return True
    except ckpt.NewerCheckpointError:
        return True  # readable: load_latest stops at it
    except CheckpointError:
        return False


# ---- the commands that read them -----------------------------------------------------------------
@given(st.data())
@examples(15)
@fuzz_target("checkpoint files (gankit sample)")
def test_gankit_sample_on_a_damaged_checkpoint(run, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "step_0000002.safetensors"
        damage(path, newest(run), data)
        grid = Path(folder) / "grid.png"
        code, _, _ = run_cli(
            "checkpoint files (gankit sample)", ["sample", str(path), "-n", "4", "-o", str(grid)]
        )
        assert grid.exists() == (code == 0)


@given(st.data())
@examples(15)
@fuzz_target("checkpoint files (gankit train --resume)")
def test_gankit_train_resume_from_a_damaged_checkpoint(run, data):
    """The newest checkpoint damaged: the run resumes (from it, or from the older one when it
    cannot be read; it may diverge on damaged weights, exit 1) or is refused, and a refused run's
    files are all as they were."""
    with copied(run) as copy_dir:
        damage(newest(copy_dir), newest(copy_dir), data)
        before = files_under(copy_dir)
        code, _, _ = run_cli(
            "checkpoint files (gankit train --resume)",
            ["train", "--resume", "--out", str(copy_dir), "--steps", "3", *TINY],
        )
        if code == 2:
            assert files_under(copy_dir) == before
        elif code == 0:
            assert ckpt.load_latest(copy_dir)[1]["step"] == 3
        else:  # diverged on damaged weights: no checkpoint of the diverged weights
            assert newest(copy_dir).name == "step_0000002.safetensors"


def test_a_checkpoint_whose_config_is_not_a_mapping_is_refused_in_one_line(run, tmp_path):
    """`config: null` in a checkpoint's state: config.from_dict raised AttributeError (a traceback
    from `gankit sample`)."""
    state = ckpt.load(newest(run))
    state["config"] = None
    path = ckpt.save(tmp_path / "step_0000002.safetensors", state)
    code, _, stderr = run_cli(
        None, ["sample", str(path), "-n", "4", "-o", str(tmp_path / "grid.png")]
    )
    assert code == 2 and "a config is a mapping of sections and options, not a NoneType" in stderr
    assert not (tmp_path / "grid.png").exists()
