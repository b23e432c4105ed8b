"""Every data source becomes one in-memory `Dataset` of tensors."""

from __future__ import annotations

import dataclasses

from ..config import REFERENCES, DataConfig
from ..errors import ConfigError, DataError
from .base import Dataset, convert_channels, flip_batch, resize_uint8, to_float, to_uint8
from .cifar10 import load_cifar10
from .digits import load_digits
from .folder import load_folder
from .memory import SOURCE as MEMORY
from .mnist import load_mnist
from .options import IMAGE_SOURCES as SOURCES
from .options import PAIR_SOURCES
from .pairs import load_pairs
from .stacked_mnist import stack_digits
from .subset import limit_images, select_classes
from .toy2d import load_toy2d


def load_dataset(cfg: DataConfig, seed: int = 0, download: bool = False) -> Dataset:
    """Load a source and bring it to the configured resolution and channels; keep the classes
    `cfg.classes` names, leave out the last `cfg.holdout` samples (those are `load_heldout`'s),
    then keep a fixed draw of `cfg.limit` of the rest (few-shot training)."""
    data = select_classes(load_full(cfg, seed, download), cfg)
    data = split_holdout(data, cfg.holdout)[0] if cfg.holdout else data
    return limit_images(data, cfg.limit, cfg.limit_seed)


def load_reference(cfg: DataConfig, reference: str = "train", seed: int = 0) -> Dataset:
    """The real images an evaluation compares with: `train`, the images the run trains on;
    `full`, every image of the source's `cfg.classes`, before `cfg.holdout` and `cfg.limit`
    (the set a few-shot subset was drawn from)."""
    if reference == "full":
        cfg = dataclasses.replace(cfg, holdout=0, limit=None)
    elif reference not in REFERENCES:
        raise ConfigError(f"unknown reference '{reference}' (choose from: {', '.join(REFERENCES)})")
    return load_dataset(cfg, seed)


def load_heldout(cfg: DataConfig, seed: int = 0) -> Dataset:
    """The last `cfg.holdout` samples of the source (of its classes `cfg.classes`), never trained
    on: held-out likelihoods, and D's outputs on real images it has not seen."""
    if not cfg.holdout:
        raise DataError("no held-out data: the run was trained with data.holdout=0 (all samples)")
    return split_holdout(select_classes(load_full(cfg, seed), cfg), cfg.holdout)[1]


def split_holdout(data: Dataset, n: int) -> tuple[Dataset, Dataset]:
    """(all but the last n samples, the last n): a fixed split, the same for every run and seed."""
    if not 0 < n < len(data):
        raise DataError(
            f"data.holdout={n} must leave samples to train on ({data.name} has {len(data)})"
        )
    y = data.y
    return (
        Dataset(data.x[:-n], None if y is None else y[:-n], name=data.name),
        Dataset(
            data.x[-n:], None if y is None else y[-n:], name=f"{data.name} (last {n}, held out)"
        ),
    )


def load_full(cfg: DataConfig, seed: int = 0, download: bool = False) -> Dataset:
    """Every sample of the source."""
    if cfg.source == "toy2d":
        return load_toy2d(cfg.toy, cfg.toy_samples, seed)
    if cfg.source == MEMORY:
        raise DataError(
            "this run trained on images handed to gankit.train(data=...), which no file holds: "
            "hand them again (gankit.train(..., data=IMAGES, resume=True)), or name the data "
            "(--data SOURCE)"
        )
    if cfg.source == "digits":
        data = load_digits()
    elif cfg.source in ("mnist", "fashion-mnist"):
        data = load_mnist(cfg.dir, cfg.split, fetch=download, source=cfg.source)
    elif cfg.source == "cifar10":
        data = load_cifar10(cfg.dir, cfg.split, cfg.resolution)
    elif cfg.source == "stacked-mnist":
        # one fixed draw (seed 0) so every run and every evaluation sees the same stacked set
        data = stack_digits(
            load_mnist(cfg.dir, cfg.split, fetch=download), cfg.stacked_samples, seed=0
        )
    elif cfg.source == "folder":
        return load_folder(cfg.dir, cfg.resolution, cfg.channels, cfg.alpha)
    elif cfg.source in PAIR_SOURCES:
        return load_pairs(cfg).data
    else:
        raise DataError(f"unknown data source '{cfg.source}' (choose from: {', '.join(SOURCES)})")
    x = data.x
    if cfg.resolution is not None:
        x = resize_uint8(x, cfg.resolution)
    x = convert_channels(x, cfg.channels)
    return Dataset(x, data.y, name=data.name)


__all__ = [
    "Dataset",
    "flip_batch",
    "load_dataset",
    "load_heldout",
    "load_reference",
    "split_holdout",
    "to_float",
    "to_uint8",
    "SOURCES",
]
