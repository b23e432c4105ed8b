"""The recipe interface: what a model family gives the one trainer.

A recipe owns its networks (`nets`, a dict so multi-network families such as CycleGAN fit) and
their optimizers, performs one complete training step on a batch (its own backward passes and
optimizer steps) and generates samples. Devices, EMA, checkpoints, logging and health live in
`gankit.train`, once, for every recipe.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn


class Recipe(Protocol):
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    #: nets the trainer keeps an EMA copy of (used for sampling when EMA is on)
    ema_nets: tuple[str, ...]

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator,
                   want_stats: bool) -> dict[str, torch.Tensor]:
        """One step; returns scalar tensors: `loss*` keys always (the trainer watches them for NaN/Inf),
        diagnostics when `want_stats`.

        Values stay tensors so no step waits on the device; the trainer reads them at log time.
        """
        ...

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """The noise `generate` takes; the trainer keeps a fixed batch of it for sample grids."""
        ...

    def generate(self, latents: torch.Tensor, labels: torch.Tensor | None = None,
                 nets: dict[str, nn.Module] | None = None) -> torch.Tensor:
        """Samples in data space ([-1, 1] images or points), from `nets` (EMA copies) or its own."""
        ...
