"""A small CNN classifier: the project's own feature extractor, sized to its data's resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: inputs up to this size are resized to it, so one network serves 8x8 digits and MNIST alike
SMALL_INPUT = 28
#: pooling stops once the feature map is this small, before the global average
SMALLEST_MAP = 8


def input_size(resolution: int | None) -> int:
    """The size the network reads: SMALL_INPUT for small images (and for files that record no
    resolution), else the images' own."""
    return SMALL_INPUT if resolution is None or resolution <= SMALL_INPUT else resolution


class ImageClassifier(nn.Module):
    """Conv-BN-ReLU x 5 with two poolings, global average, a 128-d feature layer and the logits;
    images larger than 28 px get one more pooling and block per doubling beyond 32 px (64 px:
    three poolings), so the last map stays at most 8x8 whatever the resolution.

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
    ):
        super().__init__()

        def block(a: int, b: int) -> list[nn.Module]:
            return [
                nn.Conv2d(a, b, 3, padding=1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(inplace=True),
            ]

        self.channels, self.resolution = channels, resolution
        self.input_size = input_size(resolution)
        layers = [
            *block(channels, width),
            *block(width, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            *block(2 * width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
        ]
        size = self.input_size // 4
        while size > SMALLEST_MAP:
            layers += [nn.MaxPool2d(2), *block(4 * width, 4 * width)]
            size //= 2
        self.body = nn.Sequential(
            *layers,
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
