"""The VAE's convolutional encoder and decoder (Kingma & Welling 2014, with DCGAN-style convs):
two stride-2 convolutions down to H/4, a linear layer to the posterior's mean and log-variance;
the decoder mirrors it. A conditional pair reads the one-hot label (as label planes next to the
image, next to z in the decoder). No training logic: the ELBO lives in `recipes/vae.py`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VAEEncoder(nn.Module):
    def __init__(self, channels: int, size: int, z_dim: int, width: int = 32, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.convs = nn.Sequential(
            nn.Conv2d(channels + num_classes, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        feat = 2 * width * (size // 4) ** 2
        self.hidden = nn.Sequential(nn.Linear(feat, 8 * width), nn.LeakyReLU(0.2))
        self.mean, self.logvar = nn.Linear(8 * width, z_dim), nn.Linear(8 * width, z_dim)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.num_classes:
            planes = (
                F.one_hot(y, self.num_classes)
                .to(x.dtype)[:, :, None, None]
                .expand(-1, -1, *x.shape[2:])
            )
            x = torch.cat([x, planes], 1)
        h = self.hidden(self.convs(x))
        return self.mean(h), self.logvar(h)


class VAEDecoder(nn.Module):
    """z (and label) to per-pixel likelihood parameters: Bernoulli logits, or Gaussian means."""

    def __init__(self, channels: int, size: int, z_dim: int, width: int = 32, num_classes: int = 0):
        super().__init__()
        self.num_classes, self.width, self.base = num_classes, width, size // 4
        self.fc = nn.Sequential(
            nn.Linear(z_dim + num_classes, 8 * width),
            nn.ReLU(),
            nn.Linear(8 * width, 2 * width * self.base**2),
            nn.ReLU(),
        )
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        h = self.fc(z).view(len(z), 2 * self.width, self.base, self.base)
        return self.deconvs(h)
