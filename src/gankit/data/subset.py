"""Few-shot subsets of any source: its images of some classes (`data.classes`) and a fixed draw of
N of them (`data.limit`, `data.limit_seed`). Applied once, after a source is loaded, so every
source (digits, mnist, fashion-mnist, cifar10, folder, ...) offers them alike."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .base import Dataset

#: a file beside (or above) an image folder naming each image's category: {"file.png": "Animals"}
CATEGORIES_FILE = "categories.json"


def wanted_classes(classes: int | str | None) -> list[str]:
    """`data.classes` as a list of names or indices written as text ("horse,deer" -> both)."""
    if classes is None:
        return []
    return [part.strip() for part in str(classes).split(",") if part.strip()]


def _folder_categories(folder: str | None, n: int) -> tuple[torch.Tensor, list[str]] | None:
    """Labels from a `categories.json` in an unlabelled image folder or its parent (the emoji
    sets), matched to the images in the folder source's order; None when there is no such file."""
    if not folder:
        return None
    from .folder import scan

    root = Path(folder).expanduser()
    found = next(
        (p / CATEGORIES_FILE for p in (root, root.parent) if (p / CATEGORIES_FILE).is_file()), None
    )
    if found is None:
        return None
    try:
        mapping = json.loads(found.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {found}: {e}") from None
    if not isinstance(mapping, dict):
        raise DataError(f"{found} must map file names to categories")
    files = [relative for relative, _, _ in scan(root)]
    if len(files) != n:
        raise DataError(
            f"{root}: {len(files) - n} image(s) could not be read, so {found.name} cannot be "
            "matched to the images"
        )
    keys = [relative if relative in mapping else relative.rpartition("/")[2] for relative in files]
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DataError(f"{found} names no category for {missing[0]} ({len(missing)} image(s))")
    names = sorted({str(mapping[k]) for k in keys})
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[str(mapping[k])] for k in keys], dtype=torch.int64), names


def labels_and_names(data: Dataset, cfg: Any) -> tuple[torch.Tensor, list[str]]:
    """The class of each image and the classes' names (the digits' own, Fashion-MNIST's and
    CIFAR-10's names, a folder's sub-folders or its `categories.json`), or a one-line DataError
    when the source has no classes."""
    if data.y is not None:
        from ..metrics.classifier import class_names

        return data.y, class_names(cfg.source, data, cfg.dir)
    found = _folder_categories(cfg.dir, len(data)) if cfg.source == "folder" else None
    if found is None:
        raise DataError(
            f"data.classes: {data.name} has no classes (a folder's classes are its sub-folders, "
            f"or a {CATEGORIES_FILE} beside its images)"
        )
    return found


def labelled(data: Dataset, cfg: Any) -> tuple[Dataset, list[str]]:
    """`data` with its class of each image and the classes' names, as `labels_and_names` finds
    them: an unlabelled folder takes its labels from a `categories.json`."""
    if data.y is None and cfg.source == "folder":
        found = _folder_categories(cfg.dir, len(data))
        if found is not None:
            return dataclasses.replace(data, y=found[0]), found[1]
    if data.y is None:
        raise DataError(
            f"{data.name} has no class labels to train a classifier on (a folder's classes are "
            f"its sub-folders, or a {CATEGORIES_FILE} beside its images)"
        )
    return data, labels_and_names(data, cfg)[1]


def class_index(wanted: str, names: list[str], source: str) -> int:
    """The index of one class named by its name (any case) or its index."""
    lowered = [n.lower() for n in names]
    if wanted.lower() in lowered:
        return lowered.index(wanted.lower())
    if wanted.isdigit() and int(wanted) < len(names):
        return int(wanted)
    raise DataError(
        f"unknown {source} class '{wanted}' (data.classes: choose from {', '.join(names)}, "
        f"or an index 0..{len(names) - 1})"
    )


def select_classes(data: Dataset, cfg: Any) -> Dataset:
    """The images of the classes `cfg.classes` names, in the source's order (all when None)."""
    wanted = wanted_classes(cfg.classes)
    if not wanted:
        return data
    y, names = labels_and_names(data, cfg)
    chosen = sorted({class_index(w, names, cfg.source) for w in wanted})
    keep = torch.isin(y, torch.tensor(chosen))
    if not keep.any():
        raise DataError(f"{data.name} has no images of class {', '.join(wanted)}")
    label = ",".join(names[i] for i in chosen)
    return Dataset(
        data.x[keep],
        None if data.y is None else data.y[keep],
        name=f"{data.name} [{label}]",
    )


def limit_images(data: Dataset, limit: int | None, seed: int) -> Dataset:
    """A fixed draw of `limit` images (a uniform draw without replacement from `seed` alone, kept
    in the source's order): the same images for the same seed, whatever the run's own seed."""
    if limit is None:
        return data
    if limit > len(data):
        raise DataError(
            f"data.limit={limit} is more than the {len(data)} images of {data.name}: "
            "choose at most that many"
        )
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:limit]
    index = index.sort().values
    return Dataset(
        data.x[index],
        None if data.y is None else data.y[index],
        name=f"{data.name} ({limit} of {len(data)}, data.limit_seed {seed})",
    )
