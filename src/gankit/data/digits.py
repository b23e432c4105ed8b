"""The embedded default data: scikit-learn's 1,797 bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

import torch

from .base import Dataset


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    pixels = torch.from_numpy(bunch.images).float()  # values 0..16
    x = (pixels * (255.0 / 16.0)).round_().to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    return Dataset(x, y, name="digits")
