"""ResNet G and D of SNGAN (Miyato et al. 2018) with the projection discriminator (Miyato & Koyama
2018) and optional SAGAN self-attention (Zhang et al. 2019), sized for small images.

Resolutions are R = b * 2^k as in dcgan.plan (8, 16, 28, 32, 64, ...): G grows b x b -> R in k
up-blocks, D shrinks R -> b x b (an "optimized" first block, then k - 1 down-blocks) and adds one
block at b x b. Channels run width * 2^(k-1) at b x b ... width at R, as in DCGAN.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .dcgan import MinibatchStd, _widths, plan
from .layers import ConditionalBatchNorm2d, SelfAttention, apply_spectral_norm
from .mlp import check_labels


def _init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases, as the SNGAN reference code initializes."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _norm(bn: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return bn(x, y) if isinstance(bn, ConditionalBatchNorm2d) else bn(x)


def _check_labels(y: torch.Tensor | None, num_classes: int, n: int) -> None:
    """As mlp.check_labels, and one label per sample (an (N, 1) y would broadcast silently)."""
    check_labels(y, num_classes)
    if y is not None and y.shape != (n,):
        raise ValueError(f"one label per sample: y has shape {tuple(y.shape)}, expected ({n},)")


def _attention_at(attention_res: int | None, resolutions: list[int], net: str) -> int | None:
    """Index of the first stage whose output has resolution attention_res (None: no attention)."""
    if attention_res is None:
        return None
    if attention_res not in resolutions:
        raise ConfigError(
            f"{net}: attention_res {attention_res} is not a resolution of its feature maps"
            f" (choose from: {', '.join(map(str, sorted(set(resolutions))))})"
        )
    return resolutions.index(attention_res)


class GBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus an upsampled (1x1-conv'd) shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        bn = (lambda c: ConditionalBatchNorm2d(c, num_classes)) if num_classes else nn.BatchNorm2d
        self.bn1, self.conv1 = bn(c_in), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.bn2, self.conv2 = bn(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(_norm(self.bn1, x, y)), scale_factor=2.0)
        h = self.conv2(F.relu(_norm(self.bn2, self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0))


class DBlock(nn.Module):
    """(ReLU)-conv3x3-ReLU-conv3x3-(avgpool) with a 1x1-conv shortcut when the shape changes. The
    "optimized" first block of SNGAN has no leading ReLU: it sees raw pixels. The shortcut pools
    before its 1x1 conv: both are linear, so the order changes nothing but the cost (4x less)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        # the first block widens at once: in -> out -> out (SNGAN)
        hidden = c_out if first else c_in
        self.conv1, self.conv2 = nn.Conv2d(c_in, hidden, 3, 1, 1), nn.Conv2d(hidden, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out or down else nn.Identity()

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        return self._pool(h) + self.skip(self._pool(x))


class ResNetGenerator(nn.Module):
    """SNGAN's ResNet G: z -> linear -> b x b -> k up-blocks -> BN-ReLU-conv3x3-Tanh. With
    num_classes > 0 every block's batch norm is class-conditional (Miyato & Koyama 2018)."""

    def __init__(
        self,
        z_dim: int,
        width: int,
        resolution: int,
        channels: int,
        num_classes: int = 0,
        attention_res: int | None = None,
    ):
        super().__init__()
        base, k = plan(resolution)
        widths = _widths(width, k)
        outs = widths[1:] + widths[-1:]  # halving per block, the last block stays at width
        self.z_dim, self.num_classes, self.base = z_dim, num_classes, base
        self.linear = nn.Linear(z_dim, base * base * widths[0])
        self.blocks = nn.ModuleList(
            GBlock(a, b, num_classes) for a, b in zip(widths, outs, strict=True)
        )
        # stage 0 is the linear's b x b output (so G and D share a valid
        # attention_res even at 8 x 8)
        self.attn_at = _attention_at(
            attention_res, [base * 2**i for i in range(k + 1)], "ResNetGenerator"
        )
        self.attn = (
            SelfAttention([widths[0], *outs][self.attn_at]) if self.attn_at is not None else None
        )
        self.out = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()
        )
        self.apply(_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(y, self.num_classes, len(z))
        h = self._attend(0, self.linear(z.flatten(1)).view(len(z), -1, self.base, self.base))
        for i, block in enumerate(self.blocks, 1):
            h = self._attend(i, block(h, y))
        return self.out(h)

    def _attend(self, stage: int, h: torch.Tensor) -> torch.Tensor:
        return self.attn(h) if stage == self.attn_at else h


class ResNetDiscriminator(nn.Module):
    """SNGAN's ResNet D: optimized block, down-blocks to b x b, one more block, ReLU, global sum
    pooling, linear -> 1 logit per sample. With num_classes > 0 it is a projection discriminator
    (Miyato & Koyama 2018): the logit gains <embed(y), features>, the inner-product form of
    conditioning that their paper derives from the log-likelihood ratio."""

    def __init__(
        self,
        width: int,
        resolution: int,
        channels: int,
        num_classes: int = 0,
        attention_res: int | None = None,
        spectral_norm: bool = True,
        minibatch_std: int = 0,
    ):
        super().__init__()
        base, k = plan(resolution)
        widths = _widths(width, k)[::-1]  # width ... width * 2^(k-1)
        self.num_classes = num_classes
        self.blocks = nn.ModuleList([DBlock(channels, widths[0], down=True, first=True)])
        self.blocks.extend(DBlock(a, b, down=True) for a, b in pairwise(widths))
        self.attn_at = _attention_at(
            attention_res, [base * 2 ** (k - 1 - i) for i in range(k)], "ResNetDiscriminator"
        )
        self.attn = SelfAttention(widths[self.attn_at]) if self.attn_at is not None else None
        self.mbstd = MinibatchStd(minibatch_std) if minibatch_std else None
        self.last = DBlock(widths[-1] + (1 if minibatch_std else 0), widths[-1], down=False)
        self.linear = nn.Linear(widths[-1], 1)
        self.embed = nn.Embedding(num_classes, widths[-1]) if num_classes else None
        self.apply(_init)
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(y, self.num_classes, len(x))
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            h = self.attn(h) if i == self.attn_at else h
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = F.relu(self.last(h)).sum((2, 3))
        out = self.linear(h).flatten()
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out
