"""Building blocks of the SNGAN/SAGAN family: self-attention, class-conditional batch norm and
spectral normalization. Pure tensors in and out; nothing here knows about training."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): every position attends to every other, so G and D
    can relate distant parts of an image that convolutions only see through many layers.
    gamma starts at 0, so the layer begins as the identity and the net learns how much to use it."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.f = nn.Conv2d(channels, inner, 1)     # queries
        self.g = nn.Conv2d(channels, inner, 1)     # keys
        self.h = nn.Conv2d(channels, channels, 1)  # values
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (m(x).flatten(2) for m in (self.f, self.g, self.h))  # (N, C', HW), (N, C', HW), (N, C, HW)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)             # (N, HW query, HW key), unscaled as in SAGAN
        o = v @ attn.transpose(1, 2)                                    # o_j = sum_i attn[j, i] v_i
        return self.gamma * o.view_as(x) + x


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017; Miyato &
    Koyama 2018): the cheap way to tell every layer of a conditional G which class it draws.
    Gains start at 1 and biases at 0, so it begins as plain batch norm."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


_SN_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) of every conv, linear and embedding weight in
    `module`, in place: each weight is divided by its largest singular value (one power iteration a
    training forward pass), which keeps D 1-Lipschitz per layer and its gradients informative.

    Weights already wrapped are left alone. The gains and biases of ConditionalBatchNorm2d are
    skipped: they are per-class scales, not linear maps, and normalizing them would shrink gains
    of 1 to 1/sqrt(classes * features). The power-iteration vectors (u, v) are buffers, so they
    travel in state_dict() and an eval-mode net loads back to identical outputs."""
    skip = {id(m) for c in module.modules() if isinstance(c, ConditionalBatchNorm2d) for m in c.modules()}
    for m in list(module.modules()):
        if isinstance(m, _SN_TYPES) and id(m) not in skip and not parametrize.is_parametrized(m, "weight"):
            spectral_norm(m)
    return module
