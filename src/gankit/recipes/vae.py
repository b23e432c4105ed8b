"""The VAE family recipe (Kingma & Welling 2014): a Gaussian posterior q(z|x) sampled with the
reparameterization trick, a Bernoulli or discretised-Gaussian likelihood p(x|z), the KL to the
standard normal prior weighted by beta (beta-VAE) and warmed up from 0 (Bowman et al. 2016);
conditional when encoder and decoder both read the label (Sohn et al. 2015).

Likelihoods and what their nats mean (MNIST pixels are 8-bit, 256 levels):
- bernoulli: the decoder gives one logit a pixel. Training uses the grey level in [0, 1] as the
  target (the common practice, not a normalised density of 8-bit data); the held-out ELBO is
  measured on pixels binarised at 0.5, so it is a bound on binarised MNIST (1 bit/dim at most).
- gaussian: the decoder gives the mean and one learned log-scale per channel; the likelihood is
  the Gaussian's mass on each pixel's 8-bit bin (width 2/255 in [-1, 1], the edge bins open), as
  in Ho et al. 2020's decoder, so nats are of the 8-bit data itself.
bits/dim = nats / (C*H*W * ln 2) in both cases.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DataConfig
from ..data import load_dataset, load_heldout
from ..errors import ConfigError
from ..nets import VAEDecoder, VAEEncoder
from ..shard import ShardedRecipe, rank_draw
from .base import NetSpec, make_optimizer

if TYPE_CHECKING:
    from ..config import Config


@dataclass
class VAEConfig:
    """The VAE recipe (recipe: vae); `beta` weighs the table VAE's KL term too (recipe: tvae)."""

    likelihood: str = "bernoulli"  # bernoulli (logits; held-out ELBO on pixels binarised at 0.5) |
    # gaussian (discretised to the 256 levels of 8-bit pixels)
    beta: float = 1.0  # weight of the KL term (beta-VAE; 1 is the ELBO)
    kl_warmup: int = 0  # steps over which the KL weight ramps linearly from 0 to beta


PRESETS: dict[str, dict[str, Any]] = {
    # VAE (Kingma & Welling 2014) with a conv encoder/decoder, 16-d Gaussian posterior, Bernoulli
    # likelihood, Adam 1e-3; KL warm-up over the first 500 steps (Bowman et al. 2016).
    "vae": {
        "recipe": "vae",
        "model": {"arch": "conv", "z_dim": 16, "width": 32},
        "vae": {"likelihood": "bernoulli", "beta": 1.0, "kl_warmup": 500},
        "optim": {"batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": None},
    },
    # Conditional VAE (Sohn et al. 2015): encoder and decoder both read the label.
    "cvae": {"base": "vae", "model": {"conditional": True}},
}


def check_kl_weight(cfg: Config) -> None:
    """A negative weight rewards a posterior far from the prior (the table VAE's rule too)."""
    if cfg.vae.beta < 0 or cfg.vae.kl_warmup < 0:
        raise ConfigError("vae.beta and vae.kl_warmup cannot be negative")


#: a latent dimension is active when its posterior mean varies across data by more than this
#: (Burda et al. 2016, "active units")
ACTIVE_UNIT_VARIANCE = 0.01


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """log P(x) per pixel for x on the 256-level grid of [-1, 1]: the Gaussian's mass on the pixel's
    bin, with the lowest and highest bins extended to -inf and +inf."""
    inv_std = torch.exp(-log_scale)
    normal = torch.distributions.Normal(0.0, 1.0)
    cdf_plus = normal.cdf(inv_std * (x - mean + 1 / 255))
    cdf_minus = normal.cdf(inv_std * (x - mean - 1 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1 - cdf_minus).clamp(min=1e-12))
    log_mid = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_mid)
    )


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per latent dimension, in nats."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)


class VAERecipe(ShardedRecipe):
    """Under torchrun (`shard`) each rank takes its slice of every global draw of noise."""

    # what the registry (gankit.recipes.RECIPES) and gankit.config read
    archs = ("conv",)
    trains_on = "images"
    options: dict[str, type] = {"vae": VAEConfig}
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_kl_weight(cfg)
        if cfg.vae.likelihood not in ("bernoulli", "gaussian"):
            raise ConfigError(
                f"unknown vae.likelihood '{cfg.vae.likelihood}' (choose from: bernoulli, gaussian)"
            )

    output_kind = "none"
    batches_per_step = 1
    ema_nets = ("decoder",)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2] or sample_shape[1] % 4:
            raise ConfigError(
                f"the vae recipe needs square images with a side divisible by 4, got {sample_shape}"
            )
        if cfg.model.conditional and num_classes < 2:
            raise ConfigError(
                "model.conditional needs a data set with class labels (digits, mnist)"
            )
        self.cfg, self.sample_shape = cfg, sample_shape
        self.z_dim = cfg.model.z_dim
        self.num_classes = num_classes if cfg.model.conditional else 0
        channels, size = sample_shape[0], sample_shape[1]
        w = cfg.model.width
        self.sampling_spec = NetSpec(
            "decoder",
            VAEDecoder,
            {
                "channels": channels,
                "size": size,
                "z_dim": self.z_dim,
                "width": w,
                "num_classes": self.num_classes,
            },
            (
                "Bernoulli logits of the pixels of latents z ~ N(0, I): images = "
                "sigmoid(out) * 2 - 1"
                if cfg.vae.likelihood == "bernoulli"
                else "means of the pixels in [-1, 1] of latents z ~ N(0, I): images = "
                "out.clamp(-1, 1)"
            )
            + (", given class labels y" if self.num_classes else ""),
            unused=("log_scale",),
        )
        self.nets: dict[str, nn.Module] = {
            "encoder": VAEEncoder(channels, size, self.z_dim, w, self.num_classes),
            "decoder": self.sampling_spec.build(),
        }
        # one learned log-scale per channel for the Gaussian likelihood (a parameter of p(x|z))
        self.nets["decoder"].register_parameter("log_scale", nn.Parameter(torch.zeros(channels)))
        o = cfg.optim
        params = itertools.chain(*(n.parameters() for n in self.nets.values()))
        self.optimizers = {"vae": make_optimizer(params, o.lr_g, cfg)}

    # ---- the bound ---------------------------------------------------------------------------
    def _condition(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return y if self.num_classes else None

    def reconstruction_nll(
        self, out: torch.Tensor, x: torch.Tensor, decoder: nn.Module, binarize: bool = False
    ) -> torch.Tensor:
        """-log p(x|z) per image in nats (x in [-1, 1])."""
        if self.cfg.vae.likelihood == "bernoulli":
            target = (x > 0).float() if binarize else (x + 1) / 2
            return (
                F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1)
            )
        log_scale = decoder.log_scale.view(1, -1, 1, 1)
        return -discretized_gaussian_log_likelihood(x, out, log_scale).flatten(1).sum(1)

    def bound_terms(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        rng: torch.Generator,
        nets: dict[str, nn.Module] | None = None,
        binarize: bool = False,
        shard: tuple[int, int] = (0, 1),
    ):
        """(reconstruction nats, KL per latent dim, posterior mean, reconstruction) of a batch;
        `shard`: this rank's slice of the global batch's posterior noise (training under
        torchrun)."""
        nets = nets or self.nets
        y = self._condition(y)
        mean, logvar = nets["encoder"](x, y)
        eps = rank_draw(shard, len(mean), lambda m: torch.randn(m, *mean.shape[1:], generator=rng))
        z = mean + (0.5 * logvar).exp() * eps.to(mean.device)
        out = nets["decoder"](z, y)
        return (
            self.reconstruction_nll(out, x, nets["decoder"], binarize),
            gaussian_kl(mean, logvar),
            mean,
            out,
        )

    def kl_weight(self, step: int) -> float:
        v = self.cfg.vae
        return v.beta * (min(1.0, (step + 1) / v.kl_warmup) if v.kl_warmup else 1.0)

    def train_step(self, x, y, rng, want_stats, step=0):
        recon, kl_dims, mean, _ = self.bound_terms(x, y, rng, shard=self.shard)
        kl = kl_dims.sum(1)
        loss = (recon + self.kl_weight(step) * kl).mean()
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stats = {"loss": loss.detach()}
        if want_stats:
            stats.update(
                {
                    "nelbo": (recon + kl).mean().detach(),
                    "recon": recon.mean().detach(),
                    "kl": kl.mean().detach(),
                    "active_units": (mean.detach().var(0) > ACTIVE_UNIT_VARIANCE).sum().float(),
                    "latent_dims": torch.tensor(float(self.z_dim)),
                }
            )
        return stats

    @torch.no_grad()
    def elbo(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        nets: dict[str, nn.Module] | None = None,
        seed: int = 0,
        batch_size: int = 500,
    ) -> dict[str, float]:
        """The negative ELBO (an upper bound on -log p(x)) per image on `x`, in nats and bits/dim,
        with one posterior sample per image drawn from `seed`; Bernoulli on binarised pixels."""
        rng = torch.Generator().manual_seed(seed)
        device = next(
            (nets or self.nets)["encoder"].parameters()
        ).device  # batches go where the weights are
        totals = torch.zeros(3, dtype=torch.float64)
        for i in range(0, len(x), batch_size):
            xb, yb = (
                x[i : i + batch_size].to(device),
                None if y is None else y[i : i + batch_size].to(device),
            )
            recon, kl_dims, _, _ = self.bound_terms(xb, yb, rng, nets, binarize=True)
            totals += (
                torch.stack(
                    [recon.sum(), kl_dims.sum(), torch.tensor(float(len(xb)), device=device)]
                )
                .double()
                .cpu()
            )
        recon, kl = float(totals[0] / totals[2]), float(totals[1] / totals[2])
        dims = math.prod(self.sample_shape)
        return {
            "nelbo_nats": recon + kl,
            "bits_per_dim": (recon + kl) / (dims * math.log(2)),
            "recon_nats": recon,
            "kl_nats": kl,
            "likelihood": (
                "bernoulli on pixels binarised at 0.5"
                if self.cfg.vae.likelihood == "bernoulli"
                else "gaussian discretised to 256 levels (8-bit)"
            ),
        }

    def heldout_elbo(
        self, data: DataConfig, nets: dict[str, nn.Module] | None = None, seed: int = 0
    ) -> dict[str, Any]:
        """`elbo` on the run's held-out samples (`data.holdout`), or on its training data (said
        so) when it held none out, with where it was measured and on how many samples."""
        held = load_heldout(data) if data.holdout else load_dataset(data)
        where = held.name if data.holdout else f"{held.name} (TRAINING data: the run held none out)"
        elbo = self.elbo(held.all(), held.y, nets, seed=seed)
        return {"elbo_data": where, "elbo_n": len(held), **elbo}

    # ---- sampling ----------------------------------------------------------------------------
    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=rng)

    def labels(self, n: int) -> torch.Tensor | None:
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def decode_mean(self, out: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean in [-1, 1] (what a VAE shows: not a pixel-wise sample)."""
        if self.cfg.vae.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        return out.clamp(-1, 1)

    def generate(self, latents, labels=None, nets=None):
        decoder = (nets or self.nets)["decoder"]
        if self.num_classes:
            labels = (self.labels(len(latents)) if labels is None else labels).to(latents.device)
        return self.decode_mean(decoder(latents, labels if self.num_classes else None))

    @torch.no_grad()
    def reconstruct(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        nets: dict[str, nn.Module] | None = None,
    ) -> torch.Tensor:
        """Decoder mean at the posterior mean: how much of x the code keeps."""
        nets = nets or self.nets
        y = self._condition(y)
        mean, _ = nets["encoder"](x, y)
        return self.decode_mean(nets["decoder"](mean, y))
