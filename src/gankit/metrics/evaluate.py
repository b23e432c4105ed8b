"""Evaluate a trained model against real data with a feature extractor: FID, KID, IS,
precision/recall, density/coverage and the class histogram of its samples."""
from __future__ import annotations

from typing import Any

import torch

from pathlib import Path

from ..data import Dataset
from ..errors import ConfigError
from . import distribution as dist
from .classifier import predict
from .extractors import Extractor, classifier_extractor
from .modes import class_histogram, mode_histogram_stats, stacked_mode_ids
from .reference import reference_features

METRICS = ("fid", "kid", "is", "pr", "dc", "classes")


def parse_metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown) or '(none)'} (choose from: {', '.join(METRICS)})")
    return names


def compare_features(real_feats: torch.Tensor, fake_feats: torch.Tensor, fake_logits: torch.Tensor | None,
                     metrics: list[str], seed: int = 0) -> dict[str, Any]:
    """All requested metrics from features (and logits, for IS and classes)."""
    out: dict[str, Any] = {}
    if "fid" in metrics:
        out["fid"] = dist.fid(real_feats, fake_feats)
    if "kid" in metrics:
        out["kid"], out["kid_se"] = dist.kid(real_feats, fake_feats, seed=seed)
    if "pr" in metrics:
        out["precision"], out["recall"] = dist.precision_recall(real_feats, fake_feats, k=3)
    if "dc" in metrics:
        out["density"], out["coverage"] = dist.density_coverage(real_feats, fake_feats, k=5)
    if fake_logits is not None and "is" in metrics:
        out["is"], out["is_std"] = dist.inception_score(fake_logits)
    if fake_logits is not None and "classes" in metrics:
        hist = class_histogram(fake_logits.argmax(1), fake_logits.shape[1])
        out["classes_covered"] = hist["classes_covered"]
        out["min_class_share"] = hist["min_share"]
        out["class_counts"] = [int(c) for c in hist["counts"]]
    return out


@torch.no_grad()
def evaluate_samples(classifier: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     metrics: list[str], seed: int = 0) -> dict[str, Any]:
    """Metrics of `fake` images against `real` images ([-1, 1]), in the classifier's feature space
    (uncached: `evaluate` is the cached path for whole data sets)."""
    extractor = classifier_extractor(classifier)
    real_feats, _ = extractor(real)
    fake_feats, fake_logits = extractor(fake)
    return compare_features(real_feats, fake_feats, fake_logits, metrics, seed)


def evaluate(extractor: Extractor, real: Dataset, fake: torch.Tensor, metrics: list[str], seed: int = 0,
             cache_dir: Path | None = None) -> dict[str, Any]:
    """Metrics of `fake` against a real data set, its features cached per extractor."""
    needs_logits = {"is", "classes"} & set(metrics)
    real_feats = reference_features(real, extractor, cache_dir)
    fake_feats, fake_logits = extractor(fake)
    if needs_logits and fake_logits is None:
        raise ConfigError(f"metrics {', '.join(sorted(needs_logits))} need a classifier's logits; "
                          "this feature extractor has none")
    return compare_features(real_feats, fake_feats, fake_logits, metrics, seed)


@torch.no_grad()
def stacked_mnist_modes(classifier: torch.nn.Module, images: torch.Tensor) -> dict[str, Any]:
    """Modes captured (of 1,000) and KL(p_model || uniform) in nats: each channel's digit read by
    the digit classifier, as in the Unrolled-GAN / VEEGAN / PacGAN protocol."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ConfigError(f"Stacked MNIST samples must be N x 3 x H x W, got {tuple(images.shape)}")
    digits = torch.stack([predict(classifier, images[:, c:c + 1])[0].argmax(1) for c in range(3)], 1)
    return mode_histogram_stats(stacked_mode_ids(digits), 1000)
