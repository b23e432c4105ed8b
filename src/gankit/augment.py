"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transforms are applied to every image D sees, real and fake, in
both the D and the G step: D cannot memorise a small training set through them, and because each
transform is differentiable in its input, G's gradients flow back through the augmentation.

Random numbers are drawn on the CPU from the caller's generator (so a run is reproducible from its
seed on any device) and then moved to the images' device. Under torchrun (`shard`) each rank keeps
its slice of the draws for the global batch (`shard.rank_draw`), as one process would draw them.
Everything is batched: no per-sample Python work. Images are NCHW.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .shard import ONE_PROCESS, Shard, rank_draw


def _uniform(
    n: int, low: float, high: float, x: torch.Tensor, rng: torch.Generator, shard: Shard
) -> torch.Tensor:
    """n per-sample factors in U[low, high), shaped to broadcast over an NCHW batch."""
    u = rank_draw(shard, n, lambda m: torch.rand(m, generator=rng)) * (high - low) + low
    return u.to(x.device, x.dtype, non_blocking=True).view(n, 1, 1, 1)


def _offsets(
    n: int, low: int, high: int, x: torch.Tensor, rng: torch.Generator, shard: Shard
) -> torch.Tensor:
    """n per-sample integers in [low, high] on x's device."""
    offsets = rank_draw(shard, n, lambda m: torch.randint(low, high + 1, (m,), generator=rng))
    return offsets.to(x.device, non_blocking=True)


def brightness(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """Adds one U[-0.5, 0.5] offset per image."""
    return x + _uniform(len(x), -0.5, 0.5, x, rng, shard)


def saturation(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """Scales each pixel's deviation from its channel mean by U[0, 2] (exactly x for 1 channel)."""
    mean = x.mean(1, keepdim=True)
    return (x - mean) * _uniform(len(x), 0.0, 2.0, x, rng, shard) + mean


def contrast(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """Scales each image's deviation from its overall mean by U[0.5, 1.5]."""
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(len(x), 0.5, 1.5, x, rng, shard) + mean


def color(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """The paper's "color" policy: brightness, then saturation, then contrast."""
    return contrast(saturation(brightness(x, rng, shard), rng, shard), rng, shard)


def translation(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """Moves each image by a whole number of pixels, up to 1/8 of its size per axis, padding zeros.

    The padded copy is indexed (a gather), so the gradient reaches every pixel that stays visible.
    """
    n, _, h, w = x.shape
    sh, sw = h // 8, w // 8
    dy, dx = _offsets(n, -sh, sh, x, rng, shard), _offsets(n, -sw, sw, x, rng, shard)
    padded = F.pad(x, (sw, sw, sh, sh))
    # output row i reads input row i - dy
    rows = torch.arange(h, device=x.device) + sh - dy[:, None]
    cols = torch.arange(w, device=x.device) + sw - dx[:, None]
    batch = torch.arange(n, device=x.device)[:, None, None]
    moved = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # N, H, W, C
    return moved.permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS) -> torch.Tensor:
    """Zeros one (h/2) x (w/2) square per image, placed uniformly and wholly inside the image.

    The reference code lets the square hang over the border (a smaller hole near edges); keeping it
    inside makes every image lose the same area.
    """
    n, _, h, w = x.shape
    ch, cw = h // 2, w // 2
    top, left = _offsets(n, 0, h - ch, x, rng, shard), _offsets(n, 0, w - cw, x, rng, shard)
    rows = torch.arange(h, device=x.device) - top[:, None]
    cols = torch.arange(w, device=x.device) - left[:, None]
    hole = ((rows >= 0) & (rows < ch))[:, :, None] & ((cols >= 0) & (cols < cw))[:, None, :]
    return x * (~hole).unsqueeze(1).to(x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """The policy's names in order ("" -> ()), or a ConfigError naming the unknown one."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ConfigError(f"unknown DiffAugment policy '{name}' (known: {', '.join(POLICIES)})")
    return names


def diff_augment(
    x: torch.Tensor, policy: str, rng: torch.Generator, shard: Shard = ONE_PROCESS
) -> torch.Tensor:
    """Applies the comma-separated policy ("color,translation,cutout"
    in the paper) to NCHW images."""
    names = parse_policy(policy)
    if names and x.dim() != 4:
        raise ValueError(f"DiffAugment needs NCHW images, got a tensor of shape {tuple(x.shape)}")
    for name in names:
        x = POLICIES[name](x, rng, shard)
    return x
