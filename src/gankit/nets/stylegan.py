"""StyleGAN2's generator and ResNet discriminator (Karras et al. 2020, "Analyzing and Improving the
Image Quality of StyleGAN"), sized for small images.

G is a mapping network z -> w (an MLP trained at `mapping_lr` times the learning rate) and a
synthesis network that starts from a learned 4 x 4 constant. Every 3 x 3 convolution takes its own
style (an affine map of w, one w per layer so two w's can be crossed), which scales the weights per
input channel; demodulation then rescales them per output channel, so unit-variance inputs give
unit-variance outputs without normalising the activations. Per-pixel noise with a learned strength
follows each convolution, and each resolution's 1 x 1 "toRGB" adds to the upsampled image so far
(the skip architecture). D is the paper's ResNet with a minibatch standard deviation channel.
Every weight uses the equalised learning rate (Karras et al. 2018): stored as N(0, 1) and scaled by
He's constant at every call, so Adam's steps are alike for every layer.

Sizes: both networks build at P, the smallest power of two at least the image side R (from 4).
G's P x P output is centre-cropped to R and D's input padded to P with zeros, so 28 px MNIST is
built at 32 with a border of 2. Channels: `width` at P, doubling at each halving, at most
`channel_max`.

Departures from the paper, for the CPU: bilinear resampling instead of the [1, 3, 3, 1] FIR
filter, and the modulated convolution as one shared convolution between a scaling of the input
and of the output channels (the same numbers as the paper's grouped convolution).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .dcgan import MinibatchStd

#: the leaky ReLU's gain: it keeps the activations' second moment at 1 (He et al. 2015)
ACTIVATION_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * ACTIVATION_GAIN


def built_size(resolution: int) -> int:
    """P: the power of two (at least 4) the networks build for images of side `resolution`."""
    if resolution < 4:
        raise ConfigError(f"stylegan needs images of at least 4 x 4 pixels, got {resolution}")
    return 1 << (resolution - 1).bit_length()


def channels_at(res: int, size: int, width: int, channel_max: int) -> int:
    """Channels of the layers at resolution `res`: `width` at the built size, doubling at each
    halving, at most `channel_max`."""
    return min(width * (size // res), channel_max)


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate: y = x (W g)^T + b m, with W ~ N(0, 1/m^2),
    g = m / sqrt(fan-in) and m the learning-rate multiplier (0.01 in the mapping network)."""

    def __init__(self, c_in: int, c_out: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), bias_init / lr_mul))
        self.weight_gain, self.lr_mul = lr_mul / math.sqrt(c_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """A k x k convolution (same padding) with the equalised learning rate."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2
        )


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    eps: float = 1e-8,
) -> torch.Tensor:
    """StyleGAN2's modulated convolution (same padding): sample n convolves with the weights
    w[o, i] * s[n, i], divided, when `demodulate`, by sqrt(sum_i,k (w[o, i, k] s[n, i])^2 + eps),
    so each output channel of unit-variance inputs has unit variance. Computed as a scaling of the
    input channels, one convolution shared by the batch and a scaling of the output channels:
    the paper's per-sample weights in one batched product. x: N x I x H x W, weight: O x I x k x k,
    styles: N x I."""
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
    if not demodulate:
        return out
    # sum_i (sum_k w[o, i, k]^2) s[n, i]^2, for every sample n and output channel o
    energy = styles.square() @ weight.square().sum((2, 3)).T
    return out * torch.rsqrt(energy + eps)[:, :, None, None]


class MappingNetwork(nn.Module):
    """z -> w: z normalised to unit second moment, then `layers` fully connected layers with leaky
    ReLU, trained at `lr_mul` times the learning rate (the paper's 0.01)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        if layers < 1:
            raise ConfigError(f"the mapping network needs at least one layer, got {layers}")
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in pairwise(dims))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


class SynthesisLayer(nn.Module):
    """Upsample (optionally), modulated 3 x 3 convolution with demodulation, per-pixel noise times
    a learned strength, bias, leaky ReLU. `noise_const` is the fixed noise of sampling, so the
    same w always gives the same image; training draws fresh noise from the run's stream."""

    #: the EMA copies the fixed noise (nets/train's EMA averages other float buffers)
    copied_buffers = ("noise_const",)

    def __init__(self, c_in: int, c_out: int, w_dim: int, res: int, up: bool):
        super().__init__()
        self.up, self.res = up, res
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(res, res))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = modulated_conv2d(x, self.weight, self.affine(w))
        x = x + (self.noise_const if noise is None else noise) * self.noise_strength
        return lrelu(x + self.bias[:, None, None])


class ToRGB(nn.Module):
    """A modulated 1 x 1 convolution to the image's channels, without demodulation (its output
    is the image, whose scale must be free)."""

    def __init__(self, c_in: int, channels: int, w_dim: int):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_gain = 1.0 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, demodulate=False) + self.bias[:, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: the 4 x 4 block starts from the learned constant and has one layer; the
    others upsample in their first of two. Its toRGB reads the w of the next block's first layer
    (the paper's indexing: P = 32 has 7 layers and 8 w's)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, res: int, channels: int):
        super().__init__()
        first = res == 4
        self.const = nn.Parameter(torch.randn(c_out, 4, 4)) if first else None
        self.layers = nn.ModuleList(
            [SynthesisLayer(c_out, c_out, w_dim, res, up=False)]
            if first
            else [
                SynthesisLayer(c_in, c_out, w_dim, res, up=True),
                SynthesisLayer(c_out, c_out, w_dim, res, up=False),
            ]
        )
        self.to_rgb = ToRGB(c_out, channels, w_dim)

    def forward(
        self,
        x: torch.Tensor | None,
        image: torch.Tensor | None,
        ws: torch.Tensor,
        noise: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws`: N x (layers + 1) x w_dim, this block's w's and the toRGB's; `noise`: one map a
        layer, or None for the fixed noise."""
        if self.const is not None:
            x = self.const.expand(len(ws), *self.const.shape)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], None if noise is None else noise[i])
        rgb = self.to_rgb(x, ws[:, len(self.layers)])
        if image is not None:
            rgb = rgb + F.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=False)
        return x, rgb


class StyleGenerator(nn.Module):
    """z -> w (`mapping`) -> one w a layer (`styles`: truncated, or crossed with another w)
    -> image (`synthesis`). `w_avg` is the average w tracked over training (`track_w_avg`), the
    centre of the truncation trick, saved with the weights."""

    #: buffers the trainer's EMA copies instead of averaging: G's own tracked figures (the EMA G
    #: truncates towards G's w average, as StyleGAN2 does; `pl_mean`, which training adds)
    copied_buffers = ("w_avg", "pl_mean")

    def __init__(
        self,
        z_dim: int,
        width: int,
        resolution: int,
        channels: int,
        mapping_layers: int = 8,
        channel_max: int = 512,
        mapping_lr: float = 0.01,
        w_avg_beta: float = 0.995,
    ):
        super().__init__()
        self.z_dim = self.w_dim = z_dim
        self.resolution, self.size = resolution, built_size(resolution)
        self.w_avg_beta = w_avg_beta
        self.mapping_net = MappingNetwork(z_dim, z_dim, mapping_layers, mapping_lr)
        resolutions = [1 << k for k in range(2, self.size.bit_length())]  # 4, 8, ..., P
        widths = [channels_at(r, self.size, width, channel_max) for r in resolutions]
        self.blocks = nn.ModuleList(
            SynthesisBlock(c_in, c_out, z_dim, r, channels)
            for r, c_in, c_out in zip(resolutions, [widths[0], *widths[:-1]], widths, strict=True)
        )
        #: the number of w's a synthesis takes: one a layer, and one for the last toRGB
        self.num_ws = sum(len(b.layers) for b in self.blocks) + 1
        self.register_buffer("w_avg", torch.zeros(z_dim))

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping_net(z.flatten(1))

    @torch.no_grad()
    def track_w_avg(self, w: torch.Tensor) -> None:
        """Move the tracked average w towards this batch's mean (decay `w_avg_beta` a call)."""
        self.w_avg.copy_(w.detach().mean(0).float().lerp(self.w_avg, self.w_avg_beta))

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """The truncation trick: w moved towards the average w, w_avg + psi (w - w_avg); psi = 1
        returns w itself, psi = 0 the average for every w."""
        return w if psi == 1 else self.w_avg.to(w.dtype).lerp(w, psi)

    def styles(self, w: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """One (truncated) w for each of the `num_ws` layers: N x num_ws x w_dim."""
        return self.truncate(w, psi)[:, None].expand(-1, self.num_ws, -1)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """The shape of each layer's noise map for one sample (1 x res x res), in layer order."""
        return [(1, layer.res, layer.res) for b in self.blocks for layer in b.layers]

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Images of N x num_ws x w_dim styles, cropped to the image size; `noise`: a N x 1 x r x r
        map for each layer (training), or None for the fixed noise (sampling)."""
        if ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(
                f"styles of shape {tuple(ws.shape)}, expected (N, {self.num_ws}, {self.w_dim})"
            )
        x = image = None
        at = 0
        for block in self.blocks:
            n = len(block.layers)
            maps = None if noise is None else noise[at : at + n]
            x, image = block(x, image, ws[:, at : at + n + 1], maps)
            at += n
        return self._crop(image)

    def _crop(self, image: torch.Tensor) -> torch.Tensor:
        cut, r = (self.size - self.resolution) // 2, self.resolution
        return image[..., cut : cut + r, cut : cut + r]

    def forward(
        self, z: torch.Tensor, y: torch.Tensor | None = None, truncation: float = 1.0
    ) -> torch.Tensor:
        if y is not None:
            raise ValueError("StyleGenerator is unconditional: it takes no labels")
        return self.synthesis(self.styles(self.mapping(z), truncation))


class StyleDBlock(nn.Module):
    """The ResNet D's block: two 3 x 3 convolutions, the second followed by downsampling, beside a
    downsampled 1 x 1 shortcut; the sum scaled by sqrt(1/2) to keep its variance."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3)
        self.conv1 = EqualConv2d(c_in, c_out, 3)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)
        return (self.skip(F.avg_pool2d(x, 2)) + h) * math.sqrt(0.5)


class StyleDiscriminator(nn.Module):
    """StyleGAN2's ResNet D: fromRGB at P, blocks down to 4 x 4, then the minibatch standard
    deviation channel (group size `minibatch_std`; 0 leaves it out), a 3 x 3 convolution and two
    fully connected layers to one logit."""

    def __init__(
        self,
        width: int,
        resolution: int,
        channels: int,
        minibatch_std: int = 4,
        channel_max: int = 512,
    ):
        super().__init__()
        self.resolution, self.size = resolution, built_size(resolution)
        resolutions = [1 << k for k in range(self.size.bit_length() - 1, 1, -1)]  # P, ..., 4
        widths = [channels_at(r, self.size, width, channel_max) for r in resolutions]
        self.from_rgb = EqualConv2d(channels, widths[0], 1)
        self.blocks = nn.ModuleList(StyleDBlock(a, b) for a, b in pairwise(widths))
        c = widths[-1]
        self.mbstd = MinibatchStd(minibatch_std) if minibatch_std else None
        self.conv = EqualConv2d(c + (1 if minibatch_std else 0), c, 3)
        self.fc = EqualLinear(c * 16, c)
        self.out = EqualLinear(c, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is not None:
            raise ValueError("StyleDiscriminator is unconditional: it takes no labels")
        pad = self.size - self.resolution
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        h = lrelu(self.from_rgb(x))
        for block in self.blocks:
            h = block(h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = lrelu(self.conv(h))
        return self.out(lrelu(self.fc(h.flatten(1)))).flatten()
