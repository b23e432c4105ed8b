"""The recipe interface: what a model family gives the one trainer.

A recipe owns its networks (`nets`, a dict so multi-network families such as CycleGAN fit) and
their optimizers, performs one complete training step on a batch (its own backward passes and
optimizer steps) and generates samples. Devices, EMA, checkpoints, logging and health live in
`gankit.train`, once, for every recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from ..optim import FusedAdam

if TYPE_CHECKING:
    from ..config import Config


def make_optimizer(
    params: Iterable[torch.Tensor], lr: float, cfg: Config, *, fused: bool = False
) -> torch.optim.Optimizer:
    """The config's optimizer for any recipe's parameters: `optim.name` (adam | rmsprop) with its
    betas and `optim.weight_decay`, so every family reads the same options. Adam is one fused
    kernel where the recipe asks (`fused`: the GAN's hot path, CPU and CUDA; `gankit.optim`) and
    multi-tensor (foreach) otherwise; RMSprop has no fused form."""
    o = cfg.optim
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=o.weight_decay, foreach=True)
    if fused:
        return FusedAdam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    return torch.optim.Adam(
        params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay, foreach=True
    )


def generate_in_chunks(
    recipe: Recipe,
    latents: torch.Tensor,
    labels: torch.Tensor | None = None,
    nets: dict[str, nn.Module] | None = None,
    chunk: int = 500,
    on_chunk: Callable[[], object] | None = None,
    **options: Any,
) -> torch.Tensor:
    """`recipe.generate` over many latents, `chunk` at a time; a conditional model sampled without
    labels cycles its classes over all of them (not per chunk, so the shares stay equal).
    `on_chunk` is called after each chunk (a progress bar's update); `options` go to every
    `generate` call (a style-based G's `truncation`)."""
    labels = recipe.labels(len(latents)) if labels is None else labels
    parts = []
    for i in range(0, len(latents), chunk):
        part_labels = None if labels is None else labels[i : i + chunk]
        parts.append(recipe.generate(latents[i : i + chunk], part_labels, nets=nets, **options))
        if on_chunk is not None:
            on_chunk()
    return torch.cat(parts)


@dataclass(frozen=True)
class NetSpec:
    """A recipe's sampling network as its class and constructor arguments: what `gankit export`
    writes beside the weights, so the network can be built again with nothing but its class."""

    #: its key in `recipe.nets` (and `ema_nets`)
    name: str
    cls: type[nn.Module]
    kwargs: dict[str, Any]
    #: what its outputs are and how they become samples, in words (written to config.json)
    outputs: str
    #: weights of the run's network that sampling never reads (the VAE decoder's `log_scale`, a
    #: parameter of the likelihood, not of the mean it shows): left out of an export
    unused: tuple[str, ...] = ()
    #: what sampling needs besides the network (a diffusion model's noise schedule and sampler)
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def class_path(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    def build(self) -> nn.Module:
        return self.cls(**self.kwargs)


class Recipe(Protocol):
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    #: nets the trainer keeps an EMA copy of (used for sampling when EMA is on)
    ema_nets: tuple[str, ...]
    #: real batches of `optim.batch_size` one step consumes (n_critic for a WGAN); the trainer
    #: hands them over as one tensor
    batches_per_step: int
    #: what D's outputs mean to the health monitor (`losses.OUTPUT_KIND`; "none" without a D)
    output_kind: str
    #: the one network sampling runs, as `gankit export` writes it (image recipes; a table
    #: recipe, whose samples need its fitted transformer too, has none)
    sampling_spec: NetSpec
    # Optional, for the trainer's speed and scale options (a recipe without them refuses those):
    #   shard: tuple[int, int]   (rank, ranks) under torchrun: the trainer hands every rank the same
    #       noise stream; the recipe keeps its rank's slice of each global draw
    #   grad_scaler: GradScaler | None   train.amp=fp16: scale losses before backward, step
    #       through it
    #   batch_schedule   a batch size per step (`size(step)`, `images_before(step)`, `largest`): the
    #       trainer hands each step its own batch size (progressive growing's stages)
    # Optional, for state beyond nets and optimizers that a resumed run needs (ADA's p):
    #   extra_state() -> dict   saved in every checkpoint (tensors and plain values)
    #   load_extra_state(state: dict)   what extra_state returned ({} from an older checkpoint)

    def train_step(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        rng: torch.Generator,
        want_stats: bool,
        step: int = 0,
    ) -> dict[str, torch.Tensor]:
        """One step (`step` counts from 0, for schedules such as lazy regularization); returns
        scalar tensors: `loss*` keys always (the trainer watches them for NaN/Inf), diagnostics
        when `want_stats`.

        Values stay tensors so no step waits on the device; the trainer reads them at log time.
        """
        ...

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """The noise `generate` takes; the trainer keeps a fixed batch of it for sample grids."""
        ...

    def labels(self, n: int) -> torch.Tensor | None:
        """Labels for `n` unlabelled samples of a conditional model (each class in turn); None if
        the model is unconditional."""
        ...

    def generate(
        self,
        latents: torch.Tensor,
        labels: torch.Tensor | None = None,
        nets: dict[str, nn.Module] | None = None,
    ) -> torch.Tensor:
        """Samples in data space ([-1, 1] images or points), from `nets` (EMA copies) or its own."""
        ...
