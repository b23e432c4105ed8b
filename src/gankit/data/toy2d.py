"""2D Gaussian mixtures of the mode-collapse literature (Unrolled GAN, VEEGAN, PacGAN)."""
from __future__ import annotations

import math

import torch

from .base import Dataset

RING_STD = 0.02   # 8 modes on a circle of radius 2
GRID_STD = 0.05   # 25 modes on {-4, -2, 0, 2, 4}^2


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], 1).float()


def grid_centers() -> torch.Tensor:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(axis, axis)


def mixture(kind: str) -> tuple[torch.Tensor, float]:
    return (ring_centers(), RING_STD) if kind == "ring" else (grid_centers(), GRID_STD)


def load_toy2d(kind: str, n: int, seed: int) -> Dataset:
    centers, std = mixture(kind)
    gen = torch.Generator().manual_seed(seed)
    mode = torch.randint(len(centers), (n,), generator=gen)
    x = centers[mode] + std * torch.randn(n, 2, generator=gen)
    return Dataset(x, mode, name=f"toy2d-{kind}")
