"""Networks for tables (Xu et al. 2019): CTGAN's residual generator and packed critic, TVAE's
encoder and decoder. Raw outputs only; the recipe applies the per-span activations."""

from __future__ import annotations

import torch
from torch import nn

from ..shard import RankDropout


class Residual(nn.Module):
    """Linear, batch norm, ReLU, with the input concatenated to the output: each layer adds
    features and keeps the earlier ones (CTGAN's generator block)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class TableGenerator(nn.Module):
    """(noise, conditional vector) -> one raw score per entry of the row vector."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int):
        super().__init__()
        layers, dim = [], in_dim
        for h in hidden:
            layers.append(Residual(dim, h))
            dim += h
        self.body, self.out = nn.Sequential(*layers), nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class PackedCritic(nn.Module):
    """A Wasserstein critic of `pack` rows at once (PacGAN): the caller packs them into one input
    of pack x row_dim features. LeakyReLU 0.2 and dropout 0.5, as CTGAN's; no batch norm, which
    would break the per-sample gradient penalty."""

    def __init__(self, in_dim: int, hidden: list[int]):
        super().__init__()
        layers, dim = [], in_dim
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), RankDropout(0.5)]
            dim = h
        self.net = nn.Sequential(*layers, nn.Linear(dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def _mlp(in_dim: int, hidden: list[int]) -> tuple[nn.Sequential, int]:
    layers, dim = [], in_dim
    for h in hidden:
        layers += [nn.Linear(dim, h), nn.ReLU()]
        dim = h
    return nn.Sequential(*layers), dim


class TableEncoder(nn.Module):
    """Row (and conditional vector) -> mean and log-variance of the latent Gaussian."""

    def __init__(self, in_dim: int, hidden: list[int], z_dim: int):
        super().__init__()
        self.body, dim = _mlp(in_dim, hidden)
        self.mu, self.logvar = nn.Linear(dim, z_dim), nn.Linear(dim, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class TableDecoder(nn.Module):
    """Latent (and conditional vector) -> raw scores, plus a learned noise scale per entry (used
    by the tanh entries: the Gaussian likelihood of a mode offset)."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int):
        super().__init__()
        self.body, dim = _mlp(in_dim, hidden)
        self.out = nn.Linear(dim, out_dim)
        self.sigma = nn.Parameter(torch.full((out_dim,), 0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))
