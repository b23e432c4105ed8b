"""DCGAN (Radford et al. 2015): strided (transposed) convolutions, batch norm, no pooling and no
fully connected hidden layers; ReLU + Tanh in G, LeakyReLU 0.2 in D.

Any resolution R = b * 2^k with a base b in 4..7 and k >= 1 can be built (8, 16, 28, 32, 64, ...):
G grows b x b -> R by doubling, D shrinks R -> b x b by halving and ends in one b x b convolution.

With num_classes > 0 both are class-conditional: G reads one_hot(y) next to z, D reads it as input
channels or through a projection (`DCGANDiscriminator`).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .fast_conv import EdgeConv2d, EdgeConvTranspose2d
from .mlp import check_labels, with_labels


def plan(resolution: int) -> tuple[int, int]:
    """(base, number of doublings) for a resolution, or a ConfigError saying what can be built."""
    r, k = resolution, 0
    while r > 7 and r % 2 == 0:
        r, k = r // 2, k + 1
    if not (4 <= r <= 7 and k >= 1):
        raise ConfigError(
            f"dcgan cannot build resolution {resolution}: it needs b*2^k with b in 4..7"
            " and k >= 1 (e.g. 8, 16, 28, 32, 64)"
        )
    return r, k


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) batch-norm scales, as the DCGAN paper prescribes."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _widths(width: int, k: int) -> list[int]:
    """Channels from the b x b stage up to the last hidden stage: width * 2^(k-1) ... width."""
    return [width * 2 ** (k - 1 - i) for i in range(k)]


class DCGANGenerator(nn.Module):
    """z (+ one-hot y, see `with_labels`) as a 1 x 1 map -> b x b -> ...
    -> R x R images in [-1, 1]."""

    def __init__(
        self, z_dim: int, width: int, resolution: int, channels: int, num_classes: int = 0
    ):
        super().__init__()
        base, k = plan(resolution)
        widths = _widths(width, k)
        layers: list[nn.Module] = [
            EdgeConvTranspose2d(z_dim + num_classes, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for a, b in pairwise(widths):
            layers += [
                nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(inplace=True),
            ]
        layers += [EdgeConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = with_labels(z.view(len(z), self.z_dim), y, self.num_classes)
        return self.net(h[:, :, None, None])


class MinibatchStd(nn.Module):
    """Appends the batch's feature standard deviation as one more channel (Karras et al. 2018), so
    D can see a lack of variety across a batch and G is pushed to cover more modes."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        y = x.reshape(g, n // g, c * h * w)  # sample i is in subgroup i % (n // g)
        std = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(1)
        return torch.cat([x, std.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)], 1)


class DCGANDiscriminator(nn.Module):
    """R x R images -> b x b -> 1 logit; conditional (num_classes > 0) in one of two ways:

    - concatenation (Mirza & Osindero 2014): one-hot(y) as num_classes constant input channels, so
      every one of D's first filters sees the class at every position. (A learned per-class map in
      one channel left the class to be decoded from local patches of noise, and fewer samples
      read as the asked-for digit: docs/results/mnist_presets.md.)
    - projection (Miyato & Koyama 2018, `projection=True`): the logit gains <embed(y), features>,
      the features summed over the last b x b stage. It ties D's verdict to the label directly,
      which concatenation leaves D free to ignore.
    """

    def __init__(
        self,
        width: int,
        resolution: int,
        channels: int,
        minibatch_std: int = 0,
        norm: str = "batch",
        num_classes: int = 0,
        projection: bool = False,
    ):
        super().__init__()
        base, k = plan(resolution)
        widths = _widths(width, k)[::-1]  # width ... width * 2^(k-1)
        self.num_classes, self.projection, self.features = (
            num_classes,
            projection and num_classes > 0,
            widths[-1],
        )
        # the image layer's LeakyReLU runs inside it (fast_conv.EdgeConv2d); the Identity keeps
        # the layers' indices, so checkpoints from before the fusion still load
        first = EdgeConv2d(
            channels + (num_classes if not self.projection else 0),
            widths[0],
            4,
            2,
            1,
            negative_slope=0.2,
        )
        layers: list[nn.Module] = [first, nn.Identity()]
        for a, b in pairwise(widths):
            normed = norm == "batch"
            layers += [
                nn.Conv2d(a, b, 4, 2, 1, bias=not normed),
                *([nn.BatchNorm2d(b)] if normed else []),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        if minibatch_std:
            layers.append(MinibatchStd(minibatch_std))
        # the logit layer
        layers.append(EdgeConv2d(widths[-1] + (1 if minibatch_std else 0), 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        if self.projection:
            self.embed = nn.Embedding(num_classes, widths[-1])
        self.apply(init_dcgan_weights)
        if self.projection:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the scale of the logit layer's weights

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        if self.projection:
            h = self.net[:-1](x)
            inner = (self.embed(y) * h[:, : self.features].sum((2, 3))).sum(1)
            return self.net[-1](h).flatten() + inner
        if self.num_classes:
            maps = (
                F.one_hot(y, self.num_classes)
                .to(x.dtype)[:, :, None, None]
                .expand(-1, -1, *x.shape[2:])
            )
            x = torch.cat([x, maps], 1)
        return self.net(x).flatten()
