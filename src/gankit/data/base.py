"""The one in-memory dataset type every source produces.

Images are kept as uint8 NCHW (4x smaller than float) and converted a whole batch at a time, so
the hot path is one index and one vectorized conversion: no per-item Python.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import DataError


@dataclass
class Dataset:
    x: torch.Tensor  # uint8 [N, C, H, W] images, or float32 [N, D] points
    y: torch.Tensor | None = None  # int64 [N] class labels, when the source has them
    name: str = ""
    #: per-sample draw weights (a table's training-by-sampling); None: uniform epochs
    row_weights: torch.Tensor | None = None
    #: whether the trainer saves sample grids (images, 2D points); a table has none to draw
    grids: bool = True

    def __post_init__(self) -> None:
        if len(self.x) == 0:
            raise DataError(f"data source '{self.name}' has no samples")

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if self.y is not None else 0

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Float batch for the networks: images in [-1, 1], points as they are."""
        return to_float(self.x[index])

    def all(self) -> torch.Tensor:
        return to_float(self.x)


def to_float(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to uint8, rounding to nearest (the inverse of `to_float` on its grid)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


#: images converted at a time by `resize_uint8` and `convert_channels`: their float copy stays small
CHUNK = 1024


def resize_uint8(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize a uint8 NCHW stack once at load time (area-averaging when shrinking), a chunk of
    images at a time: no float copy of the whole data set."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    shrinking = resolution < x.shape[-1]
    out = torch.empty((len(x), x.shape[1], resolution, resolution), dtype=torch.uint8)
    for start in range(0, len(x), CHUNK):
        part = F.interpolate(
            x[start : start + CHUNK].float(),
            size=(resolution, resolution),
            mode="area" if shrinking else "bilinear",
            **({} if shrinking else {"align_corners": False}),
        )
        out[start : start + CHUNK] = part.round_().clamp_(0, 255)
    return out


def convert_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        out = torch.empty((len(x), 1, *x.shape[2:]), dtype=torch.uint8)
        for start in range(0, len(x), CHUNK):
            grey = (x[start : start + CHUNK].float() * weights).sum(1, keepdim=True)
            out[start : start + CHUNK] = grey.round_().clamp_(0, 255)
        return out
    raise DataError(f"cannot convert {x.shape[1]} channels to {channels}")


def flip_batch(x: torch.Tensor, seed: int, step: int, rank: int = 0) -> torch.Tensor:
    """A batch with a random half of its images mirrored left to right (`data.flip`). The half is
    drawn from (seed, step, rank) alone, so a resumed run flips exactly what an uninterrupted one
    would, on any device."""
    key = hashlib.blake2b(f"{seed}:{step}:{rank}".encode(), digest_size=8).digest()
    rng = torch.Generator().manual_seed(int.from_bytes(key, "little") >> 1)
    mirrored = (torch.rand(len(x), generator=rng) < 0.5).to(x.device, non_blocking=True)
    return torch.where(mirrored.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
