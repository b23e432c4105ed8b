"""The Python API: `train(...)` a run and `load(path)` a trained model to sample from it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from . import config as config_mod
from .config import Config
from .data import Dataset, split_holdout
from .data.memory import SOURCE as MEMORY
from .data.memory import from_user
from .errors import CheckpointError, ConfigError, DataError
from .progress import bar as progress_bar
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
    data: Any = None,
    resume: bool = False,
    download: bool = False,
    progress: bool | None = None,
    **sections: Any,
) -> RunResult:
    """Train a run. `config` is a Config or a preset name; sections override parts of it:

    >>> gankit.train("dcgan", out="runs/demo", data={"source": "digits"}, train={"steps": 500})

    `data` is the `data` section (a dict), or the images themselves: a tensor or NumPy array
    (N x C x H x W or N x H x W; uint8 0..255, or floats in [0, 1] or [-1, 1]), a pair
    (images, labels), or a `torch.utils.data.Dataset` of images or (image, label) pairs
    (`gankit.data.memory`); the run's `data.source` is then `memory`.

    >>> gankit.train("cgan", out="runs/mine", data=(images, labels), train={"steps": 500})
    """
    dataset = None
    if data is not None and not isinstance(data, dict):
        dataset, data = from_user(data), {"source": MEMORY}
    if data is not None:
        sections["data"] = data
    cfg = config if isinstance(config, Config) else make_config(config, **sections)
    if isinstance(config, Config) and sections:
        config_mod.update(cfg, **sections)  # the trainer validates
    if dataset is not None:
        dataset = _fit_options(dataset, config_mod.validate(cfg))
    trainer = Trainer(cfg, out, resume=resume, download=download, progress=progress, data=dataset)
    try:
        return trainer.run()
    finally:
        trainer.close()


def _fit_options(dataset: Dataset, cfg: Config) -> Dataset:
    """The data options that apply to images handed over: `data.holdout` (the last N are held
    out); `data.resolution` and `data.channels` must be the images' own (no resampling here)."""
    d = cfg.data
    if not dataset.is_image:
        return dataset
    channels, height, width = dataset.sample_shape
    if d.resolution is not None and (d.resolution != height or d.resolution != width):
        raise ConfigError(
            f"data.resolution={d.resolution}, but the images handed over are {height}x{width}: "
            "resize them first, or leave data.resolution unset"
        )
    if d.channels is not None and d.channels != channels:
        raise ConfigError(
            f"data.channels={d.channels}, but the images handed over have {channels}: convert "
            "them first, or leave data.channels unset"
        )
    return split_holdout(dataset, d.holdout)[0] if d.holdout else dataset


#: which of a run's weights a loaded model samples: the average (EMA, when the run kept one) or
#: the networks as trained at the checkpoint's step
WEIGHTS = ("ema", "raw")


class Generator:
    """A trained model loaded from a checkpoint or an export folder (`gankit export`), ready to
    sample, on `device` (checkpoints and exports hold CPU tensors, so any device loads any of
    them). `weights="ema"` samples the EMA weights when the run had them; "raw" the networks as
    trained (a checkpoint holds both), which shows whether the average lags a short run."""

    def __init__(self, path: str | Path, device: str = "cpu", weights: str = "ema"):
        from .model_export import is_export

        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigError(f"load needs the path of a run folder or checkpoint, got {path!r}")
        device, weights = self._device(device), _check_weights(weights)
        if is_export(path):
            if weights == "raw":
                raise ConfigError(
                    f"{path} is an export, which holds the sampling weights only: "
                    "weights='raw' needs the run folder or a checkpoint"
                )
            self._load_export(Path(path))
        else:
            self._load_checkpoint(*ckpt.load_latest(path), weights=weights)
        self._place(device)

    @classmethod
    def from_checkpoint(
        cls, path: Path, state: dict[str, Any], device: str = "cpu", weights: str = "ema"
    ) -> Generator:
        """The model of a checkpoint's state already read (`checkpoint.load_latest`)."""
        model = cls.__new__(cls)
        device = model._device(device)
        model._load_checkpoint(path, state, weights=_check_weights(weights))
        model._place(device)
        return model

    def _device(self, device: str) -> torch.device:
        from .train.distributed import resolve_device

        return resolve_device(device)

    def _load_checkpoint(self, path: Path, state: dict[str, Any], weights: str = "ema") -> None:
        self.path, self.exported = path, False
        try:
            self.config = config_mod.from_dict(state["config"])
            data = state["data"]
            self.sample_shape = tuple(data["sample_shape"])
            self.num_classes = int(data["num_classes"])
            self.recipe = build_model(self.config, self.sample_shape, self.num_classes)
            for name, net in self.recipe.nets.items():
                net.load_state_dict(state["nets"][name])
            self.nets = dict(self.recipe.nets)
            averaged = (state.get("ema") or {}) if weights == "ema" else {}
            for name, averaged_weights in averaged.items():
                self.nets[name].load_state_dict(averaged_weights)
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
        self.used_ema = weights == "ema" and bool(state.get("ema"))

    def _load_export(self, path: Path) -> None:
        """An export folder: the run's recipe (latents, labels, how outputs become samples) from
        its config, with the exported network as its only one (the others are not there)."""
        from .model_export import network_of, read_export

        description, weights = read_export(path)
        self.path, self.exported = path, True
        try:
            self.config = config_mod.from_dict(description["config"])
            self.sample_shape = tuple(description["sample_shape"])
            self.num_classes = int(description["num_classes"])
            self.recipe = build_model(self.config, self.sample_shape, self.num_classes)
            self.step = int(description["step"])
            self.used_ema = bool(description["ema"])
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, ConfigError) as e:
            raise CheckpointError(
                f"{path} does not hold a usable gankit export: {str(e).splitlines()[0]}"
            ) from None
        spec = self.recipe.sampling_spec
        self.recipe.nets = self.nets = {spec.name: network_of(spec, description, weights)}
        self.health = []

    def _place(self, device: torch.device) -> None:
        self.device = device
        for net in self.nets.values():
            net.to(self.device).eval().requires_grad_(False)

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
        self,
        n: int,
        labels: torch.Tensor | None = None,
        seed: int = 0,
        batch_size: int = 1000,
        progress: bool | None = False,
        truncation: float = 1.0,
    ) -> torch.Tensor:
        """`n` samples in data space ([-1, 1] images, N x C x H x W), deterministic for a seed.
        `progress` (None: on a terminal) draws a bar over the batches, and over a diffusion
        model's denoising steps, which can take minutes. `truncation` (psi) moves a style-based
        G's w towards its tracked average (1: none; refused for a model without a w space)."""
        from .latent import check_truncation, style_generator

        n, batch_size, seed = config_mod.check_sampling(n, batch_size, seed)
        psi = check_truncation(truncation)
        options = {"truncation": psi} if psi != 1 else {}
        if options:
            style_generator(self)
        rng = torch.Generator().manual_seed(seed)
        latents = self.recipe.latents(n, rng).to(
            self.device
        )  # drawn on the CPU: same samples on any device
        labels = None if labels is None else labels.to(self.device)
        sampler = getattr(self.recipe, "sampler", None)  # diffusion: steps within each batch
        steps = len(sampler.timesteps) if sampler is not None else 1
        batches = -(-n // batch_size)
        with progress_bar(batches * steps, f"sampling {n}", "step", progress) as bar:
            if sampler is not None:
                sampler.on_step = bar.update
            try:
                samples = generate_in_chunks(
                    self.recipe,
                    latents,
                    labels,
                    self.nets,
                    batch_size,
                    on_chunk=None if sampler is not None else bar.update,
                    **options,
                )
            finally:
                if sampler is not None:
                    sampler.on_step = None
        return samples.float().cpu().contiguous()

    def interpolate(self, frames: int = 16, seed: int = 0, **options: Any) -> torch.Tensor:
        """A latent walk between the two latents of `seed` (`gankit.latent.interpolate`: `space`,
        `truncation`, `label`, `progress`): `frames` images, N x C x H x W in [-1, 1]."""
        from .latent import interpolate

        return interpolate(self, frames, seed, **options)

    def mix(self, rows: int = 3, columns: int = 5, **options: Any) -> tuple[torch.Tensor, int]:
        """A style-based G's style-mixing grid (`gankit.latent.mixing_grid`: `layers`, `seed`,
        `truncation`, `progress`): its tiles and the tiles per grid row."""
        from .latent import mixing_grid

        return mixing_grid(self, rows, columns, **options)


def load(path: str | Path, device: str = "cpu", weights: str = "ema") -> Generator:
    """Load a run directory (its newest checkpoint), a checkpoint file or an export folder
    (`gankit export`) onto `device` (cpu, cuda, cuda:N, or auto); `weights` "ema" (the average,
    when the run kept one) or "raw" (the networks as trained; not in an export)."""
    return Generator(path, device, weights)


def _check_weights(weights: Any) -> str:
    if weights not in WEIGHTS:
        raise ConfigError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    return weights


def evaluate(
    model: Generator | str | Path | None = None,
    features: str | None = None,
    *,
    samples: str | Path | None = None,
    metrics: str | None = None,
    n: int = 10_000,
    seed: int = 0,
    data: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    sampling: dict[str, Any] | None = None,
    classifier_epochs: int | None = None,
    progress: bool | None = None,
    reference: str = "train",
    weights: str = "ema",
    truncation: float = 1.0,
) -> dict[str, Any]:
    """Measure a trained model, or a set of images, against real data, as `gankit eval` does,
    and return the figures after a header (checkpoint, step, n; or samples, n).

    `model` is a loaded `Generator`, or a run directory or checkpoint loaded onto `device`;
    `sampling` holds `Generator.set_sampler` options for a diffusion model. A toy2d run is scored
    by mode coverage; an image run in the features of `features` by `metrics` (a comma list of
    fid,kid,is,pr,dc,classes,labels; by default all but `is`, with `labels` for conditional
    models), a Stacked MNIST run by its 1,000 modes too; a VAE adds its negative ELBO on its
    held-out samples (alone without `features`). `features` is a classifier .safetensors,
    "inception", FILE.py:FACTORY, or "default" (the default without one): the feature network of
    the reference data from the cache, trained once (`classifier_epochs`, default 8 for grey
    images and 15 for colour ones) where there is none;
    `progress` (None: on a terminal) draws bars over the sampling and that training. A
    classifier trained on other data is refused; one with a low held-out accuracy adds
    `features_warning`. `n` samples are drawn from `seed`; `data` / `data_dir` name
    another reference than the run's own source, `cache_dir` where the reference features are
    kept. `reference` "full" compares with every image of the source's `data.classes`, before
    `data.holdout` and `data.limit` (a few-shot run against the set its images came from).
    `weights` "raw" scores the networks as trained instead of their EMA (see `load`);
    `truncation` (psi) scores a style-based G's samples drawn as `Generator.sample` draws them,
    so a sweep of psi measures the truncation trick's quality/diversity trade.

    `samples` (a folder of images or an .npz, instead of `model`) scores those images against
    `data` read at their size and channels.

    >>> gankit.evaluate("runs/mnist", "runs/classifier.safetensors", metrics="fid", n=2000)["fid"]
    >>> gankit.evaluate(samples="fakes.npz", data="cifar10", data_dir="DATA")["fid"]
    """
    from .data.toy2d import mixture
    from .latent import check_truncation, style_generator
    from .metrics.evaluate import parse_metrics
    from .metrics.modes import mode_coverage_2d

    if samples is not None:
        if model is not None:
            raise ConfigError("give a run or samples to evaluate, not both")
        if reference != "train":
            raise ConfigError("--reference chooses among a run's images; --samples takes --data")
        if weights != "ema":
            raise ConfigError("--weights chooses a run's networks; --samples are images already")
        if truncation != 1:
            raise ConfigError("--truncation draws a run's samples; --samples are images already")
        return _evaluate_samples(
            samples,
            features,
            metrics,
            seed,
            (data, data_dir),
            cache_dir,
            classifier_epochs,
            progress,
        )
    if model is None:
        raise ConfigError("evaluate needs a run (RUN, or a loaded model) or samples (--samples)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError("-n must be at least 2")
    if not isinstance(model, Generator):
        model = load(model, device, weights)
    elif weights != "ema":
        raise ConfigError("weights applies to a run evaluate loads: pass load(path, weights=...)")
    if sampling:
        model.set_sampler(**sampling)
    conditional = bool(getattr(model.recipe, "num_classes", 0))
    names = parse_metrics(metrics or "fid,kid,pr,dc,classes" + (",labels" if conditional else ""))
    if "labels" in names and not conditional:
        raise ConfigError(
            "the labels metric needs a class-conditional model (e.g. --preset cgan or ddpm-cond)"
        )
    if reference not in config_mod.REFERENCES:
        choices = ", ".join(config_mod.REFERENCES)
        raise ConfigError(f"--reference is one of {choices}, not '{reference}'")
    data_cfg = dataclasses.replace(model.config.data)
    data_cfg.source, data_cfg.dir = data or data_cfg.source, data_dir or data_cfg.dir
    header = {"checkpoint": str(model.path), "step": model.step, "n": n}
    psi = check_truncation(truncation)
    if psi != 1:
        style_generator(model)  # refused, in one line, for a model without a w space
        header["truncation"] = psi
    # a likelihood model's (an export holds the decoder alone: no bound without the encoder)
    bound = None if model.exported else getattr(model.recipe, "heldout_elbo", None)
    if data_cfg.source == "toy2d":
        centers, std = mixture(data_cfg.toy)
        coverage = mode_coverage_2d(model.sample(n, seed=seed, progress=progress), centers, std)
        return {**header, "reference": f"toy2d-{data_cfg.toy}", "std": std, **coverage}
    if features or bound is None:
        real = _reference(data_cfg, model.sample_shape, "this run's samples are", reference)
        labels = model.recipe.labels(n)  # each class in turn; None for an unconditional model
        fake = model.sample(n, labels=labels, seed=seed, progress=progress, truncation=psi)
        header = _feature_figures(
            header,
            fake,
            labels if "labels" in names else None,
            _features(features or "default", data_cfg, real, classifier_epochs, progress),
            names,
            data_cfg,
            real,
            seed,
            cache_dir,
        )
    return {**header, **(bound(data_cfg, model.nets, seed) if bound else {})}


def _evaluate_samples(
    samples: str | Path,
    features: str | None,
    metrics: str | None,
    seed: int,
    reference: tuple[str | None, str | None],
    cache_dir: str | Path | None,
    epochs: int,
    progress: bool | None,
) -> dict[str, Any]:
    """`evaluate(samples=...)`: images from a folder or an .npz against the `reference` data
    (source, folder) read at their size and channels."""
    from .metrics.evaluate import parse_metrics, read_samples

    data, data_dir = reference
    if not data or data in ("toy2d", "table"):
        raise ConfigError(
            "scoring samples needs the image data to compare them with: --data SOURCE"
        )
    names = parse_metrics(metrics or "fid,kid,pr,dc,classes")
    if "labels" in names:
        raise ConfigError("the labels metric needs a class-conditional model, not samples")
    fake = read_samples(samples)
    channels, resolution = fake.shape[1], fake.shape[-1]
    if fake.shape[-2] != resolution:
        raise ConfigError(f"samples must be square, got {fake.shape[-2]}x{resolution} images")
    data_cfg = config_mod.DataConfig(
        source=data, dir=data_dir, resolution=resolution, channels=channels
    )
    real = _reference(data_cfg, tuple(fake.shape[1:]), "the samples are")
    header = {"samples": str(samples), "n": len(fake)}
    extractor = _features(features or "default", data_cfg, real, epochs, progress)
    return _feature_figures(header, fake, None, extractor, names, data_cfg, real, seed, cache_dir)


def _reference(
    data_cfg: config_mod.DataConfig,
    sample_shape: tuple[int, ...],
    what: str,
    reference: str = "train",
):
    """The reference data set (`reference`: as `load_reference`), refused in one line when its
    images are not the samples' shape."""
    from .data import load_reference

    real = load_reference(data_cfg, reference)
    wanted = "x".join(map(str, real.sample_shape))
    if len(sample_shape) != 3:
        raise ConfigError(
            f"{what} points of {sample_shape[0]} values, not images like the reference "
            f"{real.name} ({wanted}): score them against their own data"
        )
    if tuple(sample_shape) != tuple(real.sample_shape):
        raise ConfigError(
            f"{what} {'x'.join(map(str, sample_shape))} images, the reference {real.name} "
            f"{wanted}: score them against data of their shape"
        )
    return real


def _features(spec: str, data_cfg: config_mod.DataConfig, real, epochs: int, progress):
    """The extractor of `spec` ("default": the reference's cached feature network, trained once),
    refused in one line when it is a classifier trained on other images than `real`."""
    from .metrics.classifier import check_features, class_names
    from .metrics.extractors import load_extractor

    if spec == "default":
        classes = class_names(data_cfg.source, real, data_cfg.dir)
        spec = str(_default_classifier(data_cfg, real, classes, epochs, progress))
    extractor = load_extractor(spec)
    check_features(extractor.trained_on, data_cfg, real, spec)
    return extractor


def _default_classifier(data_cfg, real, classes, epochs, progress) -> Path:
    """The cached default classifier of the reference data; a Stacked MNIST's is MNIST's, whose
    digits its channels hold; an unlabelled folder's is trained on its `categories.json`."""
    from .data import load_dataset
    from .data.subset import labelled
    from .metrics.classifier import class_names, default_classifier

    wrong = isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    if epochs is not None and wrong:
        raise ConfigError("--classifier-epochs must be at least 1")
    source = data_cfg.source
    if source == "stacked-mnist":
        source = "mnist"
        real = load_dataset(dataclasses.replace(data_cfg, source=source, channels=None, holdout=0))
        classes = class_names(source, real)
    if real.y is None:
        try:
            real, classes = labelled(real, data_cfg)
        except DataError as e:
            raise DataError(f"{e}; or give --features inception or FILE.py:FACTORY") from None
    return default_classifier(source, real, classes, epochs, progress=progress)


def _feature_figures(
    header: dict[str, Any],
    fake: torch.Tensor,
    labels: torch.Tensor | None,
    extractor,
    names: list[str],
    data_cfg: config_mod.DataConfig,
    real,
    seed: int,
    cache_dir: str | Path | None,
) -> dict[str, Any]:
    """`evaluate`'s figures of `fake` images in `extractor`'s features, after `header`; `labels`:
    the classes a conditional model was asked for."""
    from .metrics.classifier import accuracy_warning, load_classifier
    from .metrics.evaluate import evaluate as score
    from .metrics.evaluate import stacked_mnist_modes

    info = extractor.trained_on
    if data_cfg.source == "stacked-mnist":  # each channel's digit instead of one class histogram
        names = [m for m in names if m not in ("is", "classes", "labels")]
        header = {**header, **stacked_mnist_modes(load_classifier(extractor.spec), fake)}
    cache = Path(cache_dir) if cache_dir else None
    figures = score(extractor, real, fake, names, seed, cache, labels)
    about = {} if info is None or info.accuracy is None else {"features_accuracy": info.accuracy}
    warning = accuracy_warning(info)
    if warning:
        about["features_warning"] = warning
    return {
        **header,
        "reference": real.name,
        "reference_n": len(real),
        "features": extractor.key,
        **about,
        **figures,
    }
