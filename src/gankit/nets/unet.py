"""A small U-Net for noise prediction (Ho et al. 2020, Appendix B, scaled down for CPUs): a
sinusoidal time embedding, one residual block per resolution with GroupNorm and the time (and
class) embedding added, self-attention at the lowest resolution, skip connections across.
It maps (x_t, t[, y]) to predicted noise of x_t's shape; schedules and samplers live in
`gankit.schedulers`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of the (integer) timestep, as DDPM embeds it."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    """Up to 8 groups: the largest count that divides the channels (8 for the presets' widths)."""
    return nn.GroupNorm(max(g for g in range(1, 9) if channels % g == 0), channels)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (improved DDPM)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over positions, pre-normed and residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm, self.qkv, self.out = (
            _norm(channels),
            nn.Conv2d(channels, 3 * channels, 1),
            nn.Conv2d(channels, channels, 1),
        )
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # (N, HW, C) each
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)
        o = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(o.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    """Two downsamplings (so H and W must be divisible by 4): widths w * `mult`, by default
    (w, 2w, 2w), at H, H/2, H/4.
    `num_classes` > 0 adds a class embedding with one extra "no label" index (= num_classes) for
    classifier-free guidance."""

    def __init__(
        self,
        channels: int,
        width: int = 32,
        num_classes: int = 0,
        attention: bool = True,
        mult: tuple[int, int, int] = (1, 2, 2),
    ):
        super().__init__()
        if len(mult) != 3 or min(mult) < 1:
            raise ValueError(f"the U-Net takes three positive width multipliers, got {mult}")
        self.width, self.num_classes = width, num_classes
        emb = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = nn.Embedding(num_classes + 1, emb) if num_classes else None
        w1, w2, w3 = (width * m for m in mult)
        self.stem = nn.Conv2d(channels, w1, 3, padding=1)
        self.down1 = ResBlock(w1, w1, emb)
        self.pool1 = nn.Conv2d(w1, w1, 3, stride=2, padding=1)
        self.down2 = ResBlock(w1, w2, emb)
        self.pool2 = nn.Conv2d(w2, w2, 3, stride=2, padding=1)
        self.mid1 = ResBlock(w2, w3, emb)
        self.attn = Attention(w3) if attention else nn.Identity()
        self.mid2 = ResBlock(w3, w3, emb)
        self.up2 = ResBlock(w3 + w2, w2, emb)
        self.up1 = ResBlock(w2 + w1, w1, emb)
        self.head = nn.Sequential(_norm(w1), nn.SiLU(), nn.Conv2d(w1, channels, 3, padding=1))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.width))
        if self.class_emb is not None:
            y = torch.full_like(t, self.num_classes) if y is None else y
            emb = emb + self.class_emb(y)
        h1 = self.down1(self.stem(x), emb)  # H
        h2 = self.down2(self.pool1(h1), emb)  # H/2
        h = self.mid2(self.attn(self.mid1(self.pool2(h2), emb)), emb)  # H/4
        h = self.up2(torch.cat([F.interpolate(h, size=h2.shape[-2:], mode="nearest"), h2], 1), emb)
        h = self.up1(torch.cat([F.interpolate(h, size=h1.shape[-2:], mode="nearest"), h1], 1), emb)
        return self.head(h)
