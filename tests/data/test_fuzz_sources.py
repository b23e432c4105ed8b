"""Fuzzing the image sources a user points gankit at: MNIST's IDX files and folders of images.
Whatever the bytes, `load_mnist` / `load_folder` return a well-formed Dataset or raise a DataError
in one line, and `gankit train` on them exits 0 or 2 with no traceback and no run left behind."""

import gzip
import io
import math
import resource
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from fuzzing import examples, files_under, fuzz_target, outcome, run_cli
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gankit.data.folder import load_folder
from gankit.data.mnist import IMAGES_MAGIC, LABELS_MAGIC, load_mnist
from gankit.errors import DataError

# ---- IDX -----------------------------------------------------------------------------------------
DIMS = st.one_of(st.integers(0, 6), st.sampled_from([28, 2**16, 2**31, 2**32 - 1]))


@st.composite
def idx_bytes(draw, magic: int, dims: list[int]) -> bytes:
    """An IDX file: well-formed with `dims`, random bytes, or a header (of the right magic or a
    near miss) with dimensions from 0 to 2**32 - 1 and a body of about the size they promise,
    then maybe cut short."""
    form = draw(st.sampled_from(["intact", "intact", "intact", "random", "damaged", "damaged"]))
    if form == "random":
        return draw(st.binary(max_size=40))
    if form == "damaged":
        magic = draw(
            st.sampled_from(
                [
                    magic,
                    magic,
                    LABELS_MAGIC + IMAGES_MAGIC - magic,
                    magic & 0xFF00 | 0x0D,
                    draw(st.integers(0, 2**32 - 1)),
                ]
            )
        )
        dims = draw(st.lists(DIMS, min_size=len(dims), max_size=len(dims)))
    promised = math.prod(dims)
    size = (
        promised + (form == "damaged") * draw(st.integers(-2, 2))
        if promised <= 512
        else draw(st.integers(0, 64))
    )
    body = draw(st.binary(min_size=max(0, size), max_size=max(0, size)))
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + body
    return (
        raw[: draw(st.integers(0, len(raw)))] if form == "damaged" and draw(st.booleans()) else raw
    )


def gzipped(data: st.DataObject, raw: bytes) -> bytes:
    """`raw` gzipped, sometimes with a flipped byte or cut short."""
    packed = bytearray(gzip.compress(raw, mtime=0))
    damage = data.draw(st.sampled_from(["none", "none", "none", "flip", "cut"]))
    if damage == "flip":
        packed[data.draw(st.integers(0, len(packed) - 1))] ^= data.draw(st.integers(1, 255))
    elif damage == "cut":
        packed = packed[: data.draw(st.integers(0, len(packed) - 1))]
    return bytes(packed)


def write_mnist(folder: Path, data: st.DataObject) -> None:
    """train-images (and maybe train-labels) IDX files, each gzipped or not."""
    n, h, w = (
        data.draw(st.integers(1, 5)),
        data.draw(st.integers(1, 6)),
        data.draw(st.integers(1, 6)),
    )
    for kind, magic, dims in (
        ("images-idx3-ubyte", IMAGES_MAGIC, [n, h, w]),
        ("labels-idx1-ubyte", LABELS_MAGIC, [n]),
    ):
        if kind.startswith("labels") and data.draw(st.booleans()):
            continue
        raw = data.draw(idx_bytes(magic, dims))
        if data.draw(st.booleans()):
            (folder / f"train-{kind}.gz").write_bytes(gzipped(data, raw))
        else:
            (folder / f"train-{kind}").write_bytes(raw)


@given(st.data())
@examples(40)
@fuzz_target("IDX files (load_mnist)")
def test_idx_files_load_or_raise_a_data_error(data):
    with tempfile.TemporaryDirectory() as folder:
        write_mnist(Path(folder), data)
        dataset, error = outcome("IDX files (load_mnist)", lambda: load_mnist(folder, "train"))
    if dataset is not None:
        n, c, h, w = dataset.x.shape
        assert c == 1 and min(n, h, w) >= 1 and dataset.x.dtype == torch.uint8
        assert dataset.y is None or len(dataset.y) == n


def _idx(dims: list[int], body: bytes, magic: int = IMAGES_MAGIC) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + body


@pytest.mark.parametrize(
    "raw, gz, message",
    [
        # dimensions whose product overflows int64 passed the size check (np.prod wrapped around)
        (_idx([2**31, 2**31, 4], b"x" * 100), False, "truncated"),
        # a gzip stream damaged inside its deflate data raised zlib.error
        (
            gzip.compress(_idx([1, 2, 2], b"abcd"), mtime=0)[:12]
            + b"\xff"
            + gzip.compress(_idx([1, 2, 2], b"abcd"), mtime=0)[13:],
            True,
            "cannot read",
        ),
        # images of zero pixels loaded, and failed in the first layer of the network
        (_idx([5, 0, 3], b""), False, "no data: its dimensions are 5 x 0 x 3"),
        # no images, of a size too big for even an empty array: a ValueError of NumPy's
        (_idx([0, 2**32 - 1, 2**32 - 1], b""), False, "no data"),
    ],
)
def test_idx_files_that_failed_outside_data_error(tmp_path, raw, gz, message):
    (tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}").write_bytes(raw)
    with pytest.raises(DataError, match=message):
        load_mnist(str(tmp_path), "train")


# ---- image folders -------------------------------------------------------------------------------
FORMATS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "BMP": ".bmp",
    "GIF": ".gif",
    "TIFF": ".tif",
    "WEBP": ".webp",
}
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F")


def make_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    """A noise image in `mode`; a palette one with a transparent entry."""
    r = np.random.default_rng(seed)
    rgba = r.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if mode == "I;16":
        return Image.fromarray(r.integers(0, 2**16, (height, width), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(r.integers(0, 2**16, (height, width), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(r.random((height, width), dtype=np.float32))
    if mode in ("P", "PA"):
        im = Image.fromarray(rgba[..., :3]).quantize(8)
        im.info["transparency"] = 0
        return im if mode == "P" else im.convert("PA")
    return Image.fromarray(rgba).convert(mode)


def _encodes(fmt: str, mode: str) -> bool:
    try:
        make_image(mode, 2, 2, 0).save(io.BytesIO(), fmt)
        return True
    except (OSError, ValueError, KeyError):
        return False


PAIRS = [(fmt, mode) for fmt in FORMATS for mode in MODES if _encodes(fmt, mode)]


@st.composite
def image_files(draw) -> tuple[str, bytes, bool]:
    """(file name, content, whether it is an intact image): an image of any format and mode Pillow
    writes, from 1x1 up, or one truncated, zero bytes long, text with an image's extension, or
    with a byte changed."""
    fmt, mode = draw(st.sampled_from(PAIRS))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    if draw(st.integers(0, 9)) == 0:  # a strip, 1 pixel by 2,000
        width, height = draw(st.permutations([1, 2000]))
    buffer = io.BytesIO()
    make_image(mode, width, height, draw(st.integers(0, 2**32 - 1))).save(buffer, fmt)
    raw = buffer.getvalue()
    name = draw(st.sampled_from(["a", "b", "c"])) + FORMATS[fmt]
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "empty", "text", "flip"]))
    if damage == "truncate":
        return name, raw[: draw(st.integers(0, len(raw) - 1))], False
    if damage == "empty":
        return name, b"", False
    if damage == "text":
        return name, draw(st.text(max_size=30)).encode(), False
    if damage == "flip":
        flipped = bytearray(raw)
        flipped[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
        return name, bytes(flipped), False  # may still decode: not counted either way
    return name, raw, True


@st.composite
def image_folders(draw) -> list[tuple[str, bytes, bool]]:
    """1-4 files, at the top or in class sub-folders."""
    files = draw(st.lists(image_files(), min_size=1, max_size=4))
    return [
        (f"{draw(st.sampled_from(['', 'cat/', 'dog/']))}{i}{name}", raw, intact)
        for i, (name, raw, intact) in enumerate(files)
    ]


def write_folder(root: Path, files: list[tuple[str, bytes, bool]]) -> None:
    for name, raw, _ in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)


@given(image_folders(), st.sampled_from([1, 4, 8]), st.sampled_from([1, 3]))
@examples(40)
@fuzz_target("image folders (load_folder)")
def test_image_folders_load_or_raise_a_data_error(files, resolution, channels):
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_folder(Path(root), files)
        dataset, error = outcome(
            "image folders (load_folder)", lambda: load_folder(root, resolution, channels)
        )
    for w in caught:
        assert "\n" not in str(w.message), str(w.message)
    intact = sum(ok for _, _, ok in files)
    if dataset is None:
        assert intact == 0, f"{intact} intact image(s) refused: {error}"
        return
    assert dataset.x.shape[1:] == (channels, resolution, resolution)
    assert intact <= len(dataset) <= len(files)  # no intact image skipped
    assert dataset.y is None or len(dataset.y) == len(dataset)


def test_16_bit_images_keep_their_brightness(tmp_path):
    """Pillow's conversion of 16-bit greyscale to 8 bits clips at 255: mid-grey read as white."""
    grey = np.full((6, 6), 32896, dtype=np.uint16)  # 128 x 257
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    Image.fromarray(grey.astype(np.int32)).save(tmp_path / "grey32.tif")
    dataset = load_folder(str(tmp_path), 4, 1)
    assert dataset.x.unique().tolist() == [128]


def test_a_strip_of_pixels_is_cropped_before_it_is_resized(tmp_path):
    """A 1 x 50,001 strip was first scaled to 64 x 3,200,064 pixels (a 1 GB peak), then cropped."""
    strip = np.full((50_001, 1, 3), 255, dtype=np.uint8)
    strip[: 25_000 - 2] = strip[25_000 + 3 :] = (
        0  # bright around the centre pixel, the square that is kept
    )
    Image.fromarray(strip).save(tmp_path / "strip.png")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dataset = load_folder(str(tmp_path), 64, 3)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kb < 300_000
    assert dataset.x.shape == (1, 3, 64, 64) and int(dataset.x.min()) == 255


def _write_giant(folder: Path) -> None:
    """10,000 x 10,000 pixels (past Pillow's decompression-bomb limit), 12 kB as a PNG."""
    Image.new("1", (10_000, 10_000)).save(folder / "giant.png")


def test_an_image_past_the_decompression_bomb_limit_is_refused_in_one_line(tmp_path):
    """Pillow only warned (up to twice its limit) and decoded all 100 million pixels."""
    _write_giant(tmp_path)
    with (
        pytest.raises(
            DataError, match=r"could be read \(giant.png: .*100000000 pixels.*MAX_IMAGE_PIXELS"
        ) as e,
        pytest.warns(UserWarning, match="skipping unreadable image"),
    ):
        load_folder(str(tmp_path), 8, 3)
    assert "\n" not in str(e.value)
    # beside another, it is skipped
    Image.new("RGB", (5, 5), (0, 255, 0)).save(tmp_path / "small.png")
    with pytest.warns(UserWarning, match="giant.png"):
        assert len(load_folder(str(tmp_path), 8, 3)) == 1


# ---- the same through `gankit train` -------------------------------------------------------------
TINY_RUN = [
    "--preset",
    "seed-mlp",
    "--steps",
    "1",
    "--no-progress",
    "model.hidden=[8]",
    "optim.batch_size=2",
    "train.device=cpu",
    "train.threads=1",
]


def train_on(parser: str, data: list[str], root: Path) -> None:
    """`gankit train` on a fuzzed source: 0 with a checkpoint and no temp file, or 2 with no run."""
    out = root / "run"
    code, _, stderr = run_cli(parser, ["train", *data, "--out", str(out), *TINY_RUN])
    if code == 2:
        assert not out.exists(), f"a failed run left {files_under(out)}"
        return
    files = files_under(out)
    assert any(name.startswith("checkpoints/step_") for name in files), files
    assert not any(".tmp" in name for name in files), files


@given(st.data())
@examples(8)
@fuzz_target("IDX files (gankit train)")
def test_gankit_train_on_fuzzed_idx_files(data):
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "mnist").mkdir()
        write_mnist(Path(root) / "mnist", data)
        train_on(
            "IDX files (gankit train)",
            ["--data", "mnist", "--data-dir", f"{root}/mnist"],
            Path(root),
        )


@given(image_folders())
@examples(8)
@fuzz_target("image folders (gankit train)")
def test_gankit_train_on_fuzzed_image_folders(files):
    with tempfile.TemporaryDirectory() as root:
        write_folder(Path(root) / "images", files)
        train_on(
            "image folders (gankit train)",
            [
                "--data",
                "folder",
                "--data-dir",
                f"{root}/images",
                "data.resolution=4",
                "data.channels=1",
            ],
            Path(root),
        )


def test_gankit_train_refuses_the_giant_image_in_one_line(tmp_path):
    (tmp_path / "images").mkdir()
    _write_giant(tmp_path / "images")
    code, _, stderr = run_cli(
        None,
        [
            "train",
            "--data",
            "folder",
            "--data-dir",
            str(tmp_path / "images"),
            "--out",
            str(tmp_path / "run"),
            *TINY_RUN,
        ],
    )
    assert code == 2 and "decompression bomb" in stderr and not (tmp_path / "run").exists()
