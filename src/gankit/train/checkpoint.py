"""Checkpoints as single safetensors files, written atomically.

Everything (weights, EMA, optimizer state, RNG states, step, config, health history) goes into
one safetensors file: tensors as tensors, the rest as JSON in its metadata. Loading therefore never
unpickles anything, and one rename makes the whole checkpoint appear at once or not at all.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import tensorfile
from ..errors import CheckpointError
from ..files import reason, write_error

FORMAT = "gankit-checkpoint"
VERSION = 1
NAME = re.compile(r"step_(\d+)\.safetensors$")


def _flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Replace tensors in a nested structure by references; dict keys keep their int/str type."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__items__": [[k, _flatten(v, tensors, f"{prefix}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {
            "__list__": [_flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)],
            "tuple": isinstance(obj, tuple),
        }
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__items__"]}
        if "__list__" in obj:
            items = [_unflatten(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save(path: str | Path, state: dict[str, Any]) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e) from None
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors, "s")
    metadata = {"format": FORMAT, "version": str(VERSION), "state": json.dumps(skeleton)}
    tensorfile.write(path, tensors, metadata)
    return path


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    try:
        meta = tensorfile.read_metadata(raw)
        if meta.get("format") != FORMAT:
            raise ValueError("no gankit metadata")
        version = int(meta.get("version", "0"))
        tensors = tensorfile.read_tensors(raw)
        state = _unflatten(json.loads(meta["state"]), tensors)
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            raise ValueError("no step in the state")
    except Exception as e:  # any parse failure means "not a (complete) gankit checkpoint"
        raise CheckpointError(
            f"{path} is not a gankit checkpoint or is truncated ({type(e).__name__})"
        ) from None
    if version > VERSION:
        raise NewerCheckpointError(
            f"{path} was written by a newer gankit (checkpoint format {version}; this one reads "
            f"up to {VERSION}): upgrade gankit"
        )
    return state


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in a folder, oldest step first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:07d}.safetensors"


def resolve(path: str | Path) -> Path:
    """A run directory (its newest checkpoint that loads) or a checkpoint file."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    candidates = list_checkpoints(folder)
    if not candidates:
        raise CheckpointError(f"no checkpoint found in {path}")
    return candidates[-1]


class NewerCheckpointError(CheckpointError):
    """A checkpoint of a newer gankit: not damaged, so no reason to fall back to an older one."""


def load_latest(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Load a checkpoint file, or the newest readable one of a run, warning about damaged ones."""
    path = Path(path)
    if path.is_file():
        return path, load(path)
    newest = resolve(path)
    for candidate in reversed(list_checkpoints(newest.parent)):
        try:
            return candidate, load(candidate)
        except NewerCheckpointError:
            raise  # resuming from an older one would later overwrite the newer run
        except CheckpointError as e:
            warnings.warn(f"{e}; trying an older checkpoint", stacklevel=2)
    raise CheckpointError(f"no readable checkpoint in {path}")


def prune(folder: Path, newest: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints up to `newest` (the one just written); files of
    later steps (left by an earlier, longer run) are not this run's to delete."""
    older = [p for p in list_checkpoints(folder) if _step(p) < _step(newest)]
    for old in older[: max(0, len(older) - (keep - 1))]:
        try:
            old.unlink(missing_ok=True)
        except OSError as e:
            # the new checkpoint is written: an old one too many is no reason to stop
            warnings.warn(
                f"could not delete the old checkpoint {old} ({reason(e)}); it is kept", stacklevel=2
            )


def _step(path: Path) -> int:
    match = NAME.match(path.name)
    return int(match.group(1)) if match else -1
