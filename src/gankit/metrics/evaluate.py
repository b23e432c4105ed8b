"""Evaluate a trained model against real data with a feature extractor: FID, KID, IS,
precision/recall, density/coverage, the class histogram of its samples and, for conditional
models, how often the classifier reads the class each sample was asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import Dataset, to_float
from ..errors import ConfigError, DataError
from . import distribution as dist
from .classifier import predict
from .extractors import Extractor, classifier_extractor
from .modes import (
    class_histogram,
    mode_histogram_stats,
    stacked_channel_balance,
    stacked_mode_ids,
)
from .reference import reference_features

METRICS = ("fid", "kid", "is", "pr", "dc", "classes", "labels")
#: every figure measured in a feature network's features (`compare_features`, the Stacked MNIST
#: modes): those a low-accuracy classifier's warning goes beside
FEATURE_FIGURES = frozenset(
    (
        "fid",
        "kid",
        "kid_se",
        "precision",
        "recall",
        "density",
        "coverage",
        "is",
        "is_std",
        "classes_covered",
        "min_class_share",
        "class_counts",
        "label_agreement",
        "label_agreement_per_class",
        "modes_captured",
        "kl_to_uniform",
        "kl_channels",
        "digit_shares",
        "clear_digits",
    )
)
#: the classifier probability at which a Stacked MNIST channel's digit counts as clearly drawn
CLEAR_DIGIT = 0.9


def parse_metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"unknown metric(s) {', '.join(unknown) or '(none)'} "
            f"(choose from: {', '.join(METRICS)})"
        )
    return names


def label_agreement(fake_logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Share of samples the classifier reads as the label they were asked for, overall and per
    asked class (None for a class never asked for): a conditional model's class fidelity."""
    if len(labels) != len(fake_logits):
        raise ConfigError(f"{len(labels)} labels for {len(fake_logits)} samples")
    hit = (fake_logits.argmax(1).cpu() == labels.cpu()).float()
    per_class = [
        round(float(hit[labels.cpu() == c].mean()), 4) if bool((labels == c).any()) else None
        for c in range(fake_logits.shape[1])
    ]
    return {"label_agreement": float(hit.mean()), "label_agreement_per_class": per_class}


#: the k of precision/recall (Kynkaanniemi et al.) and of density/coverage (Naeem et al.)
PR_K, DC_K = 3, 5


def real_knn_radii(real_feats: torch.Tensor, metrics: list[str]) -> dict[int, torch.Tensor]:
    """The real set's k-NN radii the requested metrics use, for `compare_features`."""
    ks = [k for metric, k in (("pr", PR_K), ("dc", DC_K)) if metric in metrics]
    return {k: dist.knn_radii(real_feats, k) for k in ks}


def compare_features(
    real_feats: torch.Tensor,
    fake_feats: torch.Tensor,
    fake_logits: torch.Tensor | None,
    metrics: list[str],
    seed: int = 0,
    labels: torch.Tensor | None = None,
    real_radii: dict[int, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """All requested metrics from features (and logits, for IS and classes; and the labels the
    samples were asked for, for `labels`). `real_radii` ({k: `knn_radii(real_feats, k)`}, see
    `real_knn_radii`) saves recomputing the real set's radii when it is scored many times."""
    radii = real_radii or {}
    out: dict[str, Any] = {}
    if "fid" in metrics:
        out["fid"] = dist.fid(real_feats, fake_feats)
    if "kid" in metrics:
        out["kid"], out["kid_se"] = dist.kid(real_feats, fake_feats, seed=seed)
    if "pr" in metrics:
        out["precision"], out["recall"] = dist.precision_recall(
            real_feats, fake_feats, k=PR_K, real_radii=radii.get(PR_K)
        )
    if "dc" in metrics:
        out["density"], out["coverage"] = dist.density_coverage(
            real_feats, fake_feats, k=DC_K, real_radii=radii.get(DC_K)
        )
    if fake_logits is not None and "is" in metrics:
        out["is"], out["is_std"] = dist.inception_score(fake_logits)
    if fake_logits is not None and "classes" in metrics:
        hist = class_histogram(fake_logits.argmax(1), fake_logits.shape[1])
        out["classes_covered"] = hist["classes_covered"]
        out["min_class_share"] = hist["min_share"]
        out["class_counts"] = [int(c) for c in hist["counts"]]
    if fake_logits is not None and labels is not None and "labels" in metrics:
        out.update(label_agreement(fake_logits, labels))
    return out


@torch.no_grad()
def evaluate_samples(
    classifier: torch.nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    metrics: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of `fake` images against `real` images ([-1, 1]), in the classifier's feature space
    (uncached: `evaluate` is the cached path for whole data sets)."""
    extractor = classifier_extractor(classifier)
    real_feats, _ = extractor(real)
    fake_feats, fake_logits = extractor(fake)
    return compare_features(real_feats, fake_feats, fake_logits, metrics, seed)


def evaluate(
    extractor: Extractor,
    real: Dataset,
    fake: torch.Tensor,
    metrics: list[str],
    seed: int = 0,
    cache_dir: Path | None = None,
    labels: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Metrics of `fake` against a real data set, its features cached per extractor; `labels`: the
    classes a conditional model's samples were asked for (the `labels` metric)."""
    if "labels" in metrics and labels is None:
        raise ConfigError(
            "the labels metric needs a class-conditional model (e.g. --preset cgan or ddpm-cond)"
        )
    needs_logits = {"is", "classes", "labels"} & set(metrics)
    real_feats = reference_features(real, extractor, cache_dir)
    fake_feats, fake_logits = extractor(fake)
    if needs_logits and fake_logits is None:
        raise ConfigError(
            f"metrics {', '.join(sorted(needs_logits))} need a classifier's logits; "
            "this feature extractor has none"
        )
    return compare_features(real_feats, fake_feats, fake_logits, metrics, seed, labels)


@torch.no_grad()
def stacked_mnist_modes(classifier: torch.nn.Module, images: torch.Tensor) -> dict[str, Any]:
    """Modes captured (of 1,000) and KL(p_model || uniform) in nats: each channel's digit read by
    the digit classifier, as in the Unrolled-GAN / VEEGAN / PacGAN protocol; with the part of
    that KL due to each channel's digit balance (`stacked_channel_balance`), and `clear_digits`,
    the share of channel digits the classifier reads with probability at least `CLEAR_DIGIT`: a
    G whose digits are unclear has its balance decided by the classifier's guesses."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ConfigError(f"Stacked MNIST samples must be N x 3 x H x W, got {tuple(images.shape)}")
    probs = torch.stack(
        [predict(classifier, images[:, c : c + 1])[0].softmax(1) for c in range(3)], 1
    )
    confidence, digits = probs.max(2)
    balance = stacked_channel_balance(digits)
    return {
        **mode_histogram_stats(stacked_mode_ids(digits), 1000),
        "kl_channels": balance["kl_channels"],
        "digit_shares": balance["digit_shares"],
        "clear_digits": float((confidence >= CLEAR_DIGIT).double().mean()),
    }


def read_samples(path: str | Path) -> torch.Tensor:
    """Images to score, as [-1, 1] floats N x C x H x W: a folder of images (read as the folder
    source reads them, at their own size) or an .npz of uint8 images as `gankit sample --npz`
    writes them (N x H x W, N x H x W x C or N x C x H x W; under `images`, `arr_0`, or alone)."""
    path = Path(path)
    if path.is_dir():
        from ..data.folder import load_folder

        return load_folder(str(path)).all()
    if not path.is_file():
        raise DataError(f"samples {path} do not exist (a folder of images or an .npz)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # an .npy: the images alone
            images = loaded
        else:
            with loaded as npz:
                names = list(npz.files)
                key = next((k for k in ("images", "arr_0") if k in names), None)
                if key is None and len(names) != 1:
                    raise DataError(f"{path} holds {names or 'no arrays'}, not an array 'images'")
                images = npz[key or names[0]]
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read samples {path}: not an .npz ({type(e).__name__})") from None
    return to_float(torch.from_numpy(_nchw(images, path)))


def _nchw(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8 (0..255), got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4) or len(images) < 2:
        raise DataError(
            f"{path}: expected at least 2 images as N x H x W, N x H x W x C or N x C x H x W "
            f"(C 1, 3 or 4), got shape {images.shape}"
        )
    return np.ascontiguousarray(images)
