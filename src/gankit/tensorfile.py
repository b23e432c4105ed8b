"""safetensors files: named tensors and string metadata, written atomically.

Checkpoints, the digit classifier and the reference-feature cache are such files. Reading one
never unpickles anything, and one rename makes a file appear whole or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load as _load
from safetensors.torch import save as _save

from .files import atomic_write


def write(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write `tensors` (contiguous, on the CPU) and `metadata` to `path` through `atomic_write`."""
    atomic_write(path, _save(tensors, metadata=metadata))


def read_metadata(raw: bytes) -> dict[str, str]:
    """The string metadata of a safetensors file's header, without reading its tensors."""
    header_len = int.from_bytes(raw[:8], "little")
    if not 0 < header_len <= len(raw) - 8:
        raise ValueError("bad header length")
    return json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}


def read_tensors(raw: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file's bytes; a damaged file raises (any exception)."""
    return _load(raw)
