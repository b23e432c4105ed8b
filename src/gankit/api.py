"""The Python API: `train(...)` a run and `load(path)` a trained model to sample from it."""

from __future__ import annotations

import dataclasses
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


def evaluate(
    model: Generator | str | Path,
    features: str | None = None,
    *,
    metrics: str | None = None,
    n: int = 10_000,
    seed: int = 0,
    data: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure a trained model against real data, as `gankit eval` does, and return the figures
    after a header (checkpoint, step, n). `model` is a loaded `Generator`, or a run directory or
    checkpoint loaded onto `device`; `sampling` holds `Generator.set_sampler` options for a
    diffusion model. A toy2d run is scored by mode coverage; an image run in the features of
    `features` (a classifier .safetensors, "inception" or FILE.py:FACTORY) by `metrics` (a comma
    list of fid,kid,is,pr,dc,classes,labels; by default all but `is`, with `labels` for
    conditional models), a Stacked MNIST run by its 1,000 modes; a VAE adds its negative ELBO on
    its held-out samples (alone without `features`). `n` samples are drawn from `seed`; `data` /
    `data_dir` name another reference than the run's own source, `cache_dir` where the reference
    features are kept.

    >>> gankit.evaluate("runs/mnist", "runs/classifier.safetensors", metrics="fid", n=2000)["fid"]
    """
    from .data.toy2d import mixture
    from .metrics.evaluate import parse_metrics
    from .metrics.modes import mode_coverage_2d

    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError("-n must be at least 2")
    if not isinstance(model, Generator):
        model = load(model, device)
    if sampling:
        model.set_sampler(**sampling)
    conditional = bool(getattr(model.recipe, "num_classes", 0))
    names = parse_metrics(metrics or "fid,kid,pr,dc,classes" + (",labels" if conditional else ""))
    if "labels" in names and not conditional:
        raise ConfigError(
            "the labels metric needs a class-conditional model (e.g. --preset cgan or ddpm-cond)"
        )
    data_cfg = dataclasses.replace(model.config.data)
    data_cfg.source, data_cfg.dir = data or data_cfg.source, data_dir or data_cfg.dir
    header = {"checkpoint": str(model.path), "step": model.step, "n": n}
    bound = getattr(model.recipe, "heldout_elbo", None)  # a likelihood model's
    if data_cfg.source == "toy2d":
        centers, std = mixture(data_cfg.toy)
        coverage = mode_coverage_2d(model.sample(n, seed=seed), centers, std)
        return {**header, "reference": f"toy2d-{data_cfg.toy}", "std": std, **coverage}
    if not features and bound is None:
        raise ConfigError(
            "image runs need --features (a classifier from `gankit train-classifier`, "
            "'inception', or FILE.py:FACTORY)"
        )
    if features:
        header = _feature_figures(model, header, features, names, data_cfg, seed, cache_dir)
    return {**header, **(bound(data_cfg, model.nets, seed) if bound else {})}


def _feature_figures(
    model: Generator,
    header: dict[str, Any],
    features: str,
    names: list[str],
    data_cfg: config_mod.DataConfig,
    seed: int,
    cache_dir: str | Path | None,
) -> dict[str, Any]:
    """`evaluate`'s figures of an image run in the features of `features`, after `header`."""
    from .data import load_dataset
    from .metrics.classifier import load_classifier
    from .metrics.evaluate import evaluate as score
    from .metrics.evaluate import stacked_mnist_modes
    from .metrics.extractors import load_extractor

    n = header["n"]
    labels = model.recipe.labels(n)  # each class in turn; None for an unconditional model
    real = load_dataset(data_cfg)
    extractor = load_extractor(features)
    fake = model.sample(n, labels=labels, seed=seed)
    if data_cfg.source == "stacked-mnist":  # each channel's digit instead of one class histogram
        names = [m for m in names if m not in ("is", "classes", "labels")]
        header = {**header, **stacked_mnist_modes(load_classifier(features), fake)}
    cache = Path(cache_dir) if cache_dir else None
    figures = score(
        extractor, real, fake, names, seed, cache, labels if "labels" in names else None
    )
    return {
        **header,
        "reference": real.name,
        "reference_n": len(real),
        "features": extractor.key,
        **figures,
    }
