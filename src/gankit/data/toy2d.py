"""2D Gaussian mixtures of the mode-collapse literature (Unrolled GAN, VEEGAN, PacGAN).

The centres and spreads are those of the benchmark protocol, defined once in `metrics.modes`.
"""

from __future__ import annotations

import torch

from ..metrics.modes import mixture
from .base import Dataset


def load_toy2d(kind: str, n: int, seed: int) -> Dataset:
    centers, std = mixture(kind)
    gen = torch.Generator().manual_seed(seed)
    mode = torch.randint(len(centers), (n,), generator=gen)
    x = centers[mode] + std * torch.randn(n, 2, generator=gen)
    return Dataset(x.float(), mode, name=f"toy2d-{kind}")
