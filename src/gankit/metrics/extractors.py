"""Feature extractors for the distribution metrics: the project's digit classifier, Inception-v3
through torch-fidelity (optional), or any torch module the user supplies.

An extractor maps [-1, 1] images to (features, logits or None) and has a `key` naming it for the
reference-statistics cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.base import to_uint8
from ..errors import ConfigError


def weights_key(module: nn.Module) -> str:
    """A short content hash of a module's weights: the cache key changes when the weights do."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class Extractor:
    key: str
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
    batch_size: int = 500
    #: a gankit classifier's `TrainedOn` (what its file says it was trained on); None otherwise
    trained_on: Any = None
    #: what `load_extractor` was given (a classifier file's path, "inception", FILE.py:FACTORY)
    spec: str = ""

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats, logits = [], []
        for i in range(0, len(images), self.batch_size):
            f, lg = self.fn(images[i : i + self.batch_size].float())
            feats.append(f.flatten(1).double().cpu())
            if lg is not None:
                logits.append(lg.double().cpu())
        return torch.cat(feats), (torch.cat(logits) if logits else None)


def classifier_extractor(model: nn.Module) -> Extractor:
    """Penultimate features and logits of one of the project's classifiers."""
    model.eval()

    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = model.features(x)
        return f, model.head(f)

    return Extractor(
        f"classifier-{weights_key(model)}", fn, trained_on=getattr(model, "trained_on", None)
    )


def module_extractor(module: nn.Module, name: str = "module") -> Extractor:
    """Any module mapping [-1, 1] images to features (no logits: no IS or class counts). The cache
    key holds `name`, the module's class and its weights, not its code: give another `name` (or
    another cache folder) when the code changes and the weights do not."""
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"a feature extractor must be a torch module, got {type(module).__name__}"
        )
    module.eval()

    def fn(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        f = module(x)
        if not isinstance(f, torch.Tensor) or f.dim() < 1 or len(f) != len(x):
            got = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ConfigError(
                f"the feature module must return a tensor with one row per image: {len(x)} images "
                f"gave {got}"
            )
        return f, None

    return Extractor(f"{name}-{type(module).__qualname__}-{weights_key(module)}", fn)


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images, 1 or 3 channels, to the uint8 RGB batch torch-fidelity's Inception
    expects."""
    x = to_uint8(images)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def inception_extractor() -> Extractor:
    """Inception-v3 pool features (2048-d) and logits via torch-fidelity, weights as it provides
    them."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise ConfigError("Inception features need torch-fidelity: pip install 'gankit[vision]'")
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    except Exception as e:  # no network and no cached weights, most often
        raise ConfigError(
            f"Inception-v3 weights could not be loaded ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}); they are downloaded on "
            "first use, which needs a network, or use the digit classifier"
        ) from None
    net.eval()

    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = net(to_inception_input(x))
        return feats, logits

    return Extractor("inception-v3-compat", fn, batch_size=64)


def load_extractor(spec: str) -> Extractor:
    """`inception`, a classifier `.safetensors` from `gankit train-classifier`, or `FILE.py:FACTORY`
    (a Python file whose FACTORY() returns a torch module)."""
    extractor = _extractor_of(spec)
    extractor.spec = spec
    return extractor


def _extractor_of(spec: str) -> Extractor:
    if spec == "inception":
        return inception_extractor()
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, factory = spec.split(":", 1)
        source = (
            hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if Path(path).is_file() else ""
        )
        return module_extractor(
            _load_factory(Path(path), factory)(), f"{Path(path).stem}-{factory}-{source}"
        )
    from .classifier import load_classifier

    return classifier_extractor(load_classifier(spec))


def _load_factory(path: Path, name: str) -> Callable[[], nn.Module]:
    if not path.is_file():
        raise ConfigError(f"feature extractor file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"gankit_user_features_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:
        raise ConfigError(f"cannot import {path}: {type(e).__name__}: {e}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ConfigError(f"{path} has no callable '{name}'")
    return factory
