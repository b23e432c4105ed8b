"""Tiny image pairs the translation tests write themselves, small samples of the shared emoji
set, and a pix2pix config small enough to train in a second."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gankit

EMOJI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emoji"


def pair_images(i: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Pair i: A a smooth colour ramp of its own with red level 10 + i at the top-left pixel, B
    its colours inverted, so a test can tell which pair (and which half) any image came from."""
    rng = np.random.default_rng(i)
    ramp = np.linspace(0, 1, size)
    start, slope_x, slope_y = (
        rng.uniform(40, 215, 3),
        rng.uniform(-40, 40, 3),
        rng.uniform(-40, 40, 3),
    )
    a = start + ramp[None, :, None] * slope_x + ramp[:, None, None] * slope_y
    a = a.round().clip(0, 255).astype(np.uint8)
    a[0, 0] = (10 + i, 0, 0)
    b = 255 - a
    return a, b


def write_pairs(root: Path, n: int, size: int = 16, names=None, ext: str = ".png") -> list[str]:
    """root/A and root/B with n pairs named p00, p01, ... (or `names`)."""
    names = names or [f"p{i:02d}" for i in range(n)]
    for side in ("A", "B"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        a, b = pair_images(i, size)
        Image.fromarray(a).save(root / "A" / f"{name}{ext}")
        Image.fromarray(b).save(root / "B" / f"{name}{ext}")
    return names


def emoji_sample(target: Path, count: int = 24) -> Path:
    """The first `count` emoji of both designs (twitter/, google/) copied into target."""
    if not EMOJI.exists():
        pytest.skip(f"shared data {EMOJI} not found")
    names = sorted(p.name for p in (EMOJI / "twitter").iterdir())[:count]
    for design in ("twitter", "google"):
        (target / design).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(EMOJI / design / name, target / design / name)
    return target


def tiny_pix2pix(data_dir: Path, *overrides: str, steps: int = 6, preset: str = "pix2pix"):
    """A pix2pix config (or another translation `preset`'s) of width 4 (a 16-pixel PatchGAN) on
    `data_dir`, batch 4, one thread."""
    return gankit.make_config(
        preset,
        [
            f"data.dir={data_dir}",
            "model.width=4",
            "model.patch=16",
            "optim.batch_size=4",
            f"train.steps={steps}",
            "train.log_every=2",
            "train.sample_every=3",
            "train.checkpoint_every=1000",
            "train.threads=1",
            *overrides,
        ],
    )
