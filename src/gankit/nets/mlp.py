"""The seed paper's fully connected GAN (Goodfellow et al. 2014 as the common tutorials write it)."""
from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """z -> hidden (ReLU) ... -> prod(out_shape) with Tanh for images, linear for 2D points."""

    def __init__(self, z_dim: int, hidden: list[int], out_shape: tuple[int, ...], tanh: bool = True):
        super().__init__()
        self.out_shape = tuple(out_shape)
        sizes = [z_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(sizes[-1], math.prod(out_shape)))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(len(z), *self.out_shape)


class MLPDiscriminator(nn.Module):
    """prod(in_shape) -> hidden (LeakyReLU 0.2) ... -> 1 logit (the sigmoid lives in the loss)."""

    def __init__(self, in_shape: tuple[int, ...], hidden: list[int]):
        super().__init__()
        sizes = [math.prod(in_shape), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)
