"""The Python API: `train(...)` a run and `load(path)` a trained model to sample from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from . import config as config_mod
from .config import Config
from .errors import CheckpointError, ConfigError
from .recipes.base import generate_in_chunks
from .train import RunResult, Trainer, build_model
from .train import checkpoint as ckpt


def make_config(
    preset: str = "dcgan", overrides: list[str] | None = None, **sections: Any
) -> Config:
    """A preset, then nested dict sections (`data={"source": "mnist"}`), then `key=value` strings
    (`gankit.config.build`)."""
    return config_mod.build(preset, overrides=overrides or (), **sections)


def train(
    config: Config | str = "dcgan",
    out: str | Path = "runs/gankit",
    *,
    resume: bool = False,
    download: bool = False,
    progress: bool | None = None,
    **sections: Any,
) -> RunResult:
    """Train a run. `config` is a Config or a preset name; sections override parts of it:

    >>> gankit.train("dcgan", out="runs/demo", data={"source": "digits"}, train={"steps": 500})
    """
    cfg = config if isinstance(config, Config) else make_config(config, **sections)
    if isinstance(config, Config) and sections:
        config_mod.update(cfg, **sections)  # the trainer validates
    trainer = Trainer(cfg, out, resume=resume, download=download, progress=progress)
    try:
        return trainer.run()
    finally:
        trainer.close()


class Generator:
    """A trained model loaded from a checkpoint, ready to sample (EMA weights when the run had
    them), on `device` (checkpoints hold CPU tensors, so any device loads any checkpoint)."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        from .train.distributed import resolve_device

        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigError(f"load needs the path of a run folder or checkpoint, got {path!r}")
        self.device = resolve_device(device)
        self.path, state = ckpt.load_latest(path)
        try:
            self.config = config_mod.from_dict(state["config"])
            data = state["data"]
            self.sample_shape = tuple(data["sample_shape"])
            self.num_classes = int(data["num_classes"])
            self.recipe = build_model(self.config, self.sample_shape, self.num_classes)
            for name, net in self.recipe.nets.items():
                net.load_state_dict(state["nets"][name])
            self.nets = dict(self.recipe.nets)
            for name, weights in (state.get("ema") or {}).items():
                self.nets[name].load_state_dict(weights)
            self.step = int(state["step"])
            self.health = state["health"]["history"]
            if not isinstance(self.health, list):
                raise TypeError("health history is not a list")
        except (
            KeyError,
            IndexError,
            RuntimeError,
            TypeError,
            ValueError,
            AttributeError,
            ConfigError,
        ) as e:
            raise CheckpointError(
                f"{self.path} does not hold a usable gankit model: {str(e).splitlines()[0]}"
            ) from None
        for net in self.nets.values():
            net.to(self.device).eval().requires_grad_(False)
        self.used_ema = bool(state.get("ema"))

    def set_sampler(
        self,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        guidance: float | None = None,
        spacing: str | None = None,
    ) -> None:
        """How a diffusion model samples (`ddpm`, or `ddim` with `steps`, `eta` and the step
        `spacing`) and its guidance scale; options left None keep the run's own (`diffusion.*`).
        Other families have no sampler."""
        if not hasattr(self.recipe, "set_sampler"):
            raise ConfigError(
                f"sampler options apply to diffusion models; this is a {self.config.recipe} model"
            )
        d = self.config.diffusion
        name = sampler or d.sampler
        if steps is None and name == "ddim":
            steps = d.sampling_steps if d.sampler == "ddim" else None
        if eta is None:
            eta = d.eta if name == "ddim" else 0.0
        self.recipe.set_sampler(name, steps, eta, guidance, spacing)

    @torch.no_grad()
    def sample(
        self, n: int, labels: torch.Tensor | None = None, seed: int = 0, batch_size: int = 1000
    ) -> torch.Tensor:
        """`n` samples in data space ([-1, 1] images, N x C x H x W), deterministic for a seed."""
        n, batch_size, seed = config_mod.check_sampling(n, batch_size, seed)
        rng = torch.Generator().manual_seed(seed)
        latents = self.recipe.latents(n, rng).to(
            self.device
        )  # drawn on the CPU: same samples on any device
        labels = None if labels is None else labels.to(self.device)
        return (
            generate_in_chunks(self.recipe, latents, labels, self.nets, batch_size)
            .float()
            .cpu()
            .contiguous()
        )


def load(path: str | Path, device: str = "cpu") -> Generator:
    """Load a run directory (its newest checkpoint) or a checkpoint file onto `device`
    (cpu, cuda, cuda:N, or auto)."""
    return Generator(path, device)
