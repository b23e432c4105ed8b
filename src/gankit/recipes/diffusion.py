"""The diffusion family recipe: DDPM training (Ho et al. 2020: predict the noise of x_t drawn in
closed form at a uniform random timestep, mean-squared error) on a small U-Net, sampled by
DDPM's ancestral sampler or DDIM with any number of steps (`gankit.schedulers`, separate from the
network), class-conditional with classifier-free guidance (Ho & Salimans 2022: labels dropped
with probability `diffusion.cond_drop` in training; eps = eps_u + g (eps_c - eps_u) at sampling).
`diffusion.min_snr` weighs each sample's error by min(SNR_t, gamma)/SNR_t (Hang et al. 2023).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nets import UNet
from ..schedulers import NoiseSchedule, make_sampler
from ..shard import ShardedRecipe, rank_draw
from .base import NetSpec, make_optimizer

if TYPE_CHECKING:
    from ..config import Config


@dataclass
class DiffusionConfig:
    """The diffusion recipe (recipe: diffusion); ignored by the others."""

    schedule: str = "linear"  # linear (DDPM: 1e-4..0.02) | cosine (Nichol & Dhariwal 2021)
    timesteps: int = 1000  # T, the noise levels of training (and of ddpm sampling)
    cond_drop: float = (
        0.1  # conditional: share of labels dropped in training (classifier-free guidance)
    )
    attention: bool = True  # self-attention at the U-Net's lowest resolution
    channel_mult: list[int] = field(
        default_factory=lambda: [1, 2, 2]
    )  # U-Net widths at H, H/2, H/4, x model.width
    sampler: str = "ddim"  # default sampler for grids, `gankit sample` and eval: ddpm | ddim
    sampling_steps: int = 50  # ddim steps (ddpm always runs all timesteps)
    eta: float = 0.0  # ddim: 0 deterministic, 1 DDPM-like noise
    spacing: str = (
        "trailing"  # ddim step spacing: trailing (starts at T-1) | leading | linspace | quadratic
    )
    guidance: float = 1.0  # classifier-free guidance scale (1: plain conditional, 0: unconditional)
    min_snr: float | None = (
        None  # loss weight min(SNR_t, gamma)/SNR_t (Hang et al. 2023, gamma 5); None: plain MSE
    )


PRESETS: dict[str, dict[str, Any]] = {
    # DDPM (Ho et al. 2020): epsilon prediction, linear schedule, T=1000, a U-Net of width 32 with
    # attention at 7x7; Adam 1e-3 (the paper's 2e-4 is for 800k steps, not CPU minutes), EMA 0.995.
    "ddpm": {
        "recipe": "diffusion",
        "model": {"arch": "unet", "width": 32},
        "diffusion": {"schedule": "linear", "timesteps": 1000},
        "optim": {"batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": 0.995, "ema_start": 200},
    },
    # Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2022): labels dropped
    # 10% of the time in training; sampled at guidance scale 2.
    "ddpm-cond": {
        "base": "ddpm",
        "model": {"conditional": True},
        "diffusion": {"cond_drop": 0.1, "guidance": 2.0},
    },
    # ddpm-cond sized for a few CPU minutes on MNIST 28x28 (ddpm-cond stays the GPU default); each
    # choice and its measurement is in docs/results/diffusion_cpu.md. Convolutions dominate a step,
    # so the U-Net is narrow where the image is large (widths 16/32/64 at 28/14/7): in minutes,
    # steps count more than width. Min-SNR-5 loss weighting (Hang et al. 2023) makes the easy
    # low-noise steps weigh less; guidance 5 reads as the asked digit more often than 2; 1,700
    # steps is about 5 CPU minutes.
    "ddpm-cond-small": {
        "base": "ddpm-cond",
        "model": {"width": 16},
        "diffusion": {"channel_mult": [1, 2, 4], "min_snr": 5.0, "guidance": 5.0},
        "train": {"steps": 1700},
    },
}


def check_diffusion_options(cfg: Config) -> None:
    """The U-Net's and the noise schedule's rules (samplers are checked again where built)."""
    d = cfg.diffusion
    if not 0.0 <= d.cond_drop < 1.0:
        raise ConfigError("diffusion.cond_drop must be in [0, 1)")
    if len(d.channel_mult) != 3 or min(d.channel_mult) < 1:
        raise ConfigError(
            "diffusion.channel_mult takes three positive multipliers (H, H/2, H/4), got "
            f"{d.channel_mult}"
        )
    if d.min_snr is not None and not d.min_snr > 0:
        raise ConfigError(
            f"diffusion.min_snr must be positive (Min-SNR-gamma: 5) or null, got {d.min_snr}"
        )
    if cfg.model.width % 2:
        raise ConfigError(
            f"model.width must be even for the U-Net (its time embedding is sines and cosines "
            f"of width / 2 frequencies), got {cfg.model.width}"
        )
    make_sampler(
        NoiseSchedule(d.schedule, d.timesteps),
        d.sampler,
        d.sampling_steps if d.sampler == "ddim" else None,
        d.eta if d.sampler == "ddim" else 0.0,
        d.spacing,
    )


class DiffusionRecipe(ShardedRecipe):
    """Under torchrun (`shard`) each rank takes its slice of every global draw of t and noise."""

    # what the registry (gankit.recipes.RECIPES) and gankit.config read
    archs = ("unet",)
    trains_on = "images"
    options: dict[str, type] = {"diffusion": DiffusionConfig}
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_diffusion_options(cfg)

    output_kind = "none"
    batches_per_step = 1
    ema_nets = ("unet",)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        if len(sample_shape) != 3 or sample_shape[1] % 4 or sample_shape[2] % 4:
            raise ConfigError(
                f"the diffusion recipe needs images with sides divisible by 4, got {sample_shape}"
            )
        if cfg.model.conditional and num_classes < 2:
            raise ConfigError(
                "model.conditional needs a data set with class labels (digits, mnist)"
            )
        d = cfg.diffusion
        self.cfg, self.sample_shape = cfg, sample_shape
        self.num_classes = num_classes if cfg.model.conditional else 0
        self.sampling_spec = NetSpec(
            "unet",
            UNet,
            {
                "channels": sample_shape[0],
                "width": cfg.model.width,
                "num_classes": self.num_classes,
                "attention": d.attention,
                "mult": list(d.channel_mult),
            },
            "the noise eps in x_t of the timestep t (epsilon prediction)"
            + (", given class labels y (num_classes: no label)" if self.num_classes else "")
            + ": a sampler of the schedule in `sampling` turns noise x_T ~ N(0, I) into images",
            sampling={
                "schedule": d.schedule,
                "timesteps": d.timesteps,
                "sampler": d.sampler,
                "sampling_steps": d.sampling_steps,
                "eta": d.eta,
                "spacing": d.spacing,
                "guidance": d.guidance,
            },
        )
        self.nets: dict[str, nn.Module] = {"unet": self.sampling_spec.build()}
        o = cfg.optim
        self.optimizers = {"unet": make_optimizer(self.nets["unet"].parameters(), o.lr_g, cfg)}
        self.schedule = NoiseSchedule(d.schedule, d.timesteps)
        ddim = d.sampler == "ddim"
        self.set_sampler(
            d.sampler,
            d.sampling_steps if ddim else None,
            d.eta if ddim else 0.0,
            d.guidance,
            d.spacing,
        )

    def set_sampler(
        self,
        sampler: str = "ddim",
        steps: int | None = None,
        eta: float = 0.0,
        guidance: float | None = None,
        spacing: str | None = None,
    ) -> None:
        """Choose how `generate` samples (the weights do not care): ddpm, or ddim with `steps`."""
        if (
            guidance is not None
            and guidance != self.cfg.diffusion.guidance
            and not self.num_classes
        ):
            raise ConfigError(
                "--guidance needs a class-conditional diffusion model (e.g. --preset ddpm-cond)"
            )
        if guidance is not None and guidance < 0:
            raise ConfigError(f"the guidance scale must be at least 0, got {guidance}")
        self.sampler = make_sampler(
            self.schedule, sampler, steps, eta, spacing or self.cfg.diffusion.spacing
        )
        self.sampler_name = sampler
        self.guidance = self.cfg.diffusion.guidance if guidance is None else guidance

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, x, y, rng, want_stats, step=0):
        unet, opt = self.nets["unet"], self.optimizers["unet"]
        n = len(x)
        t = rank_draw(self.shard, n, lambda m: self.schedule.sample_timesteps(m, rng)).to(x.device)
        noise = rank_draw(self.shard, n, lambda m: torch.randn(m, *x.shape[1:], generator=rng)).to(
            x.device
        )
        x_t = self.schedule.add_noise(x, noise, t)
        cond = None
        if self.num_classes:
            drop = (
                rank_draw(self.shard, n, lambda m: torch.rand(m, generator=rng)).to(x.device)
                < self.cfg.diffusion.cond_drop
            )
            cond = torch.where(drop, torch.full_like(y, self.num_classes), y)
        gamma = self.cfg.diffusion.min_snr
        if gamma is None:
            loss = F.mse_loss(unet(x_t, t, cond), noise)
        else:  # Min-SNR-gamma, eps-prediction form: the easy low-noise timesteps weigh less
            snr = self.schedule.snr(t).to(x.dtype)
            per_sample = F.mse_loss(unet(x_t, t, cond), noise, reduction="none").flatten(1).mean(1)
            loss = (per_sample * snr.clamp(max=gamma) / snr).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    # ---- sampling ----------------------------------------------------------------------------
    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """x_T, pure noise; the sampler's later noise is drawn from a stream seeded by x_T."""
        return torch.randn(n, *self.sample_shape, generator=rng)

    def labels(self, n: int) -> torch.Tensor | None:
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def eps_model(self, unet: nn.Module, labels: torch.Tensor | None):
        """The noise predictor the sampler calls, with classifier-free guidance folded in."""
        if not self.num_classes:
            return lambda x, t: unet(x, t)
        g = self.guidance
        null = torch.full_like(labels, self.num_classes)
        if g == 1.0:
            return lambda x, t: unet(x, t, labels)
        if g == 0.0:
            return lambda x, t: unet(x, t, null)

        def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            eps_c, eps_u = unet(
                torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])
            ).chunk(2)
            return eps_u + g * (eps_c - eps_u)

        return guided

    @torch.no_grad()
    def generate(self, latents, labels=None, nets=None):
        unet = (nets or self.nets)["unet"]
        if self.num_classes:
            labels = (self.labels(len(latents)) if labels is None else labels).to(latents.device)
        # a deterministic stream per batch of x_T: the same latents give the same samples
        seed = int(
            latents.detach().flatten()[:4096].double().mul(1e6).round().abs().sum().item()
        ) % (2**62)
        rng = torch.Generator().manual_seed(seed)
        return self.sampler.sample(self.eps_model(unet, labels), latents, rng).clamp(-1, 1)
