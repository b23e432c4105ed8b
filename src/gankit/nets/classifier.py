"""A small CNN digit classifier: the project's own feature extractor for digit data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitClassifier(nn.Module):
    """Conv-BN-ReLU x 5 with two poolings, global average, a 128-d feature layer, 10 logits.

    Works at any input size >= 8; inputs are resized to 28x28 so one classifier serves
    8x8 digits and MNIST alike.
    """

    feature_dim = 128

    def __init__(self, channels: int = 1, num_classes: int = 10, width: int = 32):
        super().__init__()

        def block(a: int, b: int) -> list[nn.Module]:
            return [
                nn.Conv2d(a, b, 3, padding=1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(inplace=True),
            ]

        self.body = nn.Sequential(
            *block(channels, width),
            *block(width, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            *block(2 * width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * width, self.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.channels = channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            x = (
                x.mean(1, keepdim=True)
                if self.channels == 1
                else x.expand(-1, self.channels, -1, -1)
            )
        if x.shape[-1] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
