"""Run configuration: nested dataclasses, named presets, YAML in/out and `key=value` overrides.

A run is reproducible from its saved `config.yaml` and seed alone, so everything that changes the
result lives here and nowhere else.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class DataConfig:
    source: str = "digits"          # digits | mnist | folder | toy2d | stacked-mnist
    dir: str | None = None          # folder for mnist / folder sources
    split: str = "auto"             # mnist: train | test | auto (whichever files are there)
    resolution: int | None = None   # None: the source's native size (digits 8, mnist 28)
    channels: int | None = None     # None: the source's native channels; 1 or 3 to convert
    toy: str = "ring"               # toy2d: ring (8 Gaussians) | grid (25 Gaussians)
    toy_samples: int = 50_000
    stacked_samples: int = 50_000   # stacked-mnist: images of three digits drawn from the MNIST files


@dataclass
class ModelConfig:
    arch: str = "dcgan"             # mlp | dcgan
    z_dim: int = 100
    width: int = 64                 # dcgan: channels of the widest-resolution layer
    hidden: list[int] = field(default_factory=lambda: [256, 512])  # mlp: G hidden sizes (D reversed)
    minibatch_std: int = 0          # dcgan D: group size of a minibatch-stddev channel; 0 disables
    d_norm: str = "batch"           # dcgan D: batch | none


@dataclass
class LossConfig:
    kind: str = "non-saturating"    # non-saturating | minimax


@dataclass
class OptimConfig:
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@dataclass
class TrainConfig:
    steps: int | None = 2000
    minutes: float | None = None
    seed: int = 0
    ema: float | None = None        # EMA decay of G's weights (e.g. 0.999); None disables
    ema_start: int = 0              # steps before EMA starts averaging (copies G until then)
    log_every: int = 100
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    health_classifier: str | None = None  # digit classifier: class histogram of samples in the health check
    eval_every: int | None = None   # steps between evaluations of the sampling weights; None: never
    eval_features: str | None = None  # extractor spec, as `gankit eval --features`
    eval_metrics: str = "fid"       # comma list, as `gankit eval --metrics`
    eval_samples: int = 2000
    threads: int | None = None      # torch intra-op threads; None leaves torch's default
    channels_last: bool = True


@dataclass
class Config:
    preset: str = "dcgan"
    recipe: str = "gan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml())


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
    # class in 5 CPU minutes on MNIST across seeds (README, "Choosing the dcgan defaults"): width 32
    # (3x the steps of width 64 in the same time), D without batch norm (with it, D cannot see a
    # batch's class imbalance and the rarest class fell to 2.8%), EMA of G.
    "dcgan": {
        "model": {"arch": "dcgan", "z_dim": 100, "width": 32, "d_norm": "none"},
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "train": {"ema": 0.999, "ema_start": 200},
    },
}


def _merge(obj: Any, updates: dict[str, Any], where: str = "") -> None:
    for key, value in updates.items():
        if not hasattr(obj, key):
            raise ConfigError(f"unknown option '{where}{key}'")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"option '{where}{key}' is a section, not a value")
            _merge(current, value, f"{where}{key}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            try:
                setattr(obj, key, _parse_value(text, current, _field_type(obj, key)))
            except ConfigError as e:
                raise ConfigError(f"option '{where}{key}': {e}") from None


def from_preset(name: str) -> Config:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (choose from: {', '.join(PRESETS)})")
    cfg = Config(preset=name)
    _merge(cfg, PRESETS[name])
    return cfg


def from_dict(d: dict[str, Any]) -> Config:
    cfg = Config()
    _merge(cfg, d)
    return cfg


def load(path: str | Path) -> Config:
    try:
        d = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"config {path} is not a mapping")
    return from_dict(d)


def _field_type(obj: Any, key: str) -> Any:
    for f in dataclasses.fields(obj):
        if f.name == key:
            return f.type
    return None


def _parse_value(text: str, current: Any, type_hint: str) -> Any:
    value = yaml.safe_load(text) if text != "" else None
    if value is None:
        if "None" in str(type_hint):
            return None
        raise ConfigError(f"value '{text}' cannot be empty")
    if isinstance(current, bool) or "bool" in str(type_hint):
        if not isinstance(value, bool):
            raise ConfigError(f"expected true/false, got '{text}'")
        return value
    if "float" in str(type_hint):
        try:
            return float(value if isinstance(value, (int, float)) else text)  # YAML reads 1e-4 as text
        except ValueError:
            raise ConfigError(f"expected a number, got '{text}'") from None
    if "int" in str(type_hint) and "float" not in str(type_hint):
        if "list" in str(type_hint):
            if not (isinstance(value, list) and all(isinstance(v, int) for v in value)):
                raise ConfigError(f"expected a list of integers like [256,512], got '{text}'")
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"expected an integer, got '{text}'")
        return value
    if "str" in str(type_hint):
        return text.strip()  # as written: a folder called "yes" stays "yes"
    return value


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (YAML-parsed values) to a config, checking keys and types."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        dotted, text = item.split("=", 1)
        if dotted.strip() in ("preset", "recipe"):
            raise ConfigError(f"'{dotted.strip()}' is chosen with --preset, not as an option")
        *path, key = dotted.strip().split(".")
        obj: Any = cfg
        for part in path:
            if not hasattr(obj, part) or not dataclasses.is_dataclass(getattr(obj, part)):
                raise ConfigError(f"unknown option '{dotted}'")
            obj = getattr(obj, part)
        if not hasattr(obj, key) or dataclasses.is_dataclass(getattr(obj, key)):
            raise ConfigError(f"unknown option '{dotted}'")
        try:
            setattr(obj, key, _parse_value(text, getattr(obj, key), _field_type(obj, key)))
        except ConfigError as e:
            raise ConfigError(f"option '{dotted}': {e}") from None
        except yaml.YAMLError:
            raise ConfigError(f"option '{dotted}': cannot parse value '{text}'") from None
    return cfg


def validate(cfg: Config) -> Config:
    """Reject values no run can use, before any data is read or file written."""
    t, o = cfg.train, cfg.optim
    if cfg.recipe not in ("gan",):
        raise ConfigError(f"unknown recipe '{cfg.recipe}'")
    sources = ("digits", "mnist", "folder", "toy2d", "stacked-mnist")
    if cfg.data.source not in sources:
        raise ConfigError(f"unknown data source '{cfg.data.source}' (choose from: {', '.join(sources)})")
    if cfg.model.arch not in ("mlp", "dcgan"):
        raise ConfigError(f"unknown architecture '{cfg.model.arch}' (choose from: mlp, dcgan)")
    if cfg.loss.kind not in ("non-saturating", "minimax"):
        raise ConfigError(f"unknown loss '{cfg.loss.kind}' (choose from: non-saturating, minimax)")
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
        raise ConfigError("train.eval_every needs a positive interval and train.eval_features (e.g. a classifier)")
    if t.eval_samples < 2:
        raise ConfigError("train.eval_samples must be at least 2")
    if o.batch_size < 2:
        raise ConfigError("optim.batch_size must be at least 2")
    if min(o.lr_g, o.lr_d) <= 0:
        raise ConfigError("learning rates must be positive")
    if t.ema is not None and not 0.0 < t.ema < 1.0:
        raise ConfigError("train.ema must be a decay in (0, 1), or null to disable")
    if cfg.model.d_norm not in ("batch", "none"):
        raise ConfigError(f"unknown model.d_norm '{cfg.model.d_norm}' (choose from: batch, none)")
    if cfg.model.minibatch_std < 0:
        raise ConfigError("model.minibatch_std must be 0 (off) or a group size")
    if cfg.model.width < 1 or any(h < 1 for h in cfg.model.hidden):
        raise ConfigError("model.width and model.hidden sizes must be at least 1")
    if t.threads is not None and t.threads < 1:
        raise ConfigError("train.threads must be at least 1")
    if cfg.model.z_dim < 1:
        raise ConfigError("model.z_dim must be at least 1")
    if cfg.data.channels not in (None, 1, 3):
        raise ConfigError("data.channels must be 1 or 3")
    if cfg.data.toy not in ("ring", "grid"):
        raise ConfigError(f"unknown toy2d mixture '{cfg.data.toy}' (choose from: ring, grid)")
    return cfg
