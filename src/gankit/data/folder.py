"""Any folder of images (recursively), resized and center-cropped; sub-folders become classes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _open(path: Path):  # noqa: ANN202 (a PIL image)
    """The image file, refused when it has more pixels than Pillow's decompression-bomb limit
    (`PIL.Image.MAX_IMAGE_PIXELS`; Pillow only warns up to twice the limit, and would decode it)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ValueError(f"{e} (raise PIL.Image.MAX_IMAGE_PIXELS to read it)") from None


def _eight_bit(im):  # noqa: ANN001, ANN202
    """16-bit and 32-bit integer greyscale as 8 bits by its 16-bit range (Pillow's own conversion
    clips at 255: a 16-bit photo came out white). Palette images with a transparent entry via RGBA,
    as Pillow asks."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":  # older Pillow opens 16-bit PNGs as "I"
        levels = np.clip(np.asarray(im, dtype=np.float64), 0, 65535) / 257
        return Image.fromarray(levels.round().astype(np.uint8))
    if im.mode in ("P", "PA") and "transparency" in im.info:
        return im.convert("RGBA")
    return im


def _load_one(path: Path, resolution: int, mode: str) -> np.ndarray:
    """The image's centre square at `resolution` x `resolution`. Only that square is resampled (a
    1 x 100,000 strip stays small) and a JPEG is decoded at the smallest scale that still covers it."""
    from PIL import Image

    with _open(path) as im:
        im.draft(mode, (resolution, resolution))
        im = _eight_bit(im).convert(mode)
        w, h = im.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        shrinking = side > resolution
        im = im.resize(
            (resolution, resolution),
            Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC,
            box=box,
            reducing_gap=3.0 if shrinking else None,
        )
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _reason(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_folder(folder: str | None, resolution: int, channels: int) -> Dataset:
    if not folder:
        raise DataError("the folder source needs a folder: --data-dir DIR")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise DataError(f"image folder {root} has no images ({', '.join(sorted(EXTENSIONS))})")
    classes = sorted({p.parent.relative_to(root).as_posix() for p in files})
    mode = "L" if channels == 1 else "RGB"
    images, labels, skipped = [], [], []
    for path in files:
        try:
            images.append(_load_one(path, resolution, mode))
        except Exception as e:  # PIL raises many types for bad files; any of them means "skip it"
            skipped.append(f"{path.name}: {_reason(e)}")
            warnings.warn(f"skipping unreadable image {path}: {_reason(e)}", stacklevel=2)
            continue
        labels.append(classes.index(path.parent.relative_to(root).as_posix()))
    if not images:
        raise DataError(
            f"none of the {len(files)} image files in {root} could be read ({skipped[0]})"
        )
    y = torch.tensor(labels, dtype=torch.long) if len(classes) > 1 else None
    return Dataset(torch.from_numpy(np.stack(images)), y, name=f"folder:{root.name}")
