"""Decoded image folders kept on disk, so a second start reads one file instead of decoding again.

An entry is named by the folder's path and the decode options, and holds the key of the folder's
content (every image's relative path, size and modification time): an image added, removed or
changed gives another key, and the entry is decoded again and replaced. Entries are written
atomically (`gankit.files`) and hold only uint8 images and int64 labels as NumPy arrays, read
back with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_writer

#: bumped whenever decoding changes what an entry holds, so older entries are decoded again
FORMAT = 1
#: a folder with fewer images decodes in well under a second: it is not worth an entry on disk
MIN_CACHED_IMAGES = 1000


def cache_root() -> Path:
    """$GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gankit"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def entry_path(root: Path, options: dict[str, Any]) -> Path:
    """The entry of this folder decoded with these options (one per folder and options)."""
    return cache_root() / "images" / f"{_digest([str(root.resolve()), options])[:32]}.npy"


def content_key(listing: list[tuple[str, int, int]], options: dict[str, Any]) -> str:
    """A digest of the folder's listing (every image's relative path, size and modification time,
    as `folder.scan` gives it) and the options."""
    return _digest([FORMAT, options, listing])


def read_entry(path: Path, key: str) -> tuple[np.ndarray, np.ndarray | None, dict] | None:
    """(images, labels or None, header) of a fresh entry; None when it is missing, stale or
    damaged (a damaged entry is decoded again, never trusted)."""
    try:
        with open(path, "rb") as f:
            header = json.loads(np.lib.format.read_array(f, allow_pickle=False).tobytes())
            if not isinstance(header, dict) or header.get("key") != key:
                return None
            x = np.lib.format.read_array(f, allow_pickle=False)
            y = np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError):  # MemoryError: a damaged array shape
        return None
    if x.dtype != np.uint8 or x.ndim != 4 or y.dtype != np.int64 or len(y) not in (0, len(x)):
        return None
    return x, (y if len(y) else None), header


def write_entry(path: Path, key: str, x: np.ndarray, y: np.ndarray | None, info: dict) -> None:
    """Write the entry whole or not at all; an entry that cannot be written costs time, not the
    run."""
    header = json.dumps({**info, "key": key}).encode()
    labels = np.zeros(0, np.int64) if y is None else y.astype(np.int64, copy=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as f:
            for array in (np.frombuffer(header, np.uint8), x, labels):
                np.lib.format.write_array(f, array, allow_pickle=False)
    except OSError:  # gankit.files raises CheckpointError, an OSError, naming the reason
        pass
