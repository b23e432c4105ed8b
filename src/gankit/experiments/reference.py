"""The PyTorch-examples DCGAN (examples/dcgan/main.py) as a user would adapt it to their image
size: what `gankit bench mnist|fashion-mnist|cifar10|folder` races gankit's presets against.

G: a transposed convolution from z to a 4x4 (7x7 for 28 px) map, then stride-2 transposed
convolutions with batch norm and ReLU up to the image, Tanh. D mirrors it: stride-2 convolutions
with LeakyReLU 0.2 and batch norm (none on the first), a last convolution to one logit (the
Sigmoid and `nn.BCELoss` are `speed.ReferenceGAN`'s). Weights drawn as the example's
`weights_init`: N(0, 0.02) for convolutions, N(1, 0.02) for batch-norm scales.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..errors import ConfigError

Z_DIM = 100
LR, BETAS, BATCH = 2e-4, (0.5, 0.999), 64


def plan(resolution: int) -> tuple[int, int]:
    """(first map size, stride-2 layers): 28 = 7 x 2^2, 32 = 4 x 2^3, 64 = 4 x 2^4."""
    for base in (4, 7):
        k = 0
        while base * 2**k < resolution:
            k += 1
        if base * 2**k == resolution and k >= 2:
            return base, k
    raise ConfigError(
        f"the reference DCGAN builds 4 or 7 px times a power of two (28, 32, 64, ...), "
        f"not {resolution} px"
    )


def default_width(resolution: int) -> int:
    """The issue's reference: width 32 on 28 px digits, the example's 64 on larger images."""
    return 32 if resolution <= 28 else 64


def example_generator(channels: int, resolution: int, width: int, z_dim: int = Z_DIM) -> nn.Module:
    base, k = plan(resolution)
    c = width * 2 ** (k - 1)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (z_dim, 1, 1)),
        nn.ConvTranspose2d(z_dim, c, base, 1, 0, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(True),
    ]
    for _ in range(k - 1):
        layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2)]
        layers.append(nn.ReLU(True))
        c //= 2
    layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return _initialised(nn.Sequential(*layers))


def example_discriminator(channels: int, resolution: int, width: int) -> nn.Module:
    base, k = plan(resolution)
    c = width
    layers: list[nn.Module] = [
        nn.Conv2d(channels, c, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    for _ in range(k - 1):
        layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c)]
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        c *= 2
    layers += [nn.Conv2d(c, 1, base, 1, 0, bias=False), nn.Flatten()]
    return _initialised(nn.Sequential(*layers))


def _initialised(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


class PerItemImages(torch.utils.data.Dataset):
    """What an `ImageFolder`/`CIFAR10` with `Compose([ToTensor(), Normalize(0.5, 0.5)])` does
    for each item, on uint8 N x C x H x W images already in memory."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float().div(255.0).sub(0.5).div(0.5), 0


def reference_loop(images: torch.Tensor, seed: int, device: torch.device, width: int | None = None):
    """(the example's training step as `speed.ReferenceGAN`, `run(n_steps)`) on uint8 images:
    nets drawn from `seed`, a shuffling DataLoader of batch 64, Adam 2e-4 / (0.5, 0.999)."""
    from .speed import ReferenceGAN

    channels, resolution = images.shape[1], images.shape[-1]
    width = width or default_width(resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = example_generator(channels, resolution, width)
        D = example_discriminator(channels, resolution, width)
    ref = ReferenceGAN(G, D, Z_DIM, LR, BETAS, device)
    ref.noise = torch.Generator().manual_seed(seed + 1)
    loader = DataLoader(
        PerItemImages(images),
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    return ref, ref.runner(loader)


@torch.no_grad()
def reference_samples(G: nn.Module, latents: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Samples as the example draws its `fixed_noise` grid: G left in training mode (batch
    statistics of each batch of 64), on the CPU as floats."""
    return torch.cat([G(z.to(device)).float().cpu() for z in latents.split(BATCH)])
