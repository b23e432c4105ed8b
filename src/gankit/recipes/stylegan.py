"""What the GAN recipe adds for the style-based generator (`model.arch=stylegan`, `--preset
stylegan`): the rules of its options, style mixing regularisation, the per-pixel noise of a
training step, the tracked average w, and lazy path length regularisation (Karras et al. 2019,
2020). D's lazy R1 is the GAN recipe's own (`loss.r1`, `loss.r1_every`).

Every draw comes from the step's noise stream (latents, the crossover layer, the noise maps, the
path length's image-space noise), each per-sample one as this rank's slice of the global batch's,
so a resumed run continues bit for bit and K ranks train as one process.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from ..nets.stylegan import StyleGenerator
from ..shard import Shard, rank_draw

if TYPE_CHECKING:
    from ..config import Config

#: the path lengths' running mean moves this far towards each batch's mean (StyleGAN2's 0.01)
PL_DECAY = 0.01


#: the options only the style-based networks read: (section, key)
STYLE_OPTIONS = (
    ("model", "mapping_layers"),
    ("model", "mapping_lr"),
    ("model", "channel_max"),
    ("model", "style_mixing"),
    ("model", "w_avg_beta"),
    ("loss", "pl_weight"),
    ("loss", "pl_every"),
)


def check_style_options(cfg: Config) -> None:
    """The style options' ranges; a style option changed for another architecture, or an option
    that does not apply to the style-based networks, refused."""
    m, loss = cfg.model, cfg.loss
    if m.arch != "stylegan":
        for section, key in STYLE_OPTIONS:
            value = getattr(getattr(cfg, section), key)
            default = next(
                f.default for f in dataclasses.fields(getattr(cfg, section)) if f.name == key
            )
            if value != default:
                raise ConfigError(
                    f"{section}.{key} applies to model.arch=stylegan (--preset stylegan), "
                    f"not to {m.arch}"
                )
        return
    if m.mapping_layers < 1 or m.channel_max < 1 or loss.pl_every < 1:
        raise ConfigError("model.mapping_layers, model.channel_max and loss.pl_every must be >= 1")
    if not 0 < m.mapping_lr <= 1:
        raise ConfigError(f"model.mapping_lr must be in (0, 1], got {m.mapping_lr}")
    if not 0 <= m.style_mixing <= 1:
        raise ConfigError(f"model.style_mixing is a probability in [0, 1], got {m.style_mixing}")
    if not 0 <= m.w_avg_beta < 1:
        raise ConfigError(f"model.w_avg_beta must be in [0, 1), got {m.w_avg_beta}")
    if loss.pl_weight < 0:
        raise ConfigError("loss.pl_weight is a penalty weight and cannot be negative")
    if loss.pl_weight and cfg.train.amp == "fp16":
        raise ConfigError(
            "loss.pl_weight with train.amp=fp16 is not supported (its double backward would "
            "need its own loss scaling): use train.amp=bf16"
        )
    refused = {
        "model.conditional": m.conditional,
        "model.d_spectral_norm": m.d_spectral_norm,
        "model.g_spectral_norm": m.g_spectral_norm,
        "model.projection": m.projection,
    }
    named = next((k for k, v in refused.items() if v), None)
    if named:
        raise ConfigError(
            f"{named} does not apply to model.arch=stylegan (unconditional, and its layers "
            "use the equalised learning rate instead of spectral norm)"
        )


def generator_kwargs(cfg: Config, sample_shape: tuple[int, ...]) -> dict[str, object]:
    """The constructor arguments of the style-based G (`nets.stylegan.StyleGenerator`)."""
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise ConfigError(
            f"stylegan needs square images, got samples of shape {'x'.join(map(str, sample_shape))}"
        )
    m = cfg.model
    return {
        "z_dim": m.z_dim,
        "width": m.width,
        "resolution": sample_shape[1],
        "channels": sample_shape[0],
        "mapping_layers": m.mapping_layers,
        "channel_max": m.channel_max,
        "mapping_lr": m.mapping_lr,
        "w_avg_beta": m.w_avg_beta,
    }


class StyleTraining:
    """The style-based G's side of a GAN step: fakes with style mixing and fresh noise (the
    average w tracked on the way), and the path length penalty."""

    def __init__(self, cfg: Config):
        self.mixing = cfg.model.style_mixing
        self.pl_weight, self.pl_every = cfg.loss.pl_weight, cfg.loss.pl_every

    @staticmethod
    def attach(G: StyleGenerator) -> None:
        """Register `pl_mean` on G, the running mean of the path lengths that the penalty holds
        them to: training state, so a checkpoint keeps it and an export leaves it out."""
        G.register_buffer("pl_mean", torch.zeros(()))

    def _draw(self, shard: Shard, n: int, rng: torch.Generator, device, shape) -> torch.Tensor:
        draw = rank_draw(shard, n, lambda m: torch.randn(m, *shape, generator=rng))
        return draw.to(device, non_blocking=True)  # drawn on the CPU: the same on every device

    def styles(self, G: StyleGenerator, z: torch.Tensor, rng, shard: Shard) -> torch.Tensor:
        """One w a layer for latents z, tracking the average w; with probability
        `model.style_mixing` the layers from a random crossover (1 .. num_ws - 1) on take the w of
        a second latent."""
        w = G.mapping(z)
        G.track_w_avg(w)
        ws = G.styles(w)
        if not self.mixing:
            return ws
        z2 = self._draw(shard, len(z), rng, z.device, (G.z_dim,))
        cut = int(torch.randint(1, G.num_ws, (), generator=rng)) if G.num_ws > 1 else 1
        if float(torch.rand((), generator=rng)) >= self.mixing:
            return ws
        return cross(ws, G.styles(G.mapping(z2)), cut)

    def fakes(
        self, G: StyleGenerator, z: torch.Tensor, rng, shard: Shard
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training images of latents z (mixed styles, fresh noise) and the styles they came
        from."""
        ws = self.styles(G, z, rng, shard)
        noise = [self._draw(shard, len(z), rng, z.device, s) for s in G.noise_shapes()]
        return G.synthesis(ws, noise), ws

    def path_length_due(self, step: int) -> bool:
        return bool(self.pl_weight) and step % self.pl_every == 0

    def path_length_penalty(
        self, G: StyleGenerator, n: int, rng, shard: Shard, device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """StyleGAN2's path length regularisation on half a batch: the length of J_w^T y (y
        image-space noise of unit expected norm per pixel) held to its running mean `G.pl_mean`.
        Returns the penalty, weighted `pl_weight` x `pl_every` (lazy), and the mean length."""
        z = self._draw(shard, max(n // 2, 1), rng, device, (G.z_dim,))
        images, ws = self.fakes(G, z, rng, shard)
        h, w = images.shape[-2:]
        y = self._draw(shard, len(z), rng, device, images.shape[1:]) / math.sqrt(h * w)
        (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        with torch.no_grad():
            G.pl_mean.copy_(G.pl_mean.lerp(lengths.mean().float(), PL_DECAY))
        penalty = (lengths - G.pl_mean).square().mean()
        return penalty * self.pl_weight * self.pl_every, lengths.mean().detach()


def cross(ws_a: torch.Tensor, ws_b: torch.Tensor, at: int) -> torch.Tensor:
    """Styles of `ws_a` for the layers before `at`, of `ws_b` from `at` on (N x num_ws x w_dim
    each): `at` = num_ws is `ws_a` unchanged, 0 is `ws_b`."""
    return torch.cat([ws_a[:, :at], ws_b[:, at:]], 1)
