"""Images handed to the Python API (`gankit.train(data=...)`) as one in-memory `Dataset`.

A torch tensor or NumPy array (N x C x H x W, or N x H x W for one channel), a pair of such images
and their labels, or a map-style `torch.utils.data.Dataset` of images or (image, label) pairs.
Pixel values are read by their type: uint8 as 0..255; floats in [0, 1] (any value below 0: in
[-1, 1]). Anything else is refused in one line, before a run folder is touched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset

#: the value of `data.source` of a run trained on data handed to `gankit.train`
SOURCE = "memory"
#: channels an image may have: grey, RGB, RGB with alpha
CHANNELS = (1, 3, 4)


def from_user(data: Any) -> Dataset:
    """A `Dataset` of `data` (see the module's docstring): uint8 images stay uint8, float ones
    become float32 in [-1, 1] (their own values, not rounded to 8 bits)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple):
        if len(data) != 2:
            raise DataError(f"data=(images, labels) takes two items, got a tuple of {len(data)}")
        images, labels = data
    elif isinstance(data, torch.utils.data.Dataset):
        images, labels = _stack_items(data)
    else:
        images, labels = data, None
    x = _images(_tensor(images, "images"))
    y = None if labels is None else _labels(_tensor(labels, "labels"), len(x))
    return Dataset(x, y, name=f"{len(x)} images handed to gankit.train")


def _tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (
            np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
        ):
            raise DataError(f"{what} must be numbers, got a NumPy array of {value.dtype}")
        return torch.from_numpy(np.ascontiguousarray(value))
    raise DataError(
        f"{what} must be a torch tensor or a NumPy array (or data a torch Dataset), "
        f"got {type(value).__name__}"
    )


def _images(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W images: uint8 as they are, floats scaled to [-1, 1]."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in CHANNELS:
        hint = (
            " (channels first: x.permute(0, 3, 1, 2) for N x H x W x C)"
            if x.dim() == 4 and x.shape[-1] in CHANNELS
            else ""
        )
        raise DataError(
            f"images must be N x C x H x W with C in 1, 3, 4, or N x H x W; got shape "
            f"{tuple(x.shape)}{hint}"
        )
    if len(x) == 0:
        raise DataError("data holds no images")
    if x.dtype == torch.uint8:
        return x.contiguous()
    if not x.is_floating_point():
        raise DataError(
            f"images of {x.dtype} are ambiguous: give 0..255 pixels as uint8, or floats in "
            "[0, 1] or [-1, 1]"
        )
    x = x.float()
    if not bool(x.isfinite().all()):
        raise DataError("images hold NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < -1 or high > 1:
        raise DataError(
            f"float images must be in [0, 1] or [-1, 1], got values in [{low:.4g}, {high:.4g}] "
            "(0..255 pixels: give them as uint8)"
        )
    return (x if low < 0 else x * 2 - 1).contiguous()


def _labels(y: torch.Tensor, n: int) -> torch.Tensor:
    if y.dim() != 1 or len(y) != n:
        raise DataError(f"labels must be one integer per image ({n}), got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise DataError(f"labels must be integers (class numbers from 0), got {y.dtype}")
    if int(y.min()) < 0:
        raise DataError(f"labels must be class numbers from 0, got {int(y.min())}")
    return y.to(torch.int64)


def _stack_items(data: torch.utils.data.Dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The items of a map-style Dataset (images, or (image, label) pairs) as two tensors."""
    try:
        n = len(data)  # type: ignore[arg-type]
    except TypeError:
        raise DataError(
            "a torch Dataset handed as data needs a length (a map-style Dataset, not an "
            "IterableDataset)"
        ) from None
    if n == 0:
        raise DataError("the Dataset holds no images")
    items = [data[i] for i in range(n)]
    pairs = [isinstance(item, (tuple, list)) for item in items]
    if any(pairs) != all(pairs):
        raise DataError("the Dataset yields images and (image, label) pairs mixed: give one kind")
    if all(pairs):
        if any(len(item) != 2 for item in items):
            raise DataError("the Dataset's items must be images or (image, label) pairs")
        images = [_item_image(image, i) for i, (image, _) in enumerate(items)]
        labels = torch.tensor([_item_label(label, i) for i, (_, label) in enumerate(items)])
    else:
        images, labels = [_item_image(image, i) for i, image in enumerate(items)], None
    shapes = {tuple(image.shape) for image in images}
    dtypes = {image.dtype for image in images}
    if len(shapes) > 1 or len(dtypes) > 1:
        raise DataError(
            f"the Dataset's images differ in shape or type ({len(shapes)} shapes, "
            f"{len(dtypes)} types): give images of one size and type"
        )
    return torch.stack(images), labels


def _item_image(image: Any, i: int) -> torch.Tensor:
    """One item's image, C x H x W (H x W for one channel); a PIL image is H x W x C."""
    if hasattr(image, "getbands"):  # a PIL image
        arr = np.asarray(image)
        return torch.from_numpy(arr.copy() if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())
    if isinstance(image, (torch.Tensor, np.ndarray)):
        return _tensor(image, f"item {i}'s image")
    raise DataError(
        f"item {i} of the Dataset is a {type(image).__name__}: give tensors, arrays or PIL images"
    )


def _item_label(label: Any, i: int) -> int:
    if isinstance(label, (torch.Tensor, np.ndarray, np.generic)) and label.ndim == 0:
        label = label.item()
    if not isinstance(label, int) or isinstance(label, bool):
        raise DataError(
            f"item {i}'s label must be an integer class number, got {type(label).__name__}"
        )
    return label
