"""Where a 2D mixture's G sends its latent plane: which mode each z lands in, and how much of the
latent's mass lands between modes (the samples the high-quality share misses).

    python bench/latent_partition.py runs/grid-bn runs/grid -o partition.png

For runs of a toy2d mixture with z in R^2 (`pacgan-2d`, `modes-2d`). Prints, per run, the share of
the standard normal latent's mass that G maps within 3 std of a mode (high quality), 3-10 std
away, and farther; `-o` writes one panel per run: z in [-3.5, 3.5]^2, each high-quality point in
its mode's colour, 3-10 std in white, farther in black.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

import gankit
from gankit.data.toy2d import mixture
from gankit.errors import GankitError


def partition(run: str, pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Each latent point's nearest mode, its distance there in std and its normal weight."""
    try:
        model = gankit.load(run)
    except GankitError as error:
        raise SystemExit(f"{run}: {error}") from None
    if model.config.data.source != "toy2d" or getattr(model.recipe, "z_dim", None) != 2:
        raise SystemExit(f"{run}: not a toy2d run with z in R^2")
    centers, std = mixture(model.config.data.toy)
    axis = torch.linspace(-3.5, 3.5, pixels)
    z = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    generator = model.nets["G"].eval()
    with torch.no_grad():
        x = generator(z).reshape(len(z), -1)
    distance = torch.cdist(x, centers)
    nearest, mode = distance.min(1)
    weight = torch.exp(-(z**2).sum(1) / 2)
    share = (weight / weight.sum()).numpy()
    return mode.numpy(), (nearest / std).numpy(), share, model.config.data.toy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("-o", "--out", help="a PNG of the partitions side by side")
    parser.add_argument("--pixels", type=int, default=256)
    args = parser.parse_args()
    palette = np.random.default_rng(0).integers(60, 256, (64, 3)).astype(np.uint8)
    panels = []
    for run in args.runs:
        mode, sd, weight, toy = partition(run, args.pixels)
        near, mid = sd < 3, (sd >= 3) & (sd < 10)
        far = ~(near | mid)
        print(
            f"{run} ({toy}): latent mass within 3 std {100 * weight[near].sum():.1f}%, "
            f"3-10 std {100 * weight[mid].sum():.1f}%, farther {100 * weight[far].sum():.1f}%"
        )
        image = palette[mode % len(palette)]
        image[mid], image[far] = 255, 0
        panels.append(image.reshape(args.pixels, args.pixels, 3))
    if args.out:
        gap = np.full((args.pixels, 8, 3), 128, np.uint8)
        row = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
        Image.fromarray(row).save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
