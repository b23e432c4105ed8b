"""Run configuration: nested dataclasses, named presets, YAML in/out and `key=value` overrides.

A run is reproducible from its saved `config.yaml` and seed alone, so everything that changes the
result lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import json
import math
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import ConfigError

if TYPE_CHECKING:  # the class is assembled from the recipe registry on first use (_config_class)
    Config = Any


@dataclass
class DataConfig:
    source: str = "digits"  # one of gankit.data.options.SOURCES (table: gankit.tabular only)
    dir: str | None = None  # folder of the mnist, fashion-mnist, cifar10, folder, paired or
    # unpaired source
    split: str = "auto"  # mnist, fashion-mnist, cifar10: train | test | auto (train if there);
    # paired, unpaired: train/ and test/ folders, else the split by name
    resolution: int | None = None  # None: the source's size (folder: the images' own, if shared)
    channels: int | None = None  # None: the source's (folder: 1 if every image is grey); 1 or 3
    alpha: str = "white"  # folder, paired, unpaired: transparency on white | black, keep (a
    # channel) | drop
    flip: bool = False  # mirror a random half of each batch, drawn from (seed, step)
    toy: str = "ring"  # toy2d: ring (8 Gaussians, radius 2) | ring-veegan (radius 1) | grid (25)
    toy_samples: int = 50_000  # toy2d: points drawn from the mixture
    stacked_samples: int = (
        50_000  # stacked-mnist: images of three digits drawn from the MNIST files
    )
    holdout: int = 0  # the last N samples (of data.classes) are held out of training: held-out
    # ELBO, compare, and the GANs' D overfitting check (D's outputs on them against training images)
    classes: int | str | None = None  # train on these classes only: a name (horse) or an index,
    # or several, comma-separated; names: the digits, Fashion-MNIST's and CIFAR-10's, a folder's
    # sub-folders or the categories of a categories.json beside its images
    limit: int | None = None  # few-shot: train on a fixed draw of N images (after data.classes
    # and data.holdout); None: all
    limit_seed: int = 0  # the draw of data.limit: the same images for the same seed, whatever
    # train.seed
    direction: str = "AtoB"  # paired, unpaired: AtoB (translate A images into B) | BtoA
    domains: str = "A,B"  # paired, unpaired: the two domain folders in data.dir (emoji:
    # twitter,google)
    jitter: bool = False  # paired, unpaired: enlarge by 286/256 and crop back at a random place,
    # both images of a pair alike (pix2pix's random jitter)


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # gan: mlp | dcgan | resnet (SNGAN/SAGAN blocks) | stylegan | progan
    # (progressive growing); vae: conv; diffusion: unet; pix2pix: unet; cyclegan: resblocks; ctgan,
    # tvae: mlp
    z_dim: int = 100  # size of the latent code (noise of G, posterior of the VAE)
    width: int = 64  # dcgan: channels of the widest-resolution layer (unet, pix2pix: of G's and
    # D's first layers; progan: the most channels of any layer)
    hidden: list[int] = field(
        default_factory=lambda: [256, 512]
    )  # mlp: G hidden sizes (D reversed)
    d_hidden: list[int] | None = None  # mlp: D hidden sizes, when not G's reversed
    g_norm: str = "none"  # mlp G: none | batch (batch norm before each hidden ReLU)
    minibatch_std: int = 0  # dcgan, progan D: group size of a minibatch-stddev channel; 0: none
    d_norm: str = "batch"  # dcgan D: batch | none
    d_width: int | None = None  # dcgan D: channels of its widest-resolution layer, when not
    # model.width (PacGAN's hard Stacked MNIST setting: a quarter or half of G's)
    d_dropout: float = 0.0  # mlp D: dropout after each hidden layer (Goodfellow et al. 2014)
    d_maxout: int = 0  # mlp D: maxout units of this many pieces instead of LeakyReLU (the
    # Goodfellow et al. 2014 and PacGAN D: 5); 0: LeakyReLU
    g_dropout: float = 0.5  # unet G (pix2pix): dropout in the three decoder blocks above the
    # innermost, in training (the paper's noise)
    patch: int = 70  # unet, resblocks (pix2pix, cyclegan): receptive field of the PatchGAN D in
    # pixels: 16, 34, 70, 142, 286
    l1: float = 100.0  # unet (pix2pix): weight lambda of the L1 distance of G's output to the
    # target, beside the adversarial loss
    blocks: int = 9  # resblocks (cyclegan): residual blocks in each G (the paper's 9 at 256 px)
    cycle: float = 10.0  # resblocks (cyclegan): lambda, weight of the L1 cycle losses
    identity: float = 0.5  # resblocks (cyclegan): weight of the L1 identity losses (G_AB(b) ~ b,
    # G_BA(a) ~ a), times lambda; 0 leaves them out
    upsample: str = "transpose"  # resblocks (cyclegan) G: transpose (stride-2 transposed
    # convolutions, the paper's) | resize (nearest 2x, then a 3x3 convolution: no checkerboard)
    pool: int = 50  # resblocks (cyclegan): generated images each D's history pool keeps; 0: D
    # sees only the newest batch
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
    attention_res: int | str | None = None  # resnet: self-attention block at this resolution
    # (SAGAN), or "half": at half the image's size (14 of 28 px, 16 of 32, 32 of 64)
    mapping_layers: int = 8  # stylegan: depth of the mapping network z -> w (the paper's 8)
    mapping_lr: float = 0.01  # stylegan: learning-rate multiplier of the mapping network (0.01)
    channel_max: int = 512  # stylegan: most channels of a layer (model.width at the image size,
    # doubling at each halving up to this)
    style_mixing: float = 0.9  # stylegan: share of training batches whose styles cross to a
    # second w at a random layer (style mixing regularisation; the paper's 0.9, 0 disables)
    w_avg_beta: float = 0.995  # stylegan: decay a step of the tracked average w (truncation)
    fmap_base: int = 256  # progan: layers at side s px have min(fmap_base / s, model.width)
    # channels (the paper's: 16384 with model.width=512)


@dataclass
class LossConfig:
    kind: str = "non-saturating"  # non-saturating | minimax | wasserstein | hinge | lsgan |
    # relativistic (RaGAN, against the other side's average) | rpgan (relativistic pairing, R3GAN)
    gp: float = 0.0  # WGAN-GP weight of the gradient penalty on interpolates (paper: 10)
    r1: float = 0.0  # R1 weight gamma on real data (Mescheder et al. 2018)
    r2: float = 0.0  # R2 weight on generated data: the zero-centred penalty of R1 at G's samples
    # (R3GAN, Huang et al. 2024: r1 = r2)
    r1_every: int = 1  # lazy R1 and R2: every k-th step, weighted k times (StyleGAN2: 16)
    penalty_final: float = 1.0  # R1 and R2 weights at the last step as a share of loss.r1 and
    # loss.r2, reached on a cosine from the first step (R3GAN's gamma schedule: 0.1); 1: constant
    pl_weight: float = 0.0  # stylegan: path length regularisation weight (StyleGAN2: 2)
    pl_every: int = 4  # stylegan: lazy path length regularisation every k-th step, weighted k times
    clip: float | None = None  # WGAN weight clipping of D to [-c, c] (paper: 0.01)
    diffaugment: str = ""  # DiffAugment policy on D's inputs, e.g. color,translation,cutout
    drift: float = 0.0  # progan: epsilon_drift, weight of E[D(x)^2] on real data in D's loss,
    # which keeps the critic's values near 0 (the paper's: 0.001)
    ada: bool = False  # adaptive augmentation (ADA, Karras et al. 2020) of every image D sees, each
    # transformation with a probability p adapted from D's outputs on the real images
    ada_target: float = 0.6  # ADA: the r_t = E[sign(D(x_real))] that p steers towards (paper: 0.6)
    ada_interval: int = 4  # ADA: steps between adjustments of p (paper: 4)
    ada_kimg: float = 100.0  # ADA: thousands of real images over which p may move from 0 to 1 (the
    # adjustment speed; the paper's 500 is for runs of millions of images)


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | rmsprop (the WGAN paper's: momentum destabilised its critic)
    batch_size: int = 64  # samples (images or rows) per optimizer step
    lr_g: float = 2e-4  # learning rate of G (of the VAE, the U-Net: their one network)
    lr_d: float = 2e-4  # learning rate of D (GAN recipes; TTUR when it differs from lr_g)
    beta1: float = 0.5  # Adam's first-moment decay (DCGAN: 0.5)
    beta2: float = 0.999  # Adam's second-moment decay
    lr_decay: str = "none"  # none | linear (to 0 at the last step; needs train.steps)
    decay_start: int = 0  # cyclegan: steps at the constant learning rate before a linear decay
    decay_steps: int = 0  # cyclegan: steps of that decay to 0 (the rate stays 0 after); 0: none
    n_critic: int = 1  # D steps per G step, each on its own real batch (WGAN: 5)
    weight_decay: float = 0.0  # L2 on the weights, in Adam (the ctgan/tvae recipes: 1e-6 / 1e-5)
    batch_sizes: list[int] | None = None  # progan: the batch of each stage, 4 px first; stages
    # past the list's end take optim.batch_size (the paper's: 16 up to 128 px, then 14, 6, 3)


@dataclass
class TrainConfig:
    steps: int | None = 2000  # optimizer steps to train (--steps); None: train.minutes ends it
    minutes: float | None = None  # wall-clock budget (--minutes) in place of train.steps
    seed: int = 0  # seeds the networks' weights, the data order and every draw of the run
    ema: float | None = None  # EMA decay of G's weights (e.g. 0.999); None disables
    ema_start: int = 0  # steps before EMA starts averaging (copies G until then)
    ema_rampup: float | None = None  # EMA half-life: this share of the steps, up to train.ema's
    log_every: int = 100  # steps between lines of RUN/metrics.jsonl
    sample_every: int = 500  # steps between sample grids in RUN/samples
    checkpoint_every: int = 1000  # steps between checkpoints (one is also written at the end)
    keep_checkpoints: int = 3  # the newest N checkpoints are kept, older ones deleted
    health_classifier: str | None = (
        None  # digit classifier: class histogram of samples in the health check
    )
    eval_every: int | None = None  # steps between evaluations of the sampling weights; None: never
    eval_features: str | None = None  # extractor spec, as `gankit eval --features`
    eval_metrics: str = "fid"  # comma list, as `gankit eval --metrics`
    eval_samples: int = 2000  # samples scored at each train.eval_every evaluation
    eval_reference: str = (
        "train"  # evaluations' real images: train (those trained on) | full (all of data.classes)
    )
    tensorboard: bool = False  # also write the logged figures and grids as TensorBoard events
    # under RUN/tensorboard (needs the tensorboard package: pip install "gankit[tensorboard]")
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    channels_last: bool = True  # image tensors in channels-last memory layout where it is faster
    device: str = (
        "auto"  # auto (cuda when present) | cpu | cuda | cuda:i; torchrun: cuda:LOCAL_RANK
    )
    amp: str = "none"  # none | bf16 | fp16 (autocast; fp16 with a GradScaler)
    compile: bool | str = (
        False  # torch.compile: true or nets (the networks) | step (the recipe's whole
    )
    # training step); the first steps are slow while it compiles
    fade_images: int = 4000  # progan: images over which each new stage fades in, alpha 0 -> 1
    # (the paper's: 800,000)
    stable_images: int = 4000  # progan: images each stage trains on once faded in; the last
    # stage trains on to the end of the budget (the paper's: 800,000)


class _ConfigMethods:
    """What every Config does besides holding its sections."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        """Write the YAML whole or not at all (a failure keeps the previous file)."""
        from .files import atomic_write

        atomic_write(path, self.to_yaml().encode())


#: the sections defined here, in the order a saved config.yaml lists them; the recipes' own
#: sections (`options` of each class in the registry) follow, in the registry's order. A section
#: that some recipe declares in its `options` (the GAN losses: `loss`) is read by those recipes
#: only.
SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
}
DEFAULT_PRESET = "dcgan"


def _registry() -> dict[str, Any]:
    """The recipe classes by name (`gankit.recipes.RECIPES`), the only way this module reaches
    the recipes: they import it (their option sections reuse its dataclasses), so it imports them
    when a config is first made, never while it is itself imported."""
    from .recipes import RECIPES

    return RECIPES


@functools.cache
def _config_class() -> type:
    """`Config`: the common sections, then every registered recipe's own, as one dataclass (so a
    saved config.yaml lists every section, and `cfg.vae.beta` reads as an attribute)."""
    sections = dict(SECTIONS)
    for recipe in _registry().values():
        for name, section in recipe.options.items():
            if sections.setdefault(name, section) is not section:
                raise TypeError(f"two recipes define option section '{name}' differently")
    cls = dataclasses.make_dataclass(
        "Config",
        [
            ("preset", str, field(default=DEFAULT_PRESET)),
            ("recipe", str, field(default="gan")),
            *((name, t, field(default_factory=t)) for name, t in sections.items()),
        ],
        bases=(_ConfigMethods,),
    )
    cls.__module__, cls.__doc__ = __name__, "A run's whole configuration: one section an attribute."
    return cls


@functools.cache
def _presets() -> dict[str, dict[str, Any]]:
    """Every recipe's presets, in the registry's order (the order of `--preset` choices)."""
    presets: dict[str, dict[str, Any]] = {}
    for recipe in _registry().values():
        presets.update(recipe.presets)
    return presets


def __getattr__(name: str) -> Any:
    """`Config` and `PRESETS` are assembled from the recipe registry on first use."""
    if name == "Config":
        return _config_class()
    if name == "PRESETS":
        return _presets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def recipe_class(name: str) -> Any:
    """The registered recipe class called `name`."""
    recipes = _registry()
    if name not in recipes:
        raise ConfigError(f"unknown recipe '{name}' (choose from: {', '.join(recipes)})")
    return recipes[name]


def _readers(section: str) -> list[str]:
    """The recipes that declare `section` among their options (none: every recipe reads it)."""
    return [name for name, recipe in _registry().items() if section in recipe.options]


def _preset_updates(name: str) -> list[dict[str, Any]]:
    """A preset's layers of updates, its base's first: presets that change one thing say only
    that."""
    spec = dict(_presets()[name])
    base = spec.pop("base", None)
    return [*(_preset_updates(base) if base else []), spec]


def _options(obj: Any) -> set[str]:
    """The option names of a config section: its fields, not every attribute it has (a YAML key
    `__dict__` or `to_dict` is no option)."""
    return {f.name for f in dataclasses.fields(obj)}


def _merge(cfg: Any, obj: Any, updates: dict[str, Any], where: str = "") -> None:
    """Set `updates` (a nested dict) on `obj`, a section of `cfg` or `cfg` itself."""
    for key, value in updates.items():
        if not isinstance(key, str) or key not in _options(obj):
            raise _unknown_option(f"{where}{key}", cfg)
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"option '{where}{key}' is a section, not a value")
            _merge(cfg, current, value, f"{where}{key}.")
        else:
            _set(obj, key, _value_text(value, f"{where}{key}"), f"{where}{key}")


def _option_keys(cfg: Any) -> list[str]:
    """Every section name and `section.key` a config has."""
    sections = [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(f.type)]
    keys = [f"{s}.{f.name}" for s in sections for f in dataclasses.fields(getattr(cfg, s))]
    return sections + keys


def _unknown_option(dotted: str, cfg: Any) -> ConfigError:
    """An unknown key, named with its recipe and the closest option (of the sections the recipe
    reads first), so a misspelling shows its fix."""
    keys = _option_keys(cfg)
    known = cfg.recipe in _registry()
    readable = [k for k in keys if not known or _reads(cfg.recipe, k.split(".")[0])]
    typed = dotted[:100]  # a match costs the square of the length: 5,000 characters need none
    close = difflib.get_close_matches(typed, readable, n=1) or difflib.get_close_matches(
        typed, keys, n=1
    )
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(
        f"unknown option '{_shown(dotted)}' for recipe {_shown(str(cfg.recipe))}{hint}"
    )


def _reads(recipe: str, section: str) -> bool:
    readers = _readers(section)
    return not readers or recipe in readers


def reads(recipe: str, override: str) -> bool:
    """Whether a recipe reads the option of a `section.key=value` override (one `gankit compare`
    hands to models of several recipes). Anything else (a typo, no section) reads as read, so it
    is checked, and refused, as given."""
    section = override.split("=", 1)[0].strip().split(".")[0] if isinstance(override, str) else ""
    return recipe not in _registry() or _reads(recipe, section)


def _check_read(cfg: Any, section: str, dotted: str) -> None:
    """Refuse an option of a section the config's recipe never reads (it would change nothing)."""
    if cfg.recipe in _registry() and not _reads(cfg.recipe, section):
        readers = _readers(section)
        named = f"recipe {readers[0]}" if len(readers) == 1 else f"recipes {' and '.join(readers)}"
        raise ConfigError(
            f"option '{_shown(dotted)}' is read by {named}, not by {cfg.recipe} "
            f"(preset {_shown(str(cfg.preset))})"
        )


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
    presets = _presets()
    if not isinstance(name, str) or name not in presets:
        raise ConfigError(f"unknown preset '{name}' (choose from: {', '.join(presets)})")
    cfg = _config_class()(preset=name)
    for updates in _preset_updates(name):
        _merge(cfg, cfg, updates)
    return cfg


def from_dict(d: dict[str, Any]) -> Config:
    if not isinstance(d, dict):  # a checkpoint's or a file's config that is no mapping
        raise ConfigError(
            f"a config is a mapping of sections and options, not a {type(d).__name__}"
        )
    cfg = _config_class()()
    _merge(cfg, cfg, _as_saved(d))
    return cfg


#: the data options every config.yaml listed before data.alpha and data.flip existed
_DATA_KEYS_BEFORE_ALPHA = frozenset(
    ("source", "dir", "split", "resolution", "channels", "toy", "toy_samples", "stacked_samples")
)


def _as_saved(d: dict[str, Any]) -> dict[str, Any]:
    """A run saved before data.alpha existed read its image folder at 64 px, RGB, transparency
    dropped, whatever the images were: say so explicitly, so it resumes on the data it trained on
    (the folder's defaults now follow the images)."""
    data = d.get("data")
    if not (
        isinstance(data, dict)
        and data.get("source") == "folder"
        and _DATA_KEYS_BEFORE_ALPHA <= data.keys()
        and "alpha" not in data
    ):
        return d
    data = {**data, "alpha": "drop"}
    data["resolution"] = 64 if data["resolution"] is None else data["resolution"]
    data["channels"] = 3 if data["channels"] is None else data["channels"]
    return {**d, "data": data}


def load(path: str | Path, base: str | None = None) -> Config:
    """A saved or hand-written YAML config. With `base`, the file's values go on top of the preset
    it names (`preset:`, else `base`), so a short file changes only what it lists; without, on top
    of the defaults (a run's saved config.yaml lists every value)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"a config file is a path, not a {type(path).__name__}")
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
    _merge(cfg, cfg, _as_saved(d))
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
            if "str" in str(type_hint) and isinstance(value, str):
                return text.strip()  # a named setting in place of a number ("half")
            raise ConfigError(f"expected an integer, got '{_shown(text)}'")
        return value
    if "str" in str(type_hint):
        return text.strip()  # as written: a folder called "yes" stays "yes"
    return value


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (YAML-parsed values) to a config, checking keys and
    types."""
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
                raise _unknown_option(dotted.strip(), cfg)
            obj = getattr(obj, part)
        if key not in _options(obj) or dataclasses.is_dataclass(getattr(obj, key)):
            raise _unknown_option(dotted.strip(), cfg)
        if path:
            _check_read(cfg, path[0], dotted.strip())
        _set(obj, key, text, dotted.strip())
    return cfg


def update(cfg: Config, overrides: Iterable[str] = (), **sections: Any) -> Config:
    """Nested dict sections (`train={"steps": 500}`), then `key=value` overrides, onto `cfg` in
    place. Unchecked: `build` and the trainer `validate` the result. An option of a section the
    recipe does not read is refused here, as it would change nothing."""
    for name, values in sections.items():
        if name in _options(cfg) and dataclasses.is_dataclass(getattr(cfg, name)):
            first = next(iter(values), "") if isinstance(values, dict) else ""
            _check_read(cfg, name, f"{name}.{first}" if isinstance(first, str) and first else name)
        _merge(cfg, cfg, {name: values})
    return apply_overrides(cfg, list(overrides or ()))


def build(
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: Iterable[str] = (),
    **sections: Any,
) -> Config:
    """The one way to make a run's config, checked: the preset (default dcgan), then a YAML file
    (on top of the preset it names, if any), then dict sections (`train={"steps": 500}`), then
    `key=value` overrides; then `validate`: the generic rules and the recipe's own `check`."""
    preset = DEFAULT_PRESET if preset is None else preset
    cfg = from_preset(preset) if file is None else load(file, base=preset)
    return validate(update(cfg, overrides, **sections))


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
    if t.compile in (True, "nets") and (cfg.loss.gp or cfg.loss.r1 or cfg.loss.r2):
        raise ConfigError(
            "train.compile=true with loss.gp, loss.r1 or loss.r2 is not supported (the penalty "
            "differentiates the compiled D twice, which AOTAutograd cannot): use "
            "train.compile=step, which runs "
            "the penalty eagerly"
        )
    if t.amp not in ("none", "bf16", "fp16"):
        raise ConfigError(f"unknown train.amp '{t.amp}' (choose from: none, bf16, fp16)")
    if t.amp == "fp16" and (cfg.loss.gp or cfg.loss.r1 or cfg.loss.r2):
        raise ConfigError(
            "train.amp=fp16 with loss.gp, loss.r1 or loss.r2 is not supported (the penalty's "
            "double backward would need its own loss scaling): use train.amp=bf16"
        )


#: the real images an evaluation compares with (`train.eval_reference`, `gankit eval --reference`)
REFERENCES = ("train", "full")
SEED_RANGE = (-(2**43), 2**43 - 1)
#: the largest integer option but the seed: sizes multiplied together (width x channel_mult, a
#: layer's inputs x outputs) then stay within torch's 64-bit sizes, and torch refuses them as too
#: large for memory
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
                    f"{section.name}.{f.name} must be at most {INT_OPTION_MAX:,}, "
                    f"got {_shown(str(v))}"
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
            "data.resolution must be at least 1 (or null: the source's size), "
            f"got {cfg.data.resolution}"
        )
    if cfg.data.toy_samples < 1:
        raise ConfigError(f"data.toy_samples must be at least 1, got {cfg.data.toy_samples}")


#: the options only progressive growing reads (model.arch=progan): another run refuses them changed
PROGRESSIVE_ONLY = (
    ("model", "fmap_base"),
    ("loss", "drift"),
    ("optim", "batch_sizes"),
    ("train", "fade_images"),
    ("train", "stable_images"),
)


def _refuse_progressive_options(cfg: Config) -> None:
    if cfg.model.arch == "progan":
        return
    for section, key in PROGRESSIVE_ONLY:
        if getattr(getattr(cfg, section), key) != getattr(SECTIONS[section](), key):
            raise ConfigError(
                f"{section}.{key} applies to progressive growing (--preset progan), not to "
                f"model.arch={cfg.model.arch}"
            )


def _refuse_unread_model_options(cfg: Config) -> None:
    """Refuse a model option that only other recipes read (their `model_options`), set away from
    its default: it would change nothing in this run."""
    readers: dict[str, list[str]] = {}
    for name, recipe in _registry().items():
        for key in getattr(recipe, "model_options", ()):
            readers.setdefault(key, []).append(name)
    own = getattr(recipe_class(cfg.recipe), "model_options", ())
    for key, names in readers.items():
        if key not in own and getattr(cfg.model, key) != getattr(ModelConfig, key):
            named = f"recipe {names[0]}" if len(names) == 1 else f"recipes {' and '.join(names)}"
            raise ConfigError(
                f"option 'model.{key}' is read by {named}, not by {cfg.recipe} "
                f"(preset {_shown(str(cfg.preset))})"
            )


def validate(cfg: Config) -> Config:
    """Reject values no run can use, before any data is read or file written: the rules of every
    run here, then those of the config's recipe (its `check`, beside its code)."""
    _validate_common(cfg)
    recipe_class(cfg.recipe).check(cfg)
    return cfg


def _validate_common(cfg: Config) -> None:
    t, o = cfg.train, cfg.optim
    _validate_numbers(cfg)
    recipe = recipe_class(cfg.recipe)
    if (recipe.trains_on == "tables") != (cfg.data.source == "table"):
        tables = [name for name, r in _registry().items() if r.trains_on == "tables"]
        raise ConfigError(
            f"tables train with the {' and '.join(tables)} presets, through `gankit tabular fit` "
            "(gankit.tabular.fit), and those presets train only on tables"
        )
    if o.weight_decay < 0:
        raise ConfigError("optim.weight_decay cannot be negative")
    if not 0.0 <= cfg.model.target_share < 1.0:
        raise ConfigError(
            "model.target_share must be in [0, 1) (0: no emphasis on the target), "
            f"got {cfg.model.target_share}"
        )
    if cfg.model.arch not in recipe.archs:
        raise ConfigError(
            f"unknown architecture '{cfg.model.arch}' for recipe {cfg.recipe} "
            f"(choose from: {', '.join(recipe.archs)})"
        )
    from .data.options import PAIR_SOURCES, check_data_options  # data/ imports this module

    check_data_options(cfg.data, cfg.model.arch)
    if not getattr(recipe, "translates", False):  # the options of image pairs
        if cfg.data.source in PAIR_SOURCES:
            raise ConfigError(
                f"--data {cfg.data.source} holds image pairs for translation (--preset pix2pix, "
                f"cyclegan), not for {cfg.recipe} models"
            )
        if cfg.data.jitter:
            raise ConfigError("data.jitter crops image pairs: it needs a translation preset")
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
    if t.eval_reference not in REFERENCES:
        raise ConfigError(
            f"unknown train.eval_reference '{t.eval_reference}' (choose from: "
            f"{', '.join(REFERENCES)})"
        )
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
    if t.ema_rampup is not None and not 0.0 < t.ema_rampup < math.inf:
        raise ConfigError("train.ema_rampup must be a positive share (e.g. 0.05), or null")
    if t.ema_rampup is not None and t.ema is None:
        raise ConfigError("train.ema_rampup ramps up an EMA: set train.ema too (e.g. 0.999)")
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
    _refuse_progressive_options(cfg)
    _refuse_unread_model_options(cfg)
    if cfg.model.z_dim < 1:
        raise ConfigError("model.z_dim must be at least 1")
    if cfg.data.channels not in (None, 1, 3):
        raise ConfigError("data.channels must be 1 or 3")
