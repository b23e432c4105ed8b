"""Run configuration: nested dataclasses, named presets, YAML in/out and `key=value` overrides.

A run is reproducible from its saved `config.yaml` and seed alone, so everything that changes the
result lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class DataConfig:
    source: str = "digits"  # one of gankit.data.options.SOURCES (table: gankit.tabular only)
    dir: str | None = None  # folder of the mnist, fashion-mnist, cifar10 or folder source
    split: str = "auto"  # mnist, fashion-mnist, cifar10: train | test | auto (train if there)
    resolution: int | None = None  # None: the source's size (folder: the images' own, if shared)
    channels: int | None = None  # None: the source's (folder: 1 if every image is grey); 1 or 3
    alpha: str = "white"  # folder: transparency composited on white | black, or keep (a channel)
    flip: bool = False  # mirror a random half of each batch, drawn from (seed, step)
    toy: str = "ring"  # toy2d: ring (8 Gaussians) | grid (25 Gaussians)
    toy_samples: int = 50_000
    stacked_samples: int = (
        50_000  # stacked-mnist: images of three digits drawn from the MNIST files
    )
    holdout: int = 0  # the last N samples are held out of training (held-out ELBO, compare)


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # mlp | dcgan | resnet (SNGAN/SAGAN blocks)
    z_dim: int = 100
    width: int = 64  # dcgan: channels of the widest-resolution layer
    hidden: list[int] = field(
        default_factory=lambda: [256, 512]
    )  # mlp: G hidden sizes (D reversed)
    d_hidden: list[int] | None = None  # mlp: D hidden sizes, when not G's reversed
    g_norm: str = "none"  # mlp G: none | batch (batch norm before each hidden ReLU)
    minibatch_std: int = 0  # dcgan D: group size of a minibatch-stddev channel; 0 disables
    d_norm: str = "batch"  # dcgan D: batch | none
    d_dropout: float = 0.0  # mlp D: dropout after each hidden layer (Goodfellow et al. 2014)
    pack: int = 1  # PacGAN: D judges `pack` samples at once (concatenated); 1 disables
    target_share: float = 0.5  # tables with a target: share of training rows conditioned on it, and
    # every unconditional sample drawn given it; 0: CTGAN's uniform columns
    conditional: bool = False  # class-conditional G and D: label concatenated (mlp, dcgan: cGAN),
    # conditional batch norm in G + projection D (resnet)
    projection: bool = (
        False  # dcgan: a projection D (Miyato & Koyama 2018) instead of concatenation
    )
    d_spectral_norm: bool = False  # spectral normalization of every D layer (SNGAN)
    g_spectral_norm: bool = False  # ... and of G's (SAGAN)
    attention_res: int | None = None  # resnet: self-attention block at this resolution (SAGAN)


@dataclass
class LossConfig:
    kind: str = (
        "non-saturating"  # non-saturating | minimax | wasserstein | hinge | lsgan | relativistic
    )
    gp: float = 0.0  # WGAN-GP weight of the gradient penalty on interpolates (paper: 10)
    r1: float = 0.0  # R1 weight gamma on real data (Mescheder et al. 2018)
    r1_every: int = 1  # lazy R1: every k-th step, weighted k times (StyleGAN2: 16)
    clip: float | None = None  # WGAN weight clipping of D to [-c, c] (paper: 0.01)
    diffaugment: str = ""  # DiffAugment policy on D's inputs, e.g. color,translation,cutout


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | rmsprop (the WGAN paper's: momentum destabilised its critic)
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay: str = "none"  # none | linear (to 0 at the last step; needs train.steps)
    n_critic: int = 1  # D steps per G step, each on its own real batch (WGAN: 5)
    weight_decay: float = 0.0  # L2 on the weights, in Adam (the ctgan/tvae recipes: 1e-6 / 1e-5)


@dataclass
class TrainConfig:
    steps: int | None = 2000
    minutes: float | None = None
    seed: int = 0
    ema: float | None = None  # EMA decay of G's weights (e.g. 0.999); None disables
    ema_start: int = 0  # steps before EMA starts averaging (copies G until then)
    log_every: int = 100
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    health_classifier: str | None = (
        None  # digit classifier: class histogram of samples in the health check
    )
    eval_every: int | None = None  # steps between evaluations of the sampling weights; None: never
    eval_features: str | None = None  # extractor spec, as `gankit eval --features`
    eval_metrics: str = "fid"  # comma list, as `gankit eval --metrics`
    eval_samples: int = 2000
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    channels_last: bool = True
    device: str = (
        "auto"  # auto (cuda when present) | cpu | cuda | cuda:i; torchrun: cuda:LOCAL_RANK
    )
    amp: str = "none"  # none | bf16 | fp16 (autocast; fp16 with a GradScaler)
    compile: bool | str = (
        False  # torch.compile: true or nets (the networks) | step (the recipe's whole
    )
    # training step); the first steps are slow while it compiles


@dataclass
class VAEConfig:
    """The VAE recipe (recipe: vae); `beta` weighs the table VAE's KL term too (recipe: tvae)."""

    likelihood: str = "bernoulli"  # bernoulli (logits; held-out ELBO on pixels binarised at 0.5) |
    # gaussian (discretised to the 256 levels of 8-bit pixels)
    beta: float = 1.0  # weight of the KL term (beta-VAE; 1 is the ELBO)
    kl_warmup: int = 0  # steps over which the KL weight ramps linearly from 0 to beta


@dataclass
class DiffusionConfig:
    """The diffusion recipe (recipe: diffusion); ignored by the others."""

    schedule: str = "linear"  # linear (DDPM: 1e-4..0.02) | cosine (Nichol & Dhariwal 2021)
    timesteps: int = 1000
    cond_drop: float = (
        0.1  # conditional: share of labels dropped in training (classifier-free guidance)
    )
    attention: bool = True  # self-attention at the U-Net's lowest resolution
    channel_mult: list[int] = field(
        default_factory=lambda: [1, 2, 2]
    )  # U-Net widths at H, H/2, H/4, x model.width
    sampler: str = "ddim"  # default sampler for grids, `gankit sample` and eval: ddpm | ddim
    sampling_steps: int = 50  # ddim steps (ddpm always runs all timesteps)
    eta: float = 0.0  # ddim: 0 deterministic, 1 DDPM-like noise
    spacing: str = (
        "trailing"  # ddim step spacing: trailing (starts at T-1) | leading | linspace | quadratic
    )
    guidance: float = 1.0  # classifier-free guidance scale (1: plain conditional, 0: unconditional)
    min_snr: float | None = (
        None  # loss weight min(SNR_t, gamma)/SNR_t (Hang et al. 2023, gamma 5); None: plain MSE
    )


@dataclass
class Config:
    preset: str = "dcgan"
    recipe: str = "gan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        """Write the YAML whole or not at all (a failure keeps the previous file)."""
        from .files import atomic_write

        atomic_write(path, self.to_yaml().encode())


PRESETS: dict[str, dict[str, Any]] = {
    # The seed paper's MLP GAN exactly: G 100-256-512-784 (ReLU, Tanh), D 784-512-256-1
    # (LeakyReLU 0.2, sigmoid folded into BCE), Adam 2e-4, batch 64.
    "seed-mlp": {
        "model": {"arch": "mlp", "z_dim": 100, "hidden": [256, 512]},
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": None},
    },
    # DCGAN (Radford et al. 2015) architecture, with defaults measured to give clean digits of every
    # class in 5 CPU minutes on MNIST across seeds (docs/results/mnist_dcgan.md): width 32
    # (3x the steps of width 64 in the same time), D without batch norm (with it, D cannot see a
    # batch's class imbalance and the rarest class fell to 2.8%), EMA of G.
    "dcgan": {
        "model": {"arch": "dcgan", "z_dim": 100, "width": 32, "d_norm": "none"},
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "train": {"ema": 0.999, "ema_start": 200},
    },
    # The paper presets below each change what their paper changed, on the dcgan preset's networks
    # (or the ResNet of SNGAN/SAGAN) so their rows in docs/results/mnist_presets.md compare like with like.
    # Goodfellow et al. 2014 as the common PyTorch ports write it: MLP G 128-256-512-1024 with batch
    # norm, D 512-256, non-saturating loss, Adam 2e-4 / 0.5. Measured on MNIST (docs/results/mnist_presets.md): without
    # G's batch norm, and with D as wide as G (1024-512-256), D wins outright and G collapses to one
    # pattern, with or without dropout in D.
    "gan": {
        "model": {
            "arch": "mlp",
            "z_dim": 100,
            "hidden": [128, 256, 512, 1024],
            "d_hidden": [512, 256],
            "g_norm": "batch",
        },
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "train": {"ema": None},
    },
    # Mirza & Osindero 2014: G and D both read the label (one-hot next to z; a label map next to
    # the image), on the dcgan networks.
    "cgan": {"base": "dcgan", "model": {"conditional": True}},
    # Mao et al. 2017: least-squares loss (a=0, b=1, c=1), Adam 2e-4 / 0.5.
    "lsgan": {"base": "dcgan", "loss": {"kind": "lsgan"}},
    # Arjovsky et al. 2017: Wasserstein critic with weights clipped to 0.01, 5 critic steps per G
    # step, RMSprop 5e-5; the DCGAN critic keeps its batch norm, as in the paper.
    "wgan": {
        "base": "dcgan",
        "model": {"d_norm": "batch"},
        "loss": {"kind": "wasserstein", "clip": 0.01},
        "optim": {"name": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5},
    },
    # Gulrajani et al. 2017, Algorithm 1: gradient penalty 10, no batch norm in the critic, 5 critic
    # steps, Adam 1e-4 with betas (0, 0.9).
    "wgan-gp": {
        "base": "dcgan",
        "model": {"d_norm": "none"},
        "loss": {"kind": "wasserstein", "gp": 10.0},
        "optim": {"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    },
    # Miyato et al. 2018: spectral norm on every D layer, hinge loss, their setting C for the
    # standard CNN (Adam 2e-4, betas 0.5 / 0.999, one D step).
    "sngan": {"base": "dcgan", "model": {"d_spectral_norm": True}, "loss": {"kind": "hinge"}},
    # The SNGAN/SAGAN ResNet with the hinge loss and spectral norm in D, Adam 2e-4 betas (0, 0.9).
    # One D step per G step (SNGAN's ResNet used 5): on a CPU budget 5x the G steps matter more.
    "hinge-resnet": {
        "base": "dcgan",
        "model": {"arch": "resnet", "width": 32, "d_spectral_norm": True},
        "loss": {"kind": "hinge"},
        "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9},
    },
    # Zhang et al. 2019: the ResNet with self-attention (here at 14x14 of 28x28), spectral norm in G
    # and D, hinge loss and TTUR (lr_d 4e-4 > lr_g 1e-4), betas (0, 0.9).
    "sagan": {
        "base": "hinge-resnet",
        "model": {"attention_res": 14, "g_spectral_norm": True},
        "optim": {"lr_g": 1e-4, "lr_d": 4e-4},
    },
    # VAE (Kingma & Welling 2014) with a conv encoder/decoder, 16-d Gaussian posterior, Bernoulli
    # likelihood, Adam 1e-3; KL warm-up over the first 500 steps (Bowman et al. 2016).
    "vae": {
        "recipe": "vae",
        "model": {"arch": "conv", "z_dim": 16, "width": 32},
        "vae": {"likelihood": "bernoulli", "beta": 1.0, "kl_warmup": 500},
        "optim": {"batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": None},
    },
    # Conditional VAE (Sohn et al. 2015): encoder and decoder both read the label.
    "cvae": {"base": "vae", "model": {"conditional": True}},
    # DDPM (Ho et al. 2020): epsilon prediction, linear schedule, T=1000, a U-Net of width 32 with
    # attention at 7x7; Adam 1e-3 (the paper's 2e-4 is for 800k steps, not CPU minutes), EMA 0.995.
    "ddpm": {
        "recipe": "diffusion",
        "model": {"arch": "unet", "width": 32},
        "diffusion": {"schedule": "linear", "timesteps": 1000},
        "optim": {"batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": 0.995, "ema_start": 200},
    },
    # Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2022): labels dropped
    # 10% of the time in training; sampled at guidance scale 2.
    "ddpm-cond": {
        "base": "ddpm",
        "model": {"conditional": True},
        "diffusion": {"cond_drop": 0.1, "guidance": 2.0},
    },
    # ddpm-cond sized for a few CPU minutes on MNIST 28x28 (docs/results/diffusion_cpu.md;
    # ddpm-cond stays the GPU default). Each choice measured on one thread: a step is ~70%
    # convolutions, so the U-Net is narrow where the image is large: widths 16/32/64 at 28/14/7
    # (ddpm-cond: 32/64/64), 251k parameters, 0.18 CPU s a step of 64 against 0.37: in 5 minutes
    # steps count more than width. Min-SNR-5 loss weighting (Hang et al. 2023): the easy low-noise
    # steps weigh less (at 1,200 steps of this U-Net, 92% of samples read as the asked digit against
    # 73% without it; ddpm-cond at 400 steps: 52% against 36%). Guidance 5 (ddpm-cond at 800
    # steps: 37% at 2, 57% at 5). 1,700 steps is about 5 CPU minutes: 97% (ddpm-cond: 66% after
    # 1,245 steps, 9 minutes).
    "ddpm-cond-small": {
        "base": "ddpm-cond",
        "model": {"width": 16},
        "diffusion": {"channel_mult": [1, 2, 4], "min_snr": 5.0, "guidance": 5.0},
        "train": {"steps": 1700},
    },
    # Tables (gankit.tabular, `gankit tabular fit`). Xu et al. 2019's CTGAN: residual G 256-256 on
    # z (128) + conditional vector, D 256-256 judging 10 packed rows, WGAN-GP (10), one critic step,
    # Adam 2e-4 betas (0.5, 0.9), weight decay 1e-6, batch 500.
    "ctgan": {
        "recipe": "ctgan",
        "data": {"source": "table"},
        "model": {
            "arch": "mlp",
            "z_dim": 128,
            "hidden": [256, 256],
            "d_hidden": [256, 256],
            "pack": 10,
        },
        "loss": {"kind": "wasserstein", "gp": 10.0},
        "optim": {
            "batch_size": 500,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "beta1": 0.5,
            "beta2": 0.9,
            "weight_decay": 1e-6,
        },
        "train": {"ema": None, "log_every": 50, "checkpoint_every": 500},
    },
    # The same paper's TVAE: encoder and decoder 128-128, latent 128, Adam 1e-3, weight decay 1e-5;
    # the plain ELBO (vae.beta 1), where the ctgan package weighs the reconstruction 2x (beta 0.5).
    "tvae": {
        "recipe": "tvae",
        "data": {"source": "table"},
        "model": {"arch": "mlp", "z_dim": 128, "hidden": [128, 128]},
        "optim": {
            "batch_size": 500,
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "beta1": 0.9,
            "beta2": 0.999,
            "weight_decay": 1e-5,
        },
        "vae": {"beta": 1.0},
        "train": {"ema": None, "log_every": 50, "checkpoint_every": 500},
    },
}


def _preset_updates(name: str) -> list[dict[str, Any]]:
    """A preset's layers of updates, its base's first: presets that change one thing say only that."""
    spec = dict(PRESETS[name])
    base = spec.pop("base", None)
    return [*(_preset_updates(base) if base else []), spec]


def _options(obj: Any) -> set[str]:
    """The option names of a config section: its fields, not every attribute it has (a YAML key
    `__dict__` or `to_dict` is no option)."""
    return {f.name for f in dataclasses.fields(obj)}


def _merge(obj: Any, updates: dict[str, Any], where: str = "") -> None:
    for key, value in updates.items():
        if not isinstance(key, str) or key not in _options(obj):
            raise ConfigError(f"unknown option '{_shown(f'{where}{key}')}'")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"option '{where}{key}' is a section, not a value")
            _merge(current, value, f"{where}{key}.")
        else:
            _set(obj, key, _value_text(value, f"{where}{key}"), f"{where}{key}")


_SCALARS = (bool, int, float, numbers.Integral, numbers.Real)


def _value_text(value: Any, name: str) -> str:
    """A value of a YAML file or a Python dict as the text a `key=value` override would give, so
    both go through one parser. A date reads as written; a mapping, a nested list or any other
    object is refused here (and a list repeating itself through YAML aliases never expands)."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return str(value)
    if value is None or isinstance(value, _SCALARS):
        return json.dumps(_plain(value))
    if not isinstance(value, (list, tuple)):
        raise ConfigError(
            f"option '{name}' takes a value or a list of values, not a {type(value).__name__}"
        )
    inner = next((v for v in value if not (v is None or isinstance(v, (str, *_SCALARS)))), None)
    if inner is not None:
        raise ConfigError(
            f"option '{name}' takes a value or a list of values, not a list holding a "
            f"{type(inner).__name__}"
        )
    return json.dumps([_plain(v) for v in value])


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python one JSON writes."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _set(obj: Any, key: str, text: str, name: str) -> None:
    try:
        setattr(obj, key, _parse_value(text, getattr(obj, key), _field_type(obj, key)))
    except ConfigError as e:
        raise ConfigError(f"option '{name}': {e}") from None
    except (
        yaml.YAMLError,
        ValueError,
        RecursionError,
    ):  # ValueError: an integer of over 4,300 digits
        raise ConfigError(f"option '{name}': cannot parse value '{_shown(text)}'") from None


def _shown(text: str, limit: int = 60) -> str:
    """A value as an error message quotes it: one line, not 5,000 digits."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def from_preset(name: str) -> Config:
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (choose from: {', '.join(PRESETS)})")
    cfg = Config(preset=name)
    for updates in _preset_updates(name):
        _merge(cfg, updates)
    return cfg


def from_dict(d: dict[str, Any]) -> Config:
    if not isinstance(d, dict):  # a checkpoint's or a file's config that is no mapping
        raise ConfigError(
            f"a config is a mapping of sections and options, not a {type(d).__name__}"
        )
    cfg = Config()
    _merge(cfg, d)
    return cfg


def load(path: str | Path, base: str | None = None) -> Config:
    """A saved or hand-written YAML config. With `base`, the file's values go on top of the preset
    it names (`preset:`, else `base`), so a short file changes only what it lists; without, on top
    of the defaults (a run's saved config.yaml lists every value)."""
    try:
        d = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    except (
        ValueError,
        RecursionError,
    ):  # an integer of over 4,300 digits; lists nested thousands deep
        raise ConfigError(
            f"config {path} is not valid YAML (a number too long or lists nested too deep)"
        ) from None
    if not isinstance(d, dict):
        raise ConfigError(f"config {path} is not a mapping")
    if base is None:
        return from_dict(d)
    cfg = from_preset(d.get("preset", base))  # an unknown name is refused here
    _merge(cfg, d)
    return cfg


def _field_type(obj: Any, key: str) -> Any:
    for f in dataclasses.fields(obj):
        if f.name == key:
            return f.type
    return None


def _parse_value(text: str, current: Any, type_hint: str) -> Any:
    value = yaml.safe_load(text) if text != "" else None
    if text == "" and type_hint == "str":
        return ""  # an empty policy, e.g. loss.diffaugment=
    if value is None:
        if "None" in str(type_hint):
            return None
        raise ConfigError(f"value '{_shown(text)}' cannot be empty")
    if "bool" in str(type_hint) and "str" in str(
        type_hint
    ):  # a switch with named modes (train.compile)
        return value if isinstance(value, bool) else text.strip()
    if isinstance(current, bool) or "bool" in str(type_hint):
        if not isinstance(value, bool):
            raise ConfigError(f"expected true/false, got '{_shown(text)}'")
        return value
    if "float" in str(type_hint):
        try:
            return float(
                value if isinstance(value, (int, float)) else text
            )  # YAML reads 1e-4 as text
        except (ValueError, OverflowError):  # OverflowError: an integer past the largest float
            raise ConfigError(f"expected a number, got '{_shown(text)}'") from None
    if "int" in str(type_hint) and "float" not in str(type_hint):
        if "list" in str(type_hint):
            if not (
                isinstance(value, list)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                raise ConfigError(
                    f"expected a list of integers like [256,512], got '{_shown(text)}'"
                )
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"expected an integer, got '{_shown(text)}'")
        return value
    if "str" in str(type_hint):
        return text.strip()  # as written: a folder called "yes" stays "yes"
    return value


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (YAML-parsed values) to a config, checking keys and types."""
    for item in overrides:
        if not isinstance(item, str):
            raise ConfigError(f"override {_shown(repr(item))} is not a 'key=value' string")
        if "=" not in item:
            raise ConfigError(f"override '{_shown(item)}' is not of the form key=value")
        dotted, text = item.split("=", 1)
        if dotted.strip() in ("preset", "recipe"):
            raise ConfigError(f"'{dotted.strip()}' is chosen with --preset, not as an option")
        *path, key = dotted.strip().split(".")
        obj: Any = cfg
        for part in path:
            if part not in _options(obj) or not dataclasses.is_dataclass(getattr(obj, part)):
                raise ConfigError(f"unknown option '{_shown(dotted)}'")
            obj = getattr(obj, part)
        if key not in _options(obj) or dataclasses.is_dataclass(getattr(obj, key)):
            raise ConfigError(f"unknown option '{_shown(dotted)}'")
        _set(obj, key, text, dotted.strip())
    return cfg


ARCHS = ("mlp", "dcgan", "resnet")
TABLE_RECIPES = ("ctgan", "tvae")
RECIPE_ARCHS = {
    "gan": ARCHS,
    "vae": ("conv",),
    "diffusion": ("unet",),
    **{r: ("mlp",) for r in TABLE_RECIPES},
}
LOSSES = ("non-saturating", "minimax", "wasserstein", "hinge", "lsgan", "relativistic")


def _validate_gan_options(cfg: Config) -> None:
    m, loss = cfg.model, cfg.loss
    if loss.gp < 0 or loss.r1 < 0:
        raise ConfigError("loss.gp and loss.r1 are penalty weights and cannot be negative")
    if loss.r1_every < 1 or cfg.optim.n_critic < 1:
        raise ConfigError("loss.r1_every and optim.n_critic must be at least 1")
    if loss.clip is not None and loss.clip <= 0:
        raise ConfigError("loss.clip must be positive, or null to disable weight clipping")
    if (loss.gp or loss.r1) and (m.minibatch_std or (m.arch == "dcgan" and m.d_norm == "batch")):
        raise ConfigError(
            "loss.gp and loss.r1 need per-sample gradients of D: use model.d_norm=none and "
            "model.minibatch_std=0 (batch statistics mix the samples)"
        )
    if m.minibatch_std and m.arch == "mlp":
        raise ConfigError("model.minibatch_std needs a convolutional D (dcgan, resnet)")
    if m.pack > 1 and m.conditional:
        raise ConfigError(
            "model.pack and model.conditional cannot be combined (a packed D input has several labels)"
        )
    if m.g_norm not in ("none", "batch"):
        raise ConfigError(f"unknown model.g_norm '{m.g_norm}' (choose from: none, batch)")
    if m.d_hidden is not None and any(h < 1 for h in m.d_hidden):
        raise ConfigError("model.d_hidden sizes must be at least 1")
    if not 0.0 <= m.d_dropout < 1.0:
        raise ConfigError("model.d_dropout must be in [0, 1)")
    if m.projection and (m.arch != "dcgan" or not m.conditional):
        raise ConfigError(
            "model.projection needs model.arch=dcgan and model.conditional=true "
            "(the resnet D is always a projection D)"
        )
    if m.attention_res is not None and m.arch != "resnet":
        raise ConfigError("model.attention_res needs model.arch=resnet")
    from .augment import parse_policy

    parse_policy(loss.diffaugment)


def _validate_speed_options(cfg: Config) -> None:
    t = cfg.train
    if t.device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", t.device):
        raise ConfigError(
            f"unknown train.device '{t.device}' (choose from: auto, cpu, cuda, cuda:N)"
        )
    if t.compile not in (False, True, "nets", "step"):
        raise ConfigError(
            f"unknown train.compile '{t.compile}' (choose from: false, true or nets, step)"
        )
    if t.compile in (True, "nets") and (cfg.loss.gp or cfg.loss.r1):
        raise ConfigError(
            "train.compile=true with loss.gp or loss.r1 is not supported (the penalty differentiates "
            "the compiled D twice, which AOTAutograd cannot): use train.compile=step, which runs "
            "the penalty eagerly"
        )
    if t.amp not in ("none", "bf16", "fp16"):
        raise ConfigError(f"unknown train.amp '{t.amp}' (choose from: none, bf16, fp16)")
    if t.amp == "fp16" and (cfg.loss.gp or cfg.loss.r1):
        raise ConfigError(
            "train.amp=fp16 with loss.gp or loss.r1 is not supported (the penalty's double "
            "backward would need its own loss scaling): use train.amp=bf16"
        )


def _validate_kl_weight(v: VAEConfig) -> None:
    if v.beta < 0 or v.kl_warmup < 0:
        raise ConfigError("vae.beta and vae.kl_warmup cannot be negative")


def _validate_likelihood_options(cfg: Config) -> None:
    """The VAE's and diffusion's options (samplers are checked again where they are built)."""
    v, d = cfg.vae, cfg.diffusion
    if v.likelihood not in ("bernoulli", "gaussian"):
        raise ConfigError(
            f"unknown vae.likelihood '{v.likelihood}' (choose from: bernoulli, gaussian)"
        )
    if not 0.0 <= d.cond_drop < 1.0:
        raise ConfigError("diffusion.cond_drop must be in [0, 1)")
    if len(d.channel_mult) != 3 or min(d.channel_mult) < 1:
        raise ConfigError(
            f"diffusion.channel_mult takes three positive multipliers (H, H/2, H/4), got {d.channel_mult}"
        )
    if d.min_snr is not None and not d.min_snr > 0:
        raise ConfigError(
            f"diffusion.min_snr must be positive (Min-SNR-gamma: 5) or null, got {d.min_snr}"
        )
    if cfg.recipe == "diffusion" and cfg.model.width % 2:
        raise ConfigError(
            f"model.width must be even for the U-Net (its time embedding is sines and cosines "
            f"of width / 2 frequencies), got {cfg.model.width}"
        )
    from .schedulers import NoiseSchedule, make_sampler

    make_sampler(
        NoiseSchedule(d.schedule, d.timesteps),
        d.sampler,
        d.sampling_steps if d.sampler == "ddim" else None,
        d.eta if d.sampler == "ddim" else 0.0,
        d.spacing,
    )


SEED_RANGE = (-(2**43), 2**43 - 1)
#: the largest integer option but the seed: sizes multiplied together (width x channel_mult, a layer's
#: inputs x outputs) then stay within torch's 64-bit sizes, and torch refuses them as too large for memory
INT_OPTION_MAX = 2**31 - 1
#: train.threads at most: torch crashes (segmentation fault) on 100,000
MAX_THREADS = 1024  # the seeds derived from it (seed x 1,000,003 + step) stay in 64 bits


def check_integer(name: str, value: object, low: int, high: int | None = None) -> int:
    """A Python or NumPy integer (not a boolean) within bounds, as an int: the API's arguments."""
    if not isinstance(value, numbers.Integral) or isinstance(
        value, bool
    ):  # NumPy's bool is no Integral
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return int(value)


def check_sampling(n: object, batch_size: object, seed: object) -> tuple[int, int, int]:
    """The arguments of a `sample(n, ..., seed, batch_size)` call (images or table rows)."""
    return (
        check_integer("n", n, 1, 2**63 - 1),
        check_integer("batch_size", batch_size, 1),
        check_integer("seed", seed, *SEED_RANGE),
    )


def _validate_numbers(cfg: Config) -> None:
    """No NaN or infinity anywhere (a NaN passes every `x <= 0` check), betas in [0, 1), seeds and
    sizes in range: else torch raises deep inside the run."""
    for section in dataclasses.fields(cfg):
        values = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        for f in dataclasses.fields(values):
            v = getattr(values, f.name)
            if any(
                isinstance(x, float) and not math.isfinite(x)
                for x in (v if isinstance(v, list) else [v])
            ):
                raise ConfigError(f"{section.name}.{f.name} must be a finite number, got {v}")
            if f.name != "seed" and any(
                isinstance(x, int) and abs(x) > INT_OPTION_MAX
                for x in (v if isinstance(v, list) else [v])
            ):
                raise ConfigError(
                    f"{section.name}.{f.name} must be at most {INT_OPTION_MAX:,}, got {_shown(str(v))}"
                )
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg.optim, name) < 1.0:
            raise ConfigError(f"optim.{name} must be in [0, 1), got {getattr(cfg.optim, name)}")
    if not SEED_RANGE[0] <= cfg.train.seed <= SEED_RANGE[1]:
        raise ConfigError(
            f"train.seed must be in {SEED_RANGE[0]}..{SEED_RANGE[1]}, got {cfg.train.seed}"
        )
    if cfg.data.resolution is not None and cfg.data.resolution < 1:
        raise ConfigError(
            f"data.resolution must be at least 1 (or null: the source's size), got {cfg.data.resolution}"
        )
    if cfg.data.toy_samples < 1:
        raise ConfigError(f"data.toy_samples must be at least 1, got {cfg.data.toy_samples}")


def validate(cfg: Config) -> Config:
    """Reject values no run can use, before any data is read or file written."""
    t, o = cfg.train, cfg.optim
    _validate_numbers(cfg)
    if cfg.recipe not in RECIPE_ARCHS:
        raise ConfigError(f"unknown recipe '{cfg.recipe}' (choose from: {', '.join(RECIPE_ARCHS)})")
    if (cfg.recipe in TABLE_RECIPES) != (cfg.data.source == "table"):
        raise ConfigError(
            "tables train with the ctgan and tvae presets, through `gankit tabular fit` "
            "(gankit.tabular.fit), and those presets train only on tables"
        )
    if o.weight_decay < 0:
        raise ConfigError("optim.weight_decay cannot be negative")
    if not 0.0 <= cfg.model.target_share < 1.0:
        raise ConfigError(
            f"model.target_share must be in [0, 1) (0: no emphasis on the target), got {cfg.model.target_share}"
        )
    from .data.options import check_data_options  # data/ imports this module

    check_data_options(cfg.data, cfg.model.arch)
    archs = RECIPE_ARCHS[cfg.recipe]
    if cfg.model.arch not in archs:
        raise ConfigError(
            f"unknown architecture '{cfg.model.arch}' for recipe {cfg.recipe} (choose from: {', '.join(archs)})"
        )
    if cfg.loss.kind not in LOSSES:
        raise ConfigError(f"unknown loss '{cfg.loss.kind}' (choose from: {', '.join(LOSSES)})")
    if cfg.recipe == "tvae" or cfg.recipe not in ("gan", *TABLE_RECIPES):
        _validate_kl_weight(cfg.vae)  # a negative weight rewards a posterior far from the prior
    if cfg.recipe in ("gan", *TABLE_RECIPES):
        _validate_gan_options(cfg)
    else:
        _validate_likelihood_options(cfg)
    if cfg.data.holdout < 0:
        raise ConfigError("data.holdout must be 0 or a number of samples")
    if t.steps is None and t.minutes is None:
        raise ConfigError("give a training length: --steps N or --minutes M")
    if t.steps is not None and t.steps < 1:
        raise ConfigError("steps must be at least 1")
    if t.minutes is not None and t.minutes <= 0:
        raise ConfigError("minutes must be positive")
    for name in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
        if getattr(t, name) < 1:
            raise ConfigError(f"train.{name} must be at least 1")
    if t.eval_every is not None and (t.eval_every < 1 or not t.eval_features):
        raise ConfigError(
            "train.eval_every needs a positive interval and train.eval_features (e.g. a classifier)"
        )
    if t.eval_samples < 2:
        raise ConfigError("train.eval_samples must be at least 2")
    if o.batch_size < 2:
        raise ConfigError("optim.batch_size must be at least 2")
    if o.name not in ("adam", "rmsprop"):
        raise ConfigError(f"unknown optimizer '{o.name}' (choose from: adam, rmsprop)")
    if o.lr_decay not in ("none", "linear"):
        raise ConfigError(f"unknown optim.lr_decay '{o.lr_decay}' (choose from: none, linear)")
    if o.lr_decay != "none" and t.steps is None:
        raise ConfigError("optim.lr_decay needs a step budget (--steps), not --minutes")
    if min(o.lr_g, o.lr_d) <= 0:
        raise ConfigError("learning rates must be positive")
    if t.ema is not None and not 0.0 < t.ema < 1.0:
        raise ConfigError("train.ema must be a decay in (0, 1), or null to disable")
    if cfg.model.d_norm not in ("batch", "none"):
        raise ConfigError(f"unknown model.d_norm '{cfg.model.d_norm}' (choose from: batch, none)")
    if cfg.model.pack < 1 or o.batch_size % cfg.model.pack:
        raise ConfigError(
            f"model.pack must be at least 1 and divide optim.batch_size ({o.batch_size})"
        )
    if cfg.model.minibatch_std < 0:
        raise ConfigError("model.minibatch_std must be 0 (off) or a group size")
    if cfg.model.width < 1 or any(h < 1 for h in cfg.model.hidden):
        raise ConfigError("model.width and model.hidden sizes must be at least 1")
    if t.threads is not None and not 1 <= t.threads <= MAX_THREADS:
        raise ConfigError(f"train.threads must be in 1..{MAX_THREADS}, got {t.threads}")
    _validate_speed_options(cfg)
    if cfg.model.z_dim < 1:
        raise ConfigError("model.z_dim must be at least 1")
    if cfg.data.channels not in (None, 1, 3):
        raise ConfigError("data.channels must be 1 or 3")
    if cfg.data.toy not in ("ring", "grid"):
        raise ConfigError(f"unknown toy2d mixture '{cfg.data.toy}' (choose from: ring, grid)")
    return cfg
