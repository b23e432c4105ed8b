"""Adversarial objectives and penalties as pure functions of D's raw outputs.

D outputs raw numbers (logits, critic values, margins; see `OUTPUT_KIND`). Where a loss has a
sigmoid (the seed papers, RaGAN), it lives here, folded into log-sigmoid terms
(`softplus(-l) = -log sigmoid(l)`), which is the same objective without the overflow of
`log(sigmoid(l))` once D is confident.

Every D loss is `d(real, fake)`, every G loss `g(fake, real=None)`: `real` is D's output on a real
batch, needed only by the losses in `G_NEEDS_REAL`. Penalties take `d_fn` (x -> D's outputs, so the
caller can bind labels) and return the unweighted scalar; the caller applies the weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .compiling import outside_compiled_code
from .shard import ONE_PROCESS, Shard, rank_draw

Tensor = torch.Tensor


def d_loss_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-[log D(x) + log(1 - D(G(z)))]: D's side of the minimax game
    (Goodfellow et al. 2014, eq. 1)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """log(1 - D(G(z))): G's side of eq. 1 as written; its gradient vanishes when D wins."""
    return -F.softplus(fake_logits).mean()


def g_loss_non_saturating(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-log D(G(z)): the paper's suggested fix, same fixed point, strong gradients early on."""
    return F.softplus(-fake_logits).mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """E[D(G(z))] - E[D(x)]: the critic's side of the Kantorovich-Rubinstein dual (Arjovsky et al.
    2017); a W1 estimate only while D is kept Lipschitz (clipping or a gradient penalty)."""
    return fake.mean() - real.mean()


def g_loss_critic(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """-E[D(G(z))]: G's loss for both WGAN (Arjovsky et al. 2017) and the hinge GAN (Lim & Ye 2017;
    Miyato et al. 2018): raise the critic's score of samples, without saturation."""
    return -fake.mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]: the SVM margin loss (Lim & Ye 2017; Miyato et al.
    2018); samples beyond the margin stop pulling on D."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def d_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]: LSGAN with a=0, b=1 (Mao et al. 2017); the
    squared error keeps penalizing samples far from the boundary even on the right side."""
    return 0.5 * (real - 1).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_loss_lsgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """1/2 E[(D(G(z))-1)^2]: LSGAN's G with c=1 (Mao et al. 2017)."""
    return 0.5 * (fake - 1).pow(2).mean()


def d_loss_relativistic(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RaSGAN (Jolicoeur-Martineau 2018): D judges whether real data is more real than fake on
    average: -E[log sig(C(x) - E C(G(z)))] - E[log(1 - sig(C(G(z)) - E C(x)))]."""
    return (
        F.softplus(-(real_logits - fake_logits.mean())).mean()
        + F.softplus(fake_logits - real_logits.mean()).mean()
    )


def g_loss_relativistic(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """RaSGAN's G: D's loss with real and fake swapped, so G also lowers how real the real data
    looks (Jolicoeur-Martineau 2018). Needs D(real) from the G step, hence `G_NEEDS_REAL`."""
    if real_logits is None:
        raise ValueError("the relativistic G loss needs D's logits on a real batch")
    return d_loss_relativistic(fake_logits, real_logits)


def d_loss_pairing(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RpGAN (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): each fake is judged against one
    real of the batch, E[softplus(C(G(z_i)) - C(x_i))]. Pairing instead of averaging gives every
    fake its own comparison, which R3GAN shows removes the mode-dropping local optima of the
    plain loss."""
    return F.softplus(fake_logits - real_logits).mean()


def g_loss_pairing(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """RpGAN's G: E[softplus(C(x_i) - C(G(z_i)))], D's loss with the pair's roles swapped."""
    if real_logits is None:
        raise ValueError("the relativistic pairing G loss needs D's logits on a real batch")
    return d_loss_pairing(fake_logits, real_logits)


G_LOSSES = {
    "non-saturating": g_loss_non_saturating,
    "minimax": g_loss_minimax,
    "wasserstein": g_loss_critic,
    "hinge": g_loss_critic,
    "lsgan": g_loss_lsgan,
    "relativistic": g_loss_relativistic,
    "rpgan": g_loss_pairing,
}
D_LOSSES = {
    "minimax": d_loss_bce,
    "non-saturating": d_loss_bce,
    "wasserstein": d_loss_wasserstein,
    "hinge": d_loss_hinge,
    "lsgan": d_loss_lsgan,
    "relativistic": d_loss_relativistic,
    "rpgan": d_loss_pairing,
}
KINDS = tuple(G_LOSSES)
"""The loss names (`loss.kind`), in the order an error lists them."""
G_NEEDS_REAL = frozenset({"relativistic", "rpgan"})
"""G losses whose second argument must be D(real) (the others accept None)."""

OUTPUT_KIND = {
    "minimax": "logit",
    "non-saturating": "logit",
    "relativistic": "relative-logit",
    "rpgan": "relative-logit",
    "lsgan": "score",
    "wasserstein": "critic",
    "hinge": "margin",
}
"""What D's raw output means under each loss, and what equilibrium looks like in it.

- logit: sigmoid(D) is a probability of "real"; at the equilibrium of Goodfellow et al. 2014
  sigmoid(D) = 0.5 on both real and fake, and D's accuracy by sign is near 50%.
- relative-logit (RaGAN, RpGAN): the losses see only differences of C on real and fake (C(x) -
  E C(G(z)) and C(G(z)) - E C(x); RpGAN's pairs C(x_i) - C(G(z_i))), so C's offset drifts
  freely; the relativistic probabilities sigmoid of those differences go to 0.5 instead.
- score (LSGAN, targets 0 fake / 1 real): outputs near 0.5 on both, i.e. D cannot separate them;
  read as a value, not through a sigmoid; accuracy is by the 0.5 threshold.
- critic (WGAN): no probability. The gap E[D(x)] - E[D(G(z))] estimates the W1 distance (up to
  the Lipschitz constant); it shrinking toward 0 is healthy. Sign and scale of single outputs mean
  nothing (a constant shift leaves every loss unchanged), so no accuracy or sigmoid.
- margin (hinge): a signed margin with targets +1 real / -1 fake; D's accuracy is by sign (real > 0,
  fake < 0), near 50% at equilibrium; outputs beyond +-1 no longer move D.
"""


@outside_compiled_code
def _input_grad(d_fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d sum(D(x)) / dx as an (N, features) tensor, with its graph, so a penalty on it trains D.

    x is detached first: a penalty regularizes D at sample points, it never trains G. The sum gives
    per-sample gradients only when D treats samples independently (not with minibatch-std).
    Kept out of compiled code, whose AOTAutograd cannot differentiate twice: under
    train.compile=step the penalty's D pass runs eagerly.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d_fn(x).sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(
    d_fn: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    rng: torch.Generator,
    target: float = 1.0,
    shard: Shard = ONE_PROCESS,
) -> Tensor:
    """E[(||grad D(x_hat)||_2 - target)^2] at x_hat = eps x + (1-eps) G(z), eps ~ U[0, 1] a sample:
    WGAN-GP's soft 1-Lipschitz constraint along lines between the distributions (Gulrajani et al.
    2017, eq. 3). eps comes from `rng` on the CPU, so a seed gives the same points on every device;
    under torchrun (`shard`) each rank keeps its slice of the global batch's eps."""
    eps = rank_draw(shard, len(real), lambda m: torch.rand(m, generator=rng))
    eps = eps.to(real.device, real.dtype, non_blocking=True)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_input_grad(d_fn, x_hat).norm(dim=1) - target).pow(2).mean()


def drift_penalty(real: Tensor) -> Tensor:
    """E[D(x)^2] on real data: ProGAN's drift term (Karras et al. 2018, appendix A.1), which keeps
    a Wasserstein critic's values from drifting far from 0; the caller weighs it (0.001)."""
    return real.pow(2).mean()


def r1_penalty(d_fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """E[||grad D(x)||^2], zero-centred: on real data R1 (Mescheder et al. 2018), which makes the
    GAN locally convergent; on generated data R2, which R3GAN (Huang et al. 2024) adds so that D
    stays smooth where G's samples are too. The caller applies gamma/2 and the lazy interval
    (Karras et al. 2020)."""
    return _input_grad(d_fn, x).pow(2).sum(dim=1).mean()


def clip_weights_(module: nn.Module, clip: float) -> None:
    """Clamp every parameter to [-clip, clip] in place: WGAN's crude Lipschitz bound
    (Arjovsky et al. 2017, Algorithm 1), applied after each critic step."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip, clip)
