"""Adversarial objectives as pure functions of D's logits.

D outputs logits; the sigmoid of the seed papers lives here, folded into log-sigmoid terms
(`softplus(-l) = -log sigmoid(l)`), which is the same objective without the overflow of
`log(sigmoid(l))` once D is confident.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))]: D's side of the minimax game (Goodfellow et al. 2014, eq. 1)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))): G's side of eq. 1 as written; its gradient vanishes when D wins."""
    return -F.softplus(fake_logits).mean()


def g_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the paper's suggested fix, same fixed point, strong gradients early on."""
    return F.softplus(-fake_logits).mean()


G_LOSSES = {"minimax": g_loss_minimax, "non-saturating": g_loss_non_saturating}
D_LOSSES = {"minimax": d_loss_bce, "non-saturating": d_loss_bce}
