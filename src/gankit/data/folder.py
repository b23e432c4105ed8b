"""Any folder of images (recursively), resized and center-cropped; sub-folders become classes."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _load_one(path: Path, resolution: int, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert(mode)
        w, h = im.size
        scale = resolution / min(w, h)
        size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
        im = im.resize(size, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)
        left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
        im = im.crop((left, top, left + resolution, top + resolution))
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


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
    images, labels = [], []
    for path in files:
        try:
            images.append(_load_one(path, resolution, mode))
        except Exception as e:  # PIL raises many types for bad files; any of them means "skip it"
            warnings.warn(f"skipping unreadable image {path}: {type(e).__name__}: {e}", stacklevel=2)
            continue
        labels.append(classes.index(path.parent.relative_to(root).as_posix()))
    if not images:
        raise DataError(f"none of the {len(files)} image files in {root} could be read")
    y = torch.tensor(labels, dtype=torch.long) if len(classes) > 1 else None
    return Dataset(torch.from_numpy(np.stack(images)), y, name=f"folder:{root.name}")
