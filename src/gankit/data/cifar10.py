"""CIFAR-10 from either of its two layouts: the original python batches (`data_batch_1..5`,
`test_batch`, as the `cifar-10-python.tar.gz` download unpacks them) or an image folder
(`train/<class>/*.png|jpg`, `test/<class>/...`), read by the folder loader and its cache.

The batches are pickles. Unpickling can run any code a file names, so they are read with an
unpickler that builds only what the format holds (dicts, lists, bytes, str, ints and NumPy
arrays) and refuses any other object a file asks for.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .folder import load_folder

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
#: the only globals a CIFAR batch may name: how NumPy pickles an array (under NumPy 1 and 2),
#: and how Python 3 pickles bytes at protocol 2
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Builds NumPy arrays and plain Python values; any other global is refused."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a CIFAR batch never does"
            )
        if module.startswith(("numpy.core.", "numpy._core.")):
            # NumPy 2 keeps these in numpy._core (numpy.core warns), NumPy 1 in numpy.core
            inner = module.split(".", 2)[2]
            try:
                return getattr(importlib.import_module(f"numpy._core.{inner}"), name)
            except ImportError:
                return getattr(importlib.import_module(f"numpy.core.{inner}"), name)
        return getattr(importlib.import_module(module), name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images N x 3 x 32 x 32, int64 labels N) of one python batch file."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {e}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch: it holds a {type(batch).__name__}")
    fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = fields.get("data"), fields.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path} is not a CIFAR-10 batch: no uint8 N x 3072 'data' array")
    if data.shape[1] != 3 * 32 * 32 or labels is None or len(labels) != len(data):
        raise DataError(
            f"{path} is not a CIFAR-10 batch: 'data' is {data.shape[0]} x {data.shape[1]} "
            f"(expected N x 3072) with {0 if labels is None else len(labels)} labels"
        )
    y = np.asarray(labels, dtype=np.int64)
    if len(y) and not 0 <= y.min() <= y.max() < len(CLASSES):
        raise DataError(f"{path} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), y


def read_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The batches one after another, copied into one array as each is read: the peak is the
    images' uint8 size and one batch, not twice the images."""
    x, labels, filled = None, [], 0
    for path in paths:
        images, y = read_batch(path)
        if x is None:
            x = np.empty((len(images) * len(paths), *images.shape[1:]), dtype=np.uint8)
        if filled + len(images) > len(x):  # batches of unequal sizes: make room
            x = np.concatenate([x[:filled], np.empty((len(images), *x.shape[1:]), np.uint8)])
        x[filled : filled + len(images)] = images
        filled += len(images)
        labels.append(y)
    assert x is not None  # paths is never empty
    return x[:filled], np.concatenate(labels)


def _batch_folder(root: Path) -> Path | None:
    """The folder holding the batches: `root` or the `cifar-10-batches-py` the download unpacks."""
    for folder in (root, root / "cifar-10-batches-py"):
        if any((folder / name).is_file() for names in BATCHES.values() for name in names):
            return folder
    return None


def load_cifar10(folder: str | None, split: str = "auto", resolution: int | None = None) -> Dataset:
    """CIFAR-10's train split (`split="auto"`: the test split when only that one is there)."""
    if not folder:
        raise DataError("the cifar10 source needs a folder: --data-dir DIR")
    root = Path(folder).expanduser()
    if split not in ("auto", "train", "test"):
        raise DataError(f"unknown cifar10 split '{split}' (choose from: train, test, auto)")
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    splits = ["train", "test"] if split == "auto" else [split]
    batches = _batch_folder(root)
    for s in splits:
        if batches is not None and all((batches / n).is_file() for n in BATCHES[s]):
            x, y = read_batches([batches / n for n in BATCHES[s]])
            return Dataset(torch.from_numpy(x), torch.from_numpy(y), name=f"cifar10-{s}")
        if (root / s).is_dir():
            return load_folder(
                str(root / s), resolution or 32, 3, classes=list(CLASSES), name=f"cifar10-{s}"
            )
    expected = " or ".join(f"{', '.join(BATCHES[s])} or {s}/<class>/" for s in splits)
    raise DataError(f"no CIFAR-10 {' or '.join(splits)} split in {root} (expected {expected})")
