"""Reference features of a real data set, computed once per (data, extractor) and cached.

The key hashes the data tensor's bytes and the extractor's weights, so a changed data set or a
retrained classifier never reuses stale statistics.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file

from .. import tensorfile
from ..data import Dataset
from ..data.cache import cache_root
from .extractors import Extractor


def default_cache_dir() -> Path:
    """`reference/` under the cache root: $GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else
    ~/.cache/gankit."""
    return cache_root() / "reference"


def data_key(data: Dataset) -> str:
    h = hashlib.sha256(data.x.contiguous().numpy().tobytes())
    return f"{data.name.replace('/', '_').replace(':', '_')}-{len(data)}-{h.hexdigest()[:12]}"


def reference_features(
    data: Dataset, extractor: Extractor, cache_dir: Path | None = None
) -> torch.Tensor:
    """Features of every image of `data`, from the cache when present."""
    folder = cache_dir or default_cache_dir()
    path = folder / f"{data_key(data)}-{extractor.key}.safetensors"
    if path.is_file():
        try:
            return load_file(path)["features"]
        except Exception:  # a damaged cache entry is recomputed, not trusted
            pass
    feats, _ = extractor(data.all())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tensorfile.write(path, {"features": feats.contiguous()})
    except OSError:
        pass  # a read-only cache costs time, never correctness
    return feats
