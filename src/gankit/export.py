"""Samples out of the process: PNG grids (images, or scatter plots for
2D points) and .npz arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .data.base import to_uint8
from .errors import GankitError
from .files import atomic_folder, atomic_writer, write_error


def grid(images_uint8: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile N x C x H x W uint8 images into one H' x W' (x C) array with
    `pad` black pixels between."""
    n, c, h, w = images_uint8.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    out = np.zeros((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.uint8)
    arr = images_uint8.cpu().numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        out[
            :,
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + col * (w + pad) : pad + col * (w + pad) + w,
        ] = arr[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def scatter(points: torch.Tensor, size: int = 512, extent: float | None = None) -> np.ndarray:
    """Draw 2D points as a white-on-dark RGB image (no plotting library needed)."""
    pts = points.detach().float().cpu().numpy()
    if extent is None:
        extent = max(1.0, float(np.abs(pts).max()) * 1.1) if len(pts) else 1.0
    img = np.full((size, size, 3), 20, dtype=np.uint8)
    img[size // 2, :, :] = img[:, size // 2, :] = 60  # axes
    ij = ((pts / extent + 1) * 0.5 * (size - 1)).round().astype(int)
    keep = (ij >= 0).all(1) & (ij < size).all(1)
    ij = ij[keep]
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            xs, ys = (
                np.clip(ij[:, 0] + dx, 0, size - 1),
                np.clip(size - 1 - ij[:, 1] + dy, 0, size - 1),
            )
            img[ys, xs] = (250, 200, 60)
    return img


def grid_image(samples: torch.Tensor, nrow: int | None = None, min_tile: int = 28) -> np.ndarray:
    """Samples in [-1, 1] (N x C x H x W) as one uint8 grid (H' x W', or H' x W' x C), images
    smaller than `min_tile` pixels enlarged by an integer factor (nearest neighbour) so 8x8
    digits stay visible; 2D points (N x 2) as a scatter plot."""
    if nrow is not None and nrow < 1:
        raise GankitError(f"images per row must be at least 1, got {nrow}")
    if samples.dim() != 4:
        return scatter(samples)
    factor = max(1, min_tile // samples.shape[-1])
    images = to_uint8(samples)
    if factor > 1:
        images = images.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
    return grid(images, nrow)


def save_png(
    samples: torch.Tensor, path: str | Path, nrow: int | None = None, min_tile: int = 28
) -> Path:
    """Samples in [-1, 1] (N x C x H x W) or 2D points (N x 2) to a PNG grid (`grid_image`)."""
    from PIL import Image

    path = Path(path)
    arr = grid_image(samples, nrow, min_tile)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise GankitError(f"could not write {path}: give the grid a .png name")
    _make_parent(path)
    with atomic_writer(path) as f:  # a full disk leaves the previous grid, never half a PNG
        Image.fromarray(arr).save(f, format=image_format)
    return path


def save_gif(frames: torch.Tensor, path: str | Path, frame_ms: int = 100) -> Path:
    """Images in [-1, 1] (N x C x H x W) as a looping GIF, one frame each, shown as the grids
    show them (small images enlarged, a border)."""
    from PIL import Image

    path = Path(path)
    if frames.dim() != 4:
        raise GankitError("2D points are no images: a GIF needs an image model")
    pictures = [Image.fromarray(grid_image(frame[None], 1)) for frame in frames]
    _make_parent(path)
    with atomic_writer(path) as f:
        pictures[0].save(
            f, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0
        )
    return path


def save_png_folder(samples: torch.Tensor, folder: str | Path) -> Path:
    """One PNG per sample at its own size (`000000.png`, `000001.png`, ...), the layout FID tools
    read, into `folder` (new or empty). The files appear together or not at all."""
    from PIL import Image

    folder = Path(folder)
    if samples.dim() != 4:
        raise GankitError("2D points are no images: write them with --npz")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise GankitError(f"{folder} is not an empty folder: give a new or empty one")
    arr = to_uint8(samples).cpu().numpy()
    arr = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)
    digits = max(6, len(str(len(arr) - 1)))
    with atomic_folder(folder) as tmp:
        for i, image in enumerate(arr):
            Image.fromarray(image).save(tmp / f"{i:0{digits}d}.png")
    return folder


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e) from None


def save_npz(samples: torch.Tensor, path: str | Path) -> Path:
    """uint8 images under `images` (N x H x W for one channel, N x H x W x C
    else); points as float32."""
    path = Path(path)
    if samples.dim() == 4:
        arr = to_uint8(samples).cpu().numpy()
        arrays = {"images": arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)}
    else:
        arrays = {"points": samples.detach().float().cpu().numpy()}
    _make_parent(path)
    with atomic_writer(path) as f:
        np.savez(f, **arrays)
    return path
