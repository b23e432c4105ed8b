"""Building blocks of the SNGAN/SAGAN family: self-attention, class-conditional batch norm and
spectral normalization. Pure tensors in and out; nothing here knows about training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): every position attends to every other, so G and D
    can relate distant parts of an image that convolutions only see through many layers.
    gamma starts at 0, so the layer begins as the identity and the net learns how much to use it."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.f = nn.Conv2d(channels, inner, 1)  # queries
        self.g = nn.Conv2d(channels, inner, 1)  # keys
        self.h = nn.Conv2d(channels, channels, 1)  # values
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C', HW), (N, C', HW), (N, C, HW)
        q, k, v = (m(x).flatten(2) for m in (self.f, self.g, self.h))
        # (N, HW query, HW key), unscaled as in SAGAN
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)
        o = v @ attn.transpose(1, 2)  # o_j = sum_i attn[j, i] v_i
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


class SpectralNorm(nn.Module):
    """The parametrization W / sigma(W), sigma estimated by one power iteration per training call:
    the same numbers, random draws and state_dict keys (`_u`, `_v`) as
    `torch.nn.utils.parametrizations.spectral_norm`. The difference: a training call replaces the
    vectors with new tensors where PyTorch's overwrites them. Under torch.compile, TorchInductor
    saves the `_u` buffer itself for the backward, and the net's next call (D judges the real, then
    the fake batch) would change it in place, which the backward refuses. (Replacing also means that
    `nn.DataParallel` replicas, which gankit does not use, would not pass their updates back.)"""

    def __init__(
        self, weight: torch.Tensor, dim: int = 0, n_power_iterations: int = 1, eps: float = 1e-12
    ):
        super().__init__()
        self.dim, self.n_power_iterations, self.eps = dim, n_power_iterations, eps
        weight_mat = self._matrix(weight).detach()
        h, w = weight_mat.shape
        u = F.normalize(weight_mat.new_empty(h).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight_mat.new_empty(w).normal_(0, 1), dim=0, eps=eps)
        u, v = self._power_iteration(weight_mat, u, v, 15)
        self.register_buffer("_u", u)
        self.register_buffer("_v", v)

    def _matrix(self, weight: torch.Tensor) -> torch.Tensor:
        """The weight as rows x columns, rows along `dim` (output
        features; ConvTranspose: dim 1)."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    @torch.no_grad()
    def _power_iteration(
        self, weight_mat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, iterations: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(iterations):
            u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=self.eps)
            v = F.normalize(torch.mv(weight_mat.H, u), dim=0, eps=self.eps)
        return u, v

    def _vectors(self, weight_mat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """u and v for this call; in training, after one power iteration, whose results replace the
        buffers rather than overwrite them, so no earlier call's saved tensors change."""
        if not self.training:  # copies: a later load_state_dict writes into the buffers
            return self._u.clone(), self._v.clone()
        self._u, self._v = self._power_iteration(
            weight_mat, self._u, self._v, self.n_power_iterations
        )
        return self._u, self._v

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        weight_mat = self._matrix(weight)
        u, v = self._vectors(weight_mat.detach())
        return weight / torch.vdot(u, torch.mv(weight_mat, v))

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value  # the stored weight is the unnormalized one


def spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization of `module.weight` (rows: dim 1 of a transposed convolution's)."""
    dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight, dim))
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) of every conv, linear and embedding weight in
    `module`, in place: each weight is divided by its largest singular value (one power iteration a
    training forward pass), which keeps D 1-Lipschitz per layer and its gradients informative.

    Weights already wrapped are left alone. The gains and biases of ConditionalBatchNorm2d are
    skipped: they are per-class scales, not linear maps, and normalizing them would shrink gains
    of 1 to 1/sqrt(classes * features). The power-iteration vectors (u, v) are buffers, so they
    travel in state_dict() and an eval-mode net loads back to identical outputs."""
    skip = {
        id(m)
        for c in module.modules()
        if isinstance(c, ConditionalBatchNorm2d)
        for m in c.modules()
    }
    for m in list(module.modules()):
        if (
            isinstance(m, _SN_TYPES)
            and id(m) not in skip
            and not parametrize.is_parametrized(m, "weight")
        ):
            spectral_norm(m)
    return module
