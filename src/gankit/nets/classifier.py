"""Small CNN classifiers: the project's own feature extractors, sized to their data's resolution.

Two architectures: `vgg` (the default) and `strided`, a different family (strided convolutions,
group norm, SiLU) whose features give a second, independent measure of the same samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: inputs up to this size are resized to it, so one network serves 8x8 digits and MNIST alike
SMALL_INPUT = 28
#: pooling stops once the feature map is this small, before the global average
SMALLEST_MAP = 8
ARCHS = ("vgg", "strided")


def input_size(resolution: int | None) -> int:
    """The size the network reads: SMALL_INPUT for small images (and for files that record no
    resolution), else the images' own."""
    return SMALL_INPUT if resolution is None or resolution <= SMALL_INPUT else resolution


def _vgg_body(channels: int, width: int, size: int) -> list[nn.Module]:
    """Conv-BN-ReLU x 5 with two max-poolings, then one pooling and block per halving needed."""

    def block(a: int, b: int) -> list[nn.Module]:
        return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]

    layers = [
        *block(channels, width),
        *block(width, width),
        nn.MaxPool2d(2),
        *block(width, 2 * width),
        *block(2 * width, 2 * width),
        nn.MaxPool2d(2),
        *block(2 * width, 4 * width),
    ]
    size //= 4
    while size > SMALLEST_MAP:
        layers += [nn.MaxPool2d(2), *block(4 * width, 4 * width)]
        size //= 2
    return layers


def _strided_body(channels: int, width: int, size: int) -> list[nn.Module]:
    """Conv-GroupNorm-SiLU, halving the map with 4x4 stride-2 convolutions instead of pooling."""

    def block(a: int, b: int, stride: int) -> list[nn.Module]:
        kernel = 4 if stride == 2 else 3
        return [nn.Conv2d(a, b, kernel, stride, 1), nn.GroupNorm(8, b), nn.SiLU()]

    layers = [
        *block(channels, width, 1),
        *block(width, 2 * width, 2),
        *block(2 * width, 2 * width, 1),
        *block(2 * width, 4 * width, 2),
    ]
    size //= 4
    while size > SMALLEST_MAP:
        layers += block(4 * width, 4 * width, 2)
        size //= 2
    return layers


BODIES = {"vgg": _vgg_body, "strided": _strided_body}


class ImageClassifier(nn.Module):
    """A CNN body (`arch`: vgg or strided) whose last map is at most 8x8 whatever the resolution,
    a global average, a 128-d feature layer and the logits.

    `resolution` None builds the digit classifier of files that record no resolution: any input
    size >= 8, resized to 28x28.
    """

    feature_dim = 128

    def __init__(
        self,
        channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        resolution: int | None = None,
        arch: str = "vgg",
    ):
        super().__init__()
        if arch not in BODIES:
            raise ValueError(f"unknown classifier arch '{arch}' (choose from: {', '.join(ARCHS)})")
        self.channels, self.resolution, self.arch = channels, resolution, arch
        self.input_size = input_size(resolution)
        self.body = nn.Sequential(
            *BODIES[arch](channels, width, self.input_size),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * width, self.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            x = (
                x.mean(1, keepdim=True)
                if self.channels == 1
                else x.expand(-1, self.channels, -1, -1)
            )
        if x.shape[-1] != self.input_size:
            size = (self.input_size, self.input_size)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: the name of the 28-px grey network, which every older classifier file holds
DigitClassifier = ImageClassifier
