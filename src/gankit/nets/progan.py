"""Progressive growing of GANs (Karras et al. 2018): G and D that hold every resolution's layers
from 4x4 up to the image size and run the stage they are set to, fading the newest layers in.

Both networks keep the phase they run as integer buffers (`stage`, `fade_done`, `fade_total`), so
the phase travels with the weights: into checkpoints, EMA copies (integers are copied, not
averaged) and exports. Every weight has the paper's equalised learning rate (stored ~ N(0, 1),
scaled at run time by He's constant), G normalises each pixel's feature vector (pixel norm), and D
reads a minibatch standard deviation channel before its last block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: the slope of every LeakyReLU (the paper's)
SLOPE = 0.2


def stage_resolutions(resolution: int) -> list[int]:
    """4, 8, ..., `resolution`: the image side of each stage."""
    sides = [4]
    while sides[-1] < resolution:
        sides.append(sides[-1] * 2)
    return sides


def is_stage_resolution(resolution: int) -> bool:
    """Whether progressive growing reaches exactly this side (a power of two, at least 4)."""
    return resolution >= 4 and resolution & (resolution - 1) == 0


def feature_maps(side: int, fmap_base: int, fmap_max: int) -> int:
    """Channels of the layers at `side` px: min(fmap_base / side, fmap_max), at least 1 (the
    paper's 512 up to 32 px, then halving, is fmap_base 16384, fmap_max 512)."""
    return max(1, min(fmap_base // side, fmap_max))


class EqualizedLinear(nn.Module):
    """A linear layer whose weights are drawn N(0, 1) and multiplied by gain / sqrt(fan_in) at every
    call: Adam's steps then move every layer at the same rate (equalised learning rate)."""

    def __init__(self, fan_in: int, fan_out: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.scale = gain / math.sqrt(fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A k x k convolution (same padding) with the equalised learning rate of `EqualizedLinear`;
    fan_in is in_channels x k x k."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit root mean square (the paper's section 4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """x with one more channel: the standard deviation of each feature over a group of samples,
    averaged over features and pixels (the paper's section 3). Samples i, i + N/g, ... form a
    group, as in the paper's code; a batch that `group` does not divide uses groups of its size."""
    n, c, h, w = x.shape
    g = group if n % group == 0 else n
    y = x.float().reshape(g, -1, c, h, w)
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # one per group
    channel = std.to(x.dtype).view(1, -1, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, channel], dim=1)


def upscale(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by a whole factor."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downscale(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average pooling by a whole factor."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


class _Phased(nn.Module):
    """The stage a network runs and how far its newest layers are faded in, as integer buffers."""

    def _register_phase(self) -> None:
        self.register_buffer("stage", torch.zeros((), dtype=torch.int64))
        self.register_buffer("fade_done", torch.ones((), dtype=torch.int64))
        self.register_buffer("fade_total", torch.ones((), dtype=torch.int64))

    def set_phase(self, stage: int, fade_done: int, fade_total: int) -> None:
        """Run stage `stage` (0: 4x4) with alpha = fade_done / fade_total (1: faded in)."""
        self.stage.fill_(stage)
        self.fade_done.fill_(fade_done)
        self.fade_total.fill_(fade_total)

    @property
    def phase(self) -> tuple[int, float]:
        """(stage, alpha) as plain numbers."""
        done, total = int(self.fade_done), int(self.fade_total)
        return int(self.stage), (1.0 if done >= total else done / total)


class ProGANGenerator(_Phased):
    """z -> 4x4 (dense, conv) -> one block a stage (upsample, two 3x3 convs) -> 1x1 toRGB; pixel
    norm after every layer but toRGB, linear output. `synthesize` gives the current stage's
    resolution (training); calling the network gives it upsampled (nearest) to `resolution`."""

    def __init__(
        self, z_dim: int, resolution: int, channels: int, fmap_base: int, fmap_max: int
    ) -> None:
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        sides = stage_resolutions(resolution)
        width = [feature_maps(s, fmap_base, fmap_max) for s in sides]
        # gain sqrt(2)/4: the dense layer acts as a 4x4 transposed convolution (the paper's code)
        self.dense = EqualizedLinear(z_dim, width[0] * 16, gain=math.sqrt(2) / 4)
        self.conv4 = EqualizedConv2d(width[0], width[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [EqualizedConv2d(width[k - 1], width[k], 3), EqualizedConv2d(width[k], width[k], 3)]
            )
            for k in range(1, len(sides))
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, channels, 1, gain=1.0) for c in width)
        self._register_phase()

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(F.leaky_relu(x, SLOPE))

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """Images at the current stage's side, its newest block faded in by alpha."""
        stage, alpha = self.phase
        h = self._act(self.dense(pixel_norm(z)).view(len(z), -1, 4, 4))
        h = self._act(self.conv4(h))
        previous = h
        for conv_a, conv_b in self.blocks[:stage]:
            previous = h
            h = self._act(conv_b(self._act(conv_a(upscale(h)))))
        image = self.to_rgb[stage](h)
        if stage > 0 and alpha < 1.0:
            return torch.lerp(upscale(self.to_rgb[stage - 1](previous)), image, alpha)
        return image

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images at `resolution`: the current stage's, upsampled (nearest) where it is smaller
        (`labels` is accepted and unused: G is unconditional)."""
        image = self.synthesize(z)
        return upscale(image, self.resolution // image.shape[-1])


class ProGANDiscriminator(_Phased):
    """1x1 fromRGB -> one block a stage (two 3x3 convs, average pool) -> minibatch stddev, 3x3 conv,
    dense, dense -> one critic value, at the current stage's side; the newest block is faded in
    against fromRGB of the image downscaled."""

    def __init__(
        self, resolution: int, channels: int, fmap_base: int, fmap_max: int, mbstd_group: int
    ) -> None:
        super().__init__()
        sides = stage_resolutions(resolution)
        width = [feature_maps(s, fmap_base, fmap_max) for s in sides]
        self.mbstd_group = mbstd_group
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, c, 1) for c in width)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [EqualizedConv2d(width[k], width[k], 3), EqualizedConv2d(width[k], width[k - 1], 3)]
            )
            for k in range(1, len(sides))
        )
        extra = 1 if mbstd_group else 0
        self.conv4 = EqualizedConv2d(width[0] + extra, width[0], 3)
        self.dense = EqualizedLinear(width[0] * 16, width[0])
        self.out = EqualizedLinear(width[0], 1, gain=1.0)
        self._register_phase()

    def _block(self, k: int, h: torch.Tensor) -> torch.Tensor:
        conv_a, conv_b = self.blocks[k - 1]
        return downscale(F.leaky_relu(conv_b(F.leaky_relu(conv_a(h), SLOPE)), SLOPE))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Critic values, one a sample, of images at the current stage's side or larger ones
        (such as G's full-size samples), average-pooled to it (`y` is accepted and unused: D is
        unconditional)."""
        stage, alpha = self.phase
        x = downscale(x, x.shape[-1] // (4 << stage))
        h = F.leaky_relu(self.from_rgb[stage](x), SLOPE)
        if stage > 0:
            h = self._block(stage, h)
            if alpha < 1.0:
                skip = F.leaky_relu(self.from_rgb[stage - 1](downscale(x)), SLOPE)
                h = torch.lerp(skip, h, alpha)
        for k in range(stage - 1, 0, -1):
            h = self._block(k, h)
        if self.mbstd_group:
            h = minibatch_stddev(h, self.mbstd_group)
        h = F.leaky_relu(self.conv4(h), SLOPE)
        h = F.leaky_relu(self.dense(h.flatten(1)), SLOPE)
        return self.out(h).squeeze(1)
