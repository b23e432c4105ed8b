"""`gankit export`: a run's sampling network alone, in the shapes other programs read.

An export folder holds `model.safetensors` (exactly `state_dict()` of the network's class: plain
keys, the EMA weights when the run kept them, spectral norm folded into the weights) and
`config.json` (the class's import path and constructor arguments, what the outputs mean, what
sampling needs besides, and the run's whole config). `gankit.load(DIR)` samples from it as from
the run; the network alone loads with its class and `load_state_dict` (docs/exports.md).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from . import config as config_mod
from . import tensorfile
from .errors import CheckpointError, ConfigError
from .files import atomic_folder, atomic_write
from .recipes.base import NetSpec

FORMAT = "gankit-export"
VERSION = 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def is_export(path: str | Path) -> bool:
    """Whether `path` is a folder `export_model` wrote (its config.json names the format)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        return False
    try:
        return json.loads((path / CONFIG).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_out_folder(out: str | Path) -> Path:
    """An export folder to write: new, or an empty folder; anything else is refused untouched."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file: give a folder to export to")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: give a new or empty folder to export to")
    return out


def export_model(run: str | Path, out: str | Path) -> Path:
    """Write the sampling network of `run` (a run folder: its newest checkpoint; or a checkpoint
    file) to the folder `out`, which must be new or empty. Returns `out`."""
    from .api import Generator
    from .train import checkpoint as ckpt

    out = check_out_folder(out)
    path, state = ckpt.load_latest(run)
    _refuse_tables(path, state)
    model = Generator.from_checkpoint(path, state)
    spec: NetSpec = model.recipe.sampling_spec
    net = spec.build()
    net.load_state_dict(_plain_state(model.nets[spec.name], spec))
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    description = {
        "format": FORMAT,
        "version": VERSION,
        "gankit_version": _version(),
        "recipe": model.config.recipe,
        "network": {
            "name": spec.name,
            "class": spec.class_path,
            "kwargs": spec.kwargs,
            "outputs": spec.outputs,
        },
        "sampling": spec.sampling,
        "sample_shape": list(model.sample_shape),
        "num_classes": model.num_classes,
        "conditional": bool(model.recipe.num_classes),
        "ema": model.used_ema,
        "step": model.step,
        "checkpoint": str(model.path),
        "config": model.config.to_dict(),
    }
    with atomic_folder(out) as tmp:  # both files or neither
        tensorfile.write(tmp / WEIGHTS, tensors, {"format": "pt"})
        atomic_write(tmp / CONFIG, (json.dumps(description, indent=2) + "\n").encode())
    return out


def _refuse_tables(path: Path, state: dict[str, Any]) -> None:
    """A table model samples through its fitted transformer (RUN/table.json) and conditional
    vectors, not its network alone: its run folder is what to share."""
    cfg = state.get("config")
    recipe = cfg.get("recipe") if isinstance(cfg, dict) else None
    if recipe in config_mod._registry() and config_mod.recipe_class(recipe).trains_on == "tables":
        raise ConfigError(
            f"{path} is a {recipe} table model: its samples need the fitted table transformer "
            "(table.json) besides the network, so share the run folder and load it with "
            "gankit.tabular.load"
        )


def _plain_state(net: nn.Module, spec: NetSpec) -> dict[str, torch.Tensor]:
    """The weights of `net` as its class without parametrizations holds them: spectral norm's
    W / sigma computed once (as every eval-mode call computes it) into a plain weight; the keys
    sampling never reads (`spec.unused`) left out."""
    plain = copy.deepcopy(net).cpu().eval()
    wrapped = [
        (module, name)
        for module in plain.modules()
        if parametrize.is_parametrized(module)
        for name in list(module.parametrizations)
    ]
    for module, name in wrapped:
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return {k: v for k, v in plain.state_dict().items() if k not in spec.unused}


def read_export(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """config.json and the weights of an export folder, refused in one line when either is not
    what `export_model` writes."""
    path = Path(path)
    try:
        description = json.loads((path / CONFIG).read_text())
        raw = (path / WEIGHTS).read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read the export {path}: {e.strerror}") from None
    except ValueError:
        raise CheckpointError(f"{path / CONFIG} is not JSON") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise CheckpointError(f"{path / CONFIG} does not describe a gankit export")
    if not isinstance(description.get("version"), int) or description["version"] > VERSION:
        raise CheckpointError(
            f"{path} was exported by a newer gankit (export format "
            f"{description.get('version')}; this one reads up to {VERSION}): upgrade gankit"
        )
    try:
        tensors = tensorfile.read_tensors(raw)
    except Exception as e:  # any parse failure: not a (whole) safetensors file
        raise CheckpointError(
            f"{path / WEIGHTS} is not a safetensors file or is truncated ({type(e).__name__})"
        ) from None
    return description, tensors


def network_of(spec: NetSpec, description: dict[str, Any], weights: dict[str, torch.Tensor]):
    """The exported network, built from the class and arguments the run's config gives, which
    must be those config.json names (no class is imported by its name from a file)."""
    network = description.get("network") or {}
    if network.get("class") != spec.class_path or network.get("kwargs") != json.loads(
        json.dumps(spec.kwargs)
    ):
        raise CheckpointError(
            f"the network config.json names ({network.get('class')}) is not the one its run "
            f"config builds ({spec.class_path})"
        )
    net = spec.build()
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(
            f"the weights do not fit {spec.class_path}: {' '.join(str(e).split())[:300]}"
        ) from None
    return net


def _version() -> str:
    from . import __version__

    return __version__
