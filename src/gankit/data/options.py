"""The data options a config may name, checked before any file is read (config's `validate` calls
`check_data_options`). Kept free of torch and of the sources' code, so a config is checked fast."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

#: the image and point sources of `gankit train --data` (tables come through `gankit tabular`)
IMAGE_SOURCES = (
    "digits",
    "mnist",
    "fashion-mnist",
    "cifar10",
    "folder",
    "toy2d",
    "stacked-mnist",
    "paired",
    "unpaired",
)
#: the sources of image pairs (`data/pairs.py`), read by the translation recipes alone
PAIR_SOURCES = ("paired", "unpaired")
DIRECTIONS = ("AtoB", "BtoA")
#: table: `gankit tabular`; memory: images handed to `gankit.train(data=...)` (`data/memory.py`)
SOURCES = (*IMAGE_SOURCES, "table", "memory")
SPLITS = ("auto", "train", "test")
#: the 2D mixtures of `data.toy` (their means and std: `metrics.modes.MIXTURES`)
TOY_MIXTURES = ("ring", "ring-veegan", "grid")
#: what happens to an image's transparency: composited on white or black, kept as a channel, or
#: dropped (the colours under transparent pixels show, as in runs saved before data.alpha existed)
ALPHA = ("white", "black", "keep", "drop")
#: the bases b of the sizes b * 2^k (k >= 1) the dcgan and resnet networks build (nets/dcgan.py)
CONV_BASES = range(4, 8)


def conv_resolutions(up_to: int = 128) -> list[int]:
    """The sizes the dcgan and resnet networks build, up to `up_to`: b * 2^k, b in 4..7, k >= 1."""
    sizes = {b << k for b in CONV_BASES for k in range(1, 16) if b << k <= up_to}
    return sorted(sizes)


def buildable(arch: str, resolution: int) -> bool:
    """Whether `arch`'s networks can be built for square images of this side."""
    if arch in ("dcgan", "resnet"):
        r = resolution
        while r > 7 and r % 2 == 0:
            r //= 2
        return r in CONV_BASES and r != resolution
    if arch in ("conv", "unet", "resblocks"):  # the VAE and the U-Nets halve the image twice
        return resolution % 4 == 0
    if arch == "stylegan":  # built at the next power of two (nets/stylegan.py)
        return resolution >= 4
    if arch == "progan":  # stages double the side from 4x4
        return resolution >= 8 and resolution & (resolution - 1) == 0
    return True  # an MLP reads any size


def accepted_resolutions(arch: str) -> str:
    """The sizes `arch` builds, in words, for the error that refuses another."""
    if arch in ("dcgan", "resnet"):
        listed = ", ".join(map(str, conv_resolutions()))
        return f"b*2^k with b in 4..7 and k >= 1: {listed}, ..."
    if arch in ("conv", "unet", "resblocks"):
        return "multiples of 4"
    if arch == "stylegan":
        return "any size from 4 (built at the next power of two, the border cropped)"
    if arch == "progan":
        return "powers of two from 8: 8, 16, 32, 64, 128, ..."
    return "any size"


def check_data_options(data: Any, arch: str) -> None:
    """Refuse data options no run can use: an unknown source, split or alpha mode, a resolution the
    networks cannot build. `data` is a config's `DataConfig`, `arch` its `model.arch`."""
    if data.source not in SOURCES:
        raise ConfigError(
            f"unknown data source '{data.source}' (choose from: {', '.join(SOURCES)})"
        )
    if data.split not in SPLITS:
        raise ConfigError(
            f"unknown {data.source} split '{data.split}' "
            f"(data.split: choose from: {', '.join(SPLITS)})"
        )
    if data.toy not in TOY_MIXTURES:
        raise ConfigError(
            f"unknown toy2d mixture '{data.toy}' (choose from: {', '.join(TOY_MIXTURES)})"
        )
    if data.alpha not in ALPHA:
        raise ConfigError(f"unknown data.alpha '{data.alpha}' (choose from: {', '.join(ALPHA)})")
    if not isinstance(data.flip, bool):
        raise ConfigError(f"data.flip must be true or false, got {data.flip!r}")
    if data.flip and data.source in ("toy2d", "table"):
        raise ConfigError("data.flip mirrors images: the toy2d and table sources have none")
    if data.direction not in DIRECTIONS:
        raise ConfigError(
            f"unknown data.direction '{data.direction}' (choose from: {', '.join(DIRECTIONS)})"
        )
    if not isinstance(data.jitter, bool):
        raise ConfigError(f"data.jitter must be true or false, got {data.jitter!r}")
    check_subset_options(data)
    if data.resolution is not None and not buildable(arch, data.resolution):
        raise ConfigError(
            f"{arch} cannot build resolution {data.resolution} (data.resolution): it builds "
            f"{accepted_resolutions(arch)}"
        )


#: the sources `data.limit` and `data.classes` do not apply to: their data is not a source's
NO_SUBSETS = ("table", "memory")


def check_subset_options(data: Any) -> None:
    """Refuse few-shot options no source can honour; the class names and the size of the data are
    checked when it is read (`data/subset.py`)."""
    if data.limit is not None and (isinstance(data.limit, bool) or data.limit < 1):
        raise ConfigError(f"data.limit must be a number of images of at least 1, got {data.limit}")
    if data.limit_seed < 0:
        raise ConfigError(f"data.limit_seed must be 0 or more, got {data.limit_seed}")
    if isinstance(data.classes, int) and (isinstance(data.classes, bool) or data.classes < 0):
        raise ConfigError(f"data.classes is a class name or index, got {data.classes}")
    if isinstance(data.classes, str) and not data.classes.strip(" ,"):
        raise ConfigError("data.classes names no class (null: every class)")
    subset = data.limit is not None or data.classes is not None
    if subset and data.source in NO_SUBSETS:
        raise ConfigError(
            f"data.limit and data.classes choose images of a named source, not of the "
            f"{data.source} source: hand the images you want"
        )
