"""MNIST from IDX files (gzipped or not) in any folder; fetched there on request."""

from __future__ import annotations

import gzip
import math
import shutil
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset

PREFIX = {"train": "train", "test": "t10k"}
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file, checking its magic number and that it holds all the data it declares."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # a damaged gzip stream raises any of the three
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 8:
        raise DataError(f"IDX file {path} is truncated ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path} is not an MNIST IDX file: magic number {found}, expected {magic}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(
        dims
    )  # Python integers: NumPy's product of 2**31 x 2**31 x 4 wraps around
    if len(raw) < expected:
        raise DataError(
            f"IDX file {path} is truncated: {len(raw)} bytes, header promises {expected}"
        )
    if 0 in dims:  # no data (and 0 x 2**32 x 2**32 is too big a shape even for an empty array)
        raise DataError(
            f"IDX file {path} holds no data: its dimensions are {' x '.join(map(str, dims))}"
        )
    return np.frombuffer(raw, dtype=np.uint8, count=expected - header, offset=header).reshape(dims)


def download(folder: Path, split: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{PREFIX[split]}-{kind}.gz"
        target = folder / name
        if target.exists():
            continue
        tmp = target.with_suffix(".gz.part")
        try:
            with (
                urllib.request.urlopen(MIRROR + name, timeout=30) as response,
                open(tmp, "wb") as f,
            ):
                shutil.copyfileobj(response, f)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DataError(f"could not download {MIRROR + name}: {e}") from None
        tmp.rename(target)


#: what each source's files are called in messages, and where to get them without --download
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
ELSEWHERE = {
    "fashion-mnist": "Debian's dataset-fashion-mnist package installs them in "
    "/usr/share/datasets/fashion-mnist",
}


def load_mnist(
    folder: str | None, split: str = "auto", fetch: bool = False, source: str = "mnist"
) -> Dataset:
    """MNIST, or a data set in its IDX files (`source="fashion-mnist"`): the train split when its
    files are there (`split="auto"`), else the test split."""
    title = TITLES[source]
    if not folder:
        raise DataError(f"the {source} source needs a folder: --data-dir DIR")
    path = Path(folder).expanduser()
    if split not in ("auto", "train", "test"):
        raise DataError(f"unknown {source} split '{split}' (choose from: train, test, auto)")
    if fetch and source != "mnist":
        raise DataError(f"--download fetches MNIST only: {ELSEWHERE[source]}")
    if fetch:
        download(path, "train" if split == "auto" else split)
    fetch_hint = "add --download to fetch MNIST there" if source == "mnist" else ELSEWHERE[source]
    if not path.is_dir():
        raise DataError(f"data folder {path} does not exist ({fetch_hint})")
    splits = ["train", "test"] if split == "auto" else [split]
    for s in splits:
        images = _find(path, f"{PREFIX[s]}-images-idx3-ubyte")
        if images is not None:
            break
    else:
        raise DataError(
            f"no {title} images in {path} (expected {PREFIX[splits[0]]}-images-idx3-ubyte[.gz]; "
            f"{fetch_hint})"
        )
    x = read_idx(images, IMAGES_MAGIC)
    if x.ndim != 3:
        raise DataError(f"{images} holds {x.ndim}-D data, expected N x H x W images")
    labels_path = _find(path, f"{PREFIX[s]}-labels-idx1-ubyte")
    y = None
    if labels_path is not None:
        labels = read_idx(labels_path, LABELS_MAGIC)
        if len(labels) != len(x):
            raise DataError(f"{labels_path} has {len(labels)} labels for {len(x)} images")
        y = torch.from_numpy(labels.astype(np.int64))
    return Dataset(torch.from_numpy(x.copy()).unsqueeze(1), y, name=f"{source}-{s}")
