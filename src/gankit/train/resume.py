"""What a resumed run may change, and the checks a checkpoint's state must pass before it is
loaded: one set of rules for `gankit train --resume` (the trainer) and `gankit tabular fit`'s
resume."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import GankitError

#: options a resumed run may change: how long it trains and what it logs, not what it trains
RESUMABLE_CHANGES = {
    "train.steps",
    "train.minutes",
    "train.log_every",
    "train.sample_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.threads",
    "train.eval_every",
    "train.eval_features",
    "train.eval_metrics",
    "train.eval_samples",
    "train.eval_reference",
    "train.health_classifier",
    "train.tensorboard",
    "train.device",
    "train.compile",
    # how a diffusion model samples, not what it learns
    "diffusion.sampler",
    "diffusion.sampling_steps",
    "diffusion.eta",
    "diffusion.spacing",
    "diffusion.guidance",
}


def changed_keys(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(saved) | set(current)):
        a, b, name = saved.get(key), current.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{name}.")
        elif a != b and name not in RESUMABLE_CHANGES:
            keys.append(name)
    return keys


def check_config_unchanged(saved: Any, current: Any, run_dir: Any) -> None:
    """Refuse, in one line, a resumed run whose config changes what the checkpoint learnt."""
    changed = changed_keys(saved.to_dict(), current.to_dict())
    if current.optim.lr_decay != "none" and saved.train.steps != current.train.steps:
        changed.append("train.steps (optim.lr_decay ends its schedule at the step budget)")
    elif current.loss.penalty_final != 1 and saved.train.steps != current.train.steps:
        changed.append("train.steps (loss.penalty_final ends its schedule at the step budget)")
    if changed:
        raise GankitError(
            f"cannot change {', '.join(changed)} when resuming {run_dir}: "
            "the checkpoint was trained with other values"
        )


def like(saved: Any, current: torch.Tensor, name: str) -> torch.Tensor:
    """A saved tensor that must have the shape and dtype of the one the run built."""
    if (
        not isinstance(saved, torch.Tensor)
        or saved.shape != current.shape
        or saved.dtype != current.dtype
    ):
        found = (
            f"{tuple(saved.shape)} {saved.dtype}"
            if isinstance(saved, torch.Tensor)
            else type(saved).__name__
        )
        raise ValueError(f"{name} is {found}, not {tuple(current.shape)} {current.dtype}")
    return saved


def check_optimizer_state(opt: torch.optim.Optimizer, saved: Any) -> None:
    """Each saved moment must have its parameter's shape and dtype: torch checks only the number
    of parameters, and a fused kernel reads past the end of a smaller moment."""
    if len(saved["param_groups"]) != len(opt.param_groups):
        raise ValueError(
            f"the optimizer state has {len(saved['param_groups'])} parameter groups, not "
            f"{len(opt.param_groups)}"
        )
    for live, group in zip(opt.param_groups, saved["param_groups"], strict=True):
        for key, value in live.items():
            if key == "params":
                continue
            if key not in group or not _same_option(
                group[key], value, decays=key in ("lr", "initial_lr")
            ):
                raise ValueError(
                    f"optimizer option '{key}' is {group.get(key, 'missing')!r}, not {value!r}"
                )
    params = [p for group in opt.param_groups for p in group["params"]]
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    if len(ids) != len(params):
        raise ValueError(f"the optimizer state has {len(ids)} parameters, not {len(params)}")
    entries = [saved["state"].get(index, {}) for index in ids]
    stepped = [
        set(entry) for entry in entries if entry
    ]  # a parameter never updated (no gradient) has none
    if isinstance(opt, torch.optim.Adam):
        needed = {"step", "exp_avg", "exp_avg_sq"} | (
            {"max_exp_avg_sq"} if opt.defaults.get("amsgrad") else set()
        )
        incomplete = any(not needed <= keys for keys in stepped)
    else:
        incomplete = len({frozenset(keys) for keys in stepped}) > 1
    if incomplete:
        raise ValueError("the optimizer state lacks entries for some parameters")
    for param, entry in zip(params, entries, strict=True):
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                like(value, param, f"optimizer state '{key}' of a {tuple(param.shape)} parameter")
            elif not isinstance(value, (torch.Tensor, int, float)):
                raise TypeError(f"optimizer state '{key}' is a {type(value).__name__}")


def _same_option(saved: Any, current: Any, decays: bool) -> bool:
    """An optimizer option as the run's config sets it (the learning rate: any finite number, as
    its decay leaves it)."""
    if decays:
        return (
            isinstance(saved, (int, float)) and not isinstance(saved, bool) and math.isfinite(saved)
        )
    if isinstance(current, torch.Tensor) or isinstance(saved, torch.Tensor):
        return (
            isinstance(saved, torch.Tensor)
            and isinstance(current, torch.Tensor)
            and torch.equal(saved, current)
        )
    return type(saved) is type(current) and saved == current


def match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give restored optimizer state its parameter's memory layout (checkpoints store it
    contiguous): a fused optimizer walks parameter and state memory in lockstep, so a
    channels_last weight with a contiguous moment would be updated with the wrong elements."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == p.shape
                    and value.stride() != p.stride()
                ):
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def load_optimizer_state(opt: torch.optim.Optimizer, saved: Any) -> None:
    """Restore an optimizer from a checkpoint, checked first, in its parameters' memory layout."""
    check_optimizer_state(opt, saved)
    opt.load_state_dict(saved)
    match_param_layout(opt)
