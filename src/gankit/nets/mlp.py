"""The seed paper's fully connected GAN (Goodfellow et al. 2014 as the common tutorials
write it), optionally class-conditional as in Mirza & Osindero 2014 ("Conditional
Generative Adversarial Nets")."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..shard import RankDropout


def check_labels(y: torch.Tensor | None, num_classes: int) -> None:
    """Labels are required by a conditional net and refused by an unconditional one, so a recipe
    that forgets (or wrongly passes) them fails loudly instead of training the wrong model."""
    if num_classes and y is None:
        raise ValueError(f"this network is conditional (num_classes={num_classes}): pass labels y")
    if not num_classes and y is not None:
        raise ValueError("labels given to an unconditional network (built with num_classes=0)")


def with_labels(h: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """Appends one_hot(y) to the features of a flat (N, F) input, as Mirza & Osindero 2014 feed y;
    h unchanged for an unconditional net (num_classes == 0).

    One-hot rather than a learned nn.Embedding: the next layer is linear, so its weights on the
    one-hot entries already are a learned per-class embedding; an Embedding in front would only
    multiply two matrices, adding parameters and initialisation draws but no expressiveness.
    """
    check_labels(y, num_classes)
    return torch.cat([h, F.one_hot(y, num_classes).to(h.dtype)], 1) if num_classes else h


class MLPGenerator(nn.Module):
    """z (+ one-hot y) -> hidden (ReLU) ... -> prod(out_shape) with Tanh
    for images, linear for 2D points.

    `batch_norm` puts batch norm before each hidden ReLU, as DCGAN taught and the common MLP ports
    copy: without it the MLP G collapses on MNIST within a few thousand steps
    (docs/results/mnist_presets.md)."""

    def __init__(
        self,
        z_dim: int,
        hidden: list[int],
        out_shape: tuple[int, ...],
        tanh: bool = True,
        num_classes: int = 0,
        batch_norm: bool = False,
    ):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes
        sizes = [z_dim + num_classes, *hidden]
        layers: list[nn.Module] = []
        for a, b in pairwise(sizes):
            layers += [
                nn.Linear(a, b),
                *([nn.BatchNorm1d(b)] if batch_norm else []),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Linear(sizes[-1], math.prod(out_shape)))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_labels(z.flatten(1), y, self.num_classes)).view(
            len(z), *self.out_shape
        )


class Maxout(nn.Module):
    """A layer of `units` maxout units (Goodfellow et al. 2013): each the largest of `pieces`
    linear functions of the input, a learned convex piecewise-linear activation. The seed paper's
    and PacGAN's 2D D use them."""

    def __init__(self, features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).amax(dim=2)


class MLPDiscriminator(nn.Module):
    """prod(in_shape) (+ one-hot y) -> hidden (LeakyReLU 0.2, or maxout units of `maxout` pieces;
    optional dropout) ... -> 1 logit (the sigmoid lives in the loss). Goodfellow et al. 2014
    trained D with dropout: it keeps an MLP D from memorising the data and winning outright."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        hidden: list[int],
        num_classes: int = 0,
        dropout: float = 0.0,
        maxout: int = 0,
    ):
        super().__init__()
        self.num_classes = num_classes
        sizes = [math.prod(in_shape) + num_classes, *hidden]
        layers: list[nn.Module] = []
        for a, b in pairwise(sizes):
            unit = [Maxout(a, b, maxout)] if maxout else [nn.Linear(a, b), nn.LeakyReLU(0.2, True)]
            layers += [*unit, *([RankDropout(dropout)] if dropout else [])]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_labels(x.flatten(1), y, self.num_classes)).squeeze(1)
