"""Stacked MNIST (Metz et al. 2017, VEEGAN, PacGAN): three MNIST digits in the three channels of
one image, so 1,000 modes (000-999) for counting which ones a generator covers."""

from __future__ import annotations

import torch

from .base import Dataset


def stack_digits(mnist: Dataset, n: int, seed: int) -> Dataset:
    """`n` images whose channels are three digits drawn uniformly (seeded) from `mnist`; the label
    is the mode 100*d0 + 10*d1 + d2."""
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(mnist), (n, 3), generator=gen)
    x = mnist.x[picks.flatten(), 0].view(n, 3, *mnist.x.shape[-2:])
    y = None
    if mnist.y is not None:
        d = mnist.y[picks]
        y = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    return Dataset(x.contiguous(), y, name=f"stacked-{mnist.name}")
