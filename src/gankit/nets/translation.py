"""The networks of image-to-image translation (Isola et al. 2017, pix2pix): a U-Net generator whose
decoder reads the encoder's map of the same size (skip connections), and a PatchGAN
discriminator that judges overlapping patches of an (input, output) pair; and CycleGAN's (Zhu et
al. 2017): ResNet-block generators and unconditional PatchGANs, one of each per domain.

Both use instance norm (no running statistics: a translation is the same in training and in
use, one image or a batch) and 4x4 convolutions of stride 2, as in the paper's code.
"""

from __future__ import annotations

import torch
from torch import nn

from ..shard import RankDropout

#: the deepest U-Net: 8 halvings take 256 px to 1 px, as the paper's unet_256
MAX_DEPTH = 8
#: dropout sits in this many decoder blocks above the innermost (the paper's three)
DROPOUT_BLOCKS = 3


def unet_depth(resolution: int) -> int:
    """Halvings of the U-Net: down to 1 px (or to the first odd side), at most MAX_DEPTH."""
    depth, side = 0, resolution
    while side % 2 == 0 and side > 1 and depth < MAX_DEPTH:
        side //= 2
        depth += 1
    return depth


def _widths(width: int, depth: int) -> list[int]:
    """Channels after each halving: width, 2x, 4x, then 8x width for the rest (the paper's)."""
    return [width * min(2**i, 8) for i in range(depth)]


class UNetGenerator(nn.Module):
    """x (in_channels) -> G(x) (out_channels, tanh), with a skip connection at every size.

    Encoder block i: LeakyReLU(0.2), conv 4x4 stride 2, instance norm (none on the first block's
    input side and on the innermost, whose map may be 1x1). Decoder block i: ReLU, transposed conv
    4x4 stride 2 on [its input, encoder map i] concatenated, instance norm, dropout in the
    DROPOUT_BLOCKS blocks above the innermost.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resolution: int,
        width: int = 64,
        dropout: float = 0.5,
    ):
        super().__init__()
        depth = unet_depth(resolution)
        if depth < 2:
            raise ValueError(f"the U-Net needs a side divisible by 4, got {resolution}")
        widths = _widths(width, depth)
        self.down = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(
                nn.Conv2d(in_channels if i == 0 else widths[i - 1], widths[i], 4, 2, 1, bias=False)
            )
            if 0 < i < depth - 1:
                layers.append(nn.InstanceNorm2d(widths[i], affine=True))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            inner = i == depth - 1
            outermost = i == 0
            fan_in = widths[i] if inner else 2 * widths[i]
            fan_out = out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.InstanceNorm2d(fan_out, affine=True))
                if 1 <= depth - 1 - i <= DROPOUT_BLOCKS and dropout > 0:
                    layers.append(RankDropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for block in self.up[1:]:
            x = block(torch.cat([x, skips.pop()], 1))
        return x


#: receptive field of a PatchGAN with n stride-2 layers: 16, 34, 70, 142, 286 for n = 1..5
def patch_layers(patch: int) -> int:
    """The number of stride-2 layers whose PatchGAN sees `patch` x `patch` pixels."""
    for n in range(1, 6):
        if receptive_field(n) == patch:
            return n
    raise ValueError(f"no PatchGAN sees {patch} px (choose from: {', '.join(PATCHES)})")


def receptive_field(layers: int) -> int:
    """Pixels seen by one output: two 4x4 stride-1 convolutions, then `layers` of stride 2."""
    field = 4 + 3
    for _ in range(layers):
        field = 2 * field + 2
    return field


PATCHES = tuple(str(receptive_field(n)) for n in range(1, 6))


def patch_output_side(resolution: int, patch: int) -> int:
    """The side of the PatchGAN's map of logits for square inputs of this side (0: too small)."""
    side = resolution
    for _ in range(patch_layers(patch)):
        side = (side + 2 - 4) // 2 + 1
    for _ in range(2):
        side = side + 2 - 4 + 1
    return max(side, 0)


class PatchDiscriminator(nn.Module):
    """D(x, y): a map of logits, one for each `patch`-pixel patch of the pair (x, y) concatenated
    along channels (D is conditioned on the input). Conv 4x4 stride 2 layers (width, 2x, 4x, 8x
    at most; instance norm after all but the first), then a stride-1 layer and a 1-channel
    stride-1 layer (the paper's n_layers PatchGAN)."""

    def __init__(self, in_channels: int, width: int = 64, patch: int = 70):
        super().__init__()
        n = patch_layers(patch)
        layers: list[nn.Module] = []
        fan_in = in_channels
        for i in range(n):
            fan_out = width * min(2**i, 8)
            layers.append(nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.InstanceNorm2d(fan_out, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            fan_in = fan_out
        fan_out = width * min(2**n, 8)
        layers += [
            nn.Conv2d(fan_in, fan_out, 4, 1, 1, bias=False),
            nn.InstanceNorm2d(fan_out, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(fan_out, 1, 4, 1, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the pair (x, y), or of x alone (CycleGAN's unconditional D)."""
        return self.net(x if y is None else torch.cat([x, y], 1))


class ResidualBlock(nn.Module):
    """x + two reflection-padded 3x3 convolutions with instance norm (ReLU between): the block
    that lets CycleGAN's G keep an image's layout and change its look."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


UPSAMPLERS = ("transpose", "resize")


def doubling_layers(fan_in: int, fan_out: int, upsample: str) -> list[nn.Module]:
    """The layers that double a map's side in CycleGAN's G decoder."""
    if upsample == "resize":
        return [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(fan_in, fan_out, 3, bias=False),
        ]
    return [nn.ConvTranspose2d(fan_in, fan_out, 3, 2, 1, output_padding=1, bias=False)]


class ResnetGenerator(nn.Module):
    """x -> G(x) (tanh) with Johnson et al.'s layout, as CycleGAN's G: a 7x7 convolution, two
    stride-2 halvings (widths 1, 2, 4 x `width`), `blocks` residual blocks at a quarter of the
    side, two doublings back, a 7x7 convolution out. Sides must divide by 4. `upsample`:
    "transpose" doubles with stride-2 transposed convolutions (the paper's); "resize" with a
    nearest-neighbour 2x and a 3x3 convolution, whose even overlap leaves no checkerboard
    (Odena et al. 2016)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        blocks: int = 9,
        upsample: str = "transpose",
    ):
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLERS)}, got {upsample!r}")
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, width, 7, bias=False),
            nn.InstanceNorm2d(width, affine=True),
            nn.ReLU(),
        ]
        for i in range(2):
            fan_in = width * 2**i
            layers += [
                nn.Conv2d(fan_in, 2 * fan_in, 3, 2, 1, bias=False),
                nn.InstanceNorm2d(2 * fan_in, affine=True),
                nn.ReLU(),
            ]
        layers += [ResidualBlock(4 * width) for _ in range(blocks)]
        for i in (2, 1):
            fan_in = width * 2**i
            layers += [
                *doubling_layers(fan_in, fan_in // 2, upsample),
                nn.InstanceNorm2d(fan_in // 2, affine=True),
                nn.ReLU(),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CycleGenerators(nn.Module):
    """CycleGAN's two generators as one network (trained by one optimizer, exported as one):
    `ab` turns domain A into B, `ba` B into A. Calling it translates A into B."""

    def __init__(
        self, channels: int, width: int = 64, blocks: int = 9, upsample: str = "transpose"
    ):
        super().__init__()
        self.ab = ResnetGenerator(channels, channels, width, blocks, upsample)
        self.ba = ResnetGenerator(channels, channels, width, blocks, upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ab(x)


class CycleDiscriminators(nn.Module):
    """CycleGAN's two unconditional PatchGANs: `a` judges images of domain A, `b` of domain B."""

    def __init__(self, channels: int, width: int = 64, patch: int = 70):
        super().__init__()
        self.a = PatchDiscriminator(channels, width, patch)
        self.b = PatchDiscriminator(channels, width, patch)
