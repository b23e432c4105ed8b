"""Mode-coverage protocols: 2D Gaussian mixtures, Stacked MNIST and class histograms.

These count modes the way the mode-collapse papers do, so gankit's numbers can be set next to
theirs. Sources of the constants (PacGAN's values verified in its released code,
fjxmlzn/PacGAN synthetic_data_experiments/*/config.py and pacgan/extensions.py; the others
from the papers' text):

- 8-Gaussian ring, Unrolled GAN (Metz et al. 2017, 2D mixture experiment): radius 2, std 0.02.
  VEEGAN (Srivastava et al. 2017, Sec. 5.1) and PacGAN (Lin et al. 2018, synthetic data) use
  the same ring scaled down: radius 1, std 0.01 (PacGAN config: variances 0.01**2, means
  (cos(2*pi*i/8), sin(2*pi*i/8))). Both have std/radius = 0.01, so the counts agree when the
  centers and std are scaled together, but a network does not train the same at both scales:
  `ring` is the Unrolled-GAN scale, `ring-veegan` the VEEGAN / PacGAN / GDPP one, the scale of
  every published ring row.
- 25-Gaussian grid, VEEGAN / PacGAN: means {-4,-2,0,2,4}^2, std 0.05 (variance 0.0025).
- Counting (VEEGAN / PacGAN, 2,500 samples): a sample is "high quality" if it lies within 3
  standard deviations of its nearest mode; a mode is captured if at least one high-quality
  sample is assigned to it (PacGAN's code counts modes with a non-zero count). `min_count`
  makes that threshold explicit so stricter variants can be reported.
- Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN, 26,000 samples): mode = the three digits
  read by a classifier; report modes captured (out of 1,000) and KL(p_model || uniform) in nats,
  with 0 log 0 = 0 for empty modes, exactly as PacGAN's evaluation.
"""

from __future__ import annotations

import math

import torch

from gankit.errors import ConfigError

RING_RADIUS = 2.0  # Unrolled GAN
RING_STD = 0.02  # Unrolled GAN
VEEGAN_RING_RADIUS = 1.0  # VEEGAN / PacGAN
VEEGAN_RING_STD = 0.01  # VEEGAN / PacGAN
GRID_STD = 0.05  # VEEGAN / PacGAN, grid spacing 2
HIGH_QUALITY_STDS = 3.0  # "within three standard deviations"
STACKED_MNIST_MODES = 1000


#: the 2D mixtures by name (`data.toy`): their means and std
MIXTURES = {
    "ring": lambda: (ring_centers(), RING_STD),
    "ring-veegan": lambda: (ring_centers(radius=VEEGAN_RING_RADIUS), VEEGAN_RING_STD),
    "grid": lambda: (grid_centers(), GRID_STD),
}


def ring_centers(n_modes: int = 8, radius: float = RING_RADIUS) -> torch.Tensor:
    """Means of the ring mixture, evenly spaced at angles 2*pi*i/n_modes (float32, n x 2).

    Spacing uses 2*pi*i/n, not linspace(0, 2*pi, n): the latter, found in some public
    re-implementations, puts the first and last mode on top of each other.
    """
    if n_modes < 1 or radius <= 0:
        raise ConfigError(f"ring needs n_modes >= 1 and radius > 0, got {n_modes}, {radius}")
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def mixture(kind: str) -> tuple[torch.Tensor, float]:
    """The means and std of a named 2D mixture (`MIXTURES`)."""
    if kind not in MIXTURES:
        raise ConfigError(f"unknown toy2d mixture '{kind}' (choose from: {', '.join(MIXTURES)})")
    return MIXTURES[kind]()


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Means of the grid mixture: default 25 modes at {-4,-2,0,2,4}^2 (float32, n^2 x 2)."""
    if n_per_side < 1 or spacing <= 0:
        raise ConfigError(
            f"grid needs n_per_side >= 1 and spacing > 0, got {n_per_side}, {spacing}"
        )
    axis = (torch.arange(n_per_side, dtype=torch.float32) - (n_per_side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def mode_coverage_2d(
    points: torch.Tensor,
    centers: torch.Tensor,
    std: float,
    min_count: int = 1,
    n_std: float = HIGH_QUALITY_STDS,
) -> dict:
    """Modes captured and share of high-quality samples for a 2D mixture (VEEGAN / PacGAN).

    Each sample is assigned to its nearest center; it is high quality if that distance is
    below n_std * std (strict, as PacGAN's code). per_mode_counts counts high-quality samples
    per mode; a mode is captured when its count reaches min_count.
    """
    pts = torch.as_tensor(points).detach().to(torch.float64)
    ctr = torch.as_tensor(centers).detach().to(torch.float64)
    if pts.dim() != 2 or ctr.dim() != 2 or pts.shape[1] != ctr.shape[1]:
        raise ConfigError(
            f"points {tuple(pts.shape)} and centers {tuple(ctr.shape)} must be N x D and M x D"
        )
    if pts.shape[0] == 0 or ctr.shape[0] == 0:
        raise ConfigError("mode_coverage_2d needs at least one point and one center")
    if std <= 0 or min_count < 1:
        raise ConfigError(f"std must be > 0 and min_count >= 1, got {std}, {min_count}")
    dist, nearest = torch.cdist(pts, ctr).min(dim=1)
    good = dist < n_std * std  # NaN points compare False: never high quality
    counts = torch.bincount(nearest[good], minlength=ctr.shape[0])
    return {
        "modes_captured": int((counts >= min_count).sum()),
        "n_modes": int(ctr.shape[0]),
        "high_quality_share": float(good.double().mean()),
        "per_mode_counts": counts.tolist(),
        "min_count": int(min_count),
    }


def _stacked_digits(digit_preds: torch.Tensor) -> torch.Tensor:
    """The N x 3 per-channel digits of Stacked MNIST samples, checked, as longs."""
    d = torch.as_tensor(digit_preds)
    if d.dim() != 2 or d.shape[1] != 3:
        raise ConfigError(f"digit_preds must be N x 3, got {tuple(d.shape)}")
    if d.is_floating_point() or (d.numel() and (d.min() < 0 or d.max() > 9)):
        raise ConfigError("digit_preds must be integer digits in 0..9")
    return d.long()


def stacked_mode_ids(digit_preds: torch.Tensor) -> torch.Tensor:
    """Stacked MNIST mode of each sample: 100*d0 + 10*d1 + d2 from the per-channel digits."""
    d = _stacked_digits(digit_preds)
    return 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


def _histogram(ids: torch.Tensor, n: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(ids).reshape(-1)
    if t.numel() == 0:
        raise ConfigError(f"{what} is empty")
    if t.is_floating_point() or t.min() < 0 or t.max() >= n:
        raise ConfigError(f"{what} must be integers in 0..{n - 1}")
    return torch.bincount(t.long(), minlength=n)


def mode_histogram_stats(mode_ids: torch.Tensor, n_modes: int = STACKED_MNIST_MODES) -> dict:
    """Modes captured and KL(p_model || uniform) in nats over n_modes (Unrolled GAN / PacGAN).

    KL = sum_i p_i log(p_i * n_modes) over modes with p_i > 0 (empty modes add 0). It is 0 for
    a uniform histogram and log(n_modes / k) for samples spread evenly over k modes.
    """
    counts = _histogram(mode_ids, n_modes, "mode_ids")
    p = counts.double() / counts.sum()
    kl = torch.xlogy(p, p * n_modes).sum()
    return {"modes_captured": int((counts > 0).sum()), "kl_to_uniform": float(kl)}


def stacked_channel_balance(digit_preds: torch.Tensor) -> dict:
    """Where a Stacked MNIST KL comes from: each channel's digit shares and their KL to uniform
    over 10 digits. KL(p || uniform over 1,000) is exactly the channels' KLs plus the total
    correlation between the channels, so `kl_channels` near `kl_to_uniform` says G's digits are
    unbalanced channel by channel (too few 1s, say), not that it ties digits across channels."""
    digits = _stacked_digits(digit_preds)
    shares, kls = [], []
    for c in range(3):
        p = torch.bincount(digits[:, c], minlength=10).double() / len(digits)
        shares.append([round(float(v), 4) for v in p])
        kls.append(float(torch.xlogy(p, p * 10).sum()))
    return {"kl_channels": sum(kls), "kl_per_channel": kls, "digit_shares": shares}


def class_histogram(preds: torch.Tensor, n_classes: int = 10) -> dict:
    """Class counts of generated samples; a small min_share flags a class being dropped."""
    counts = _histogram(preds, n_classes, "preds")
    return {
        "counts": counts.tolist(),
        "min_share": float(counts.min()) / float(counts.sum()),
        "classes_covered": int((counts > 0).sum()),
    }
