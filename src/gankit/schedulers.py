"""Noise schedules and samplers for diffusion, as objects separate from the network (as diffusers
separates schedulers from models): the U-Net predicts noise, these decide what to do with it.

- `NoiseSchedule`: the forward process q(x_t | x_0) of Ho et al. 2020 with a linear beta schedule
  (1e-4 to 0.02 over T steps, the DDPM paper's) or the cosine one of Nichol & Dhariwal 2021.
- `DDPMSampler`: ancestral sampling through all T steps with the posterior variance beta~_t.
- `DDIMSampler`: Song et al. 2021, any number of steps, `eta` from 0 (deterministic) to 1 (with
  all T steps it is exactly DDPM's ancestral sampler with beta~_t: the same update, term by term).

Timesteps are 0-based (t = 0 .. T-1); alpha_bar of "step -1" is 1 (clean data).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .errors import ConfigError

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
SPACINGS = ("trailing", "leading", "linspace", "quadratic")

#: eps_model(x_t, t) -> predicted noise, t a long tensor of timesteps (one per sample)
EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NoiseSchedule:
    def __init__(self, kind: str = "linear", timesteps: int = 1000):
        if kind not in SCHEDULES:
            raise ConfigError(
                f"unknown diffusion schedule '{kind}' (choose from: {', '.join(SCHEDULES)})"
            )
        if timesteps < 2:
            raise ConfigError("diffusion.timesteps must be at least 2")
        self.kind, self.timesteps = kind, timesteps
        # its last beta, 0.02 x 1000 / T, reaches 1: x_T is all noise at once
        if kind == "linear" and timesteps <= 20:
            raise ConfigError(
                f"the linear schedule needs diffusion.timesteps above 20, got {timesteps} "
                "(or diffusion.schedule=cosine for fewer)"
            )
        # the DDPM paper's endpoints at T=1000, scaled so other T keep the same path
        if kind == "linear":
            scale = 1000 / timesteps
            betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
        else:  # Nichol & Dhariwal 2021, eq. 17, s = 0.008, betas clipped at 0.999
            s = 0.008
            f = (
                torch.cos(
                    (torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + s)
                    / (1 + s)
                    * math.pi
                    / 2
                )
                ** 2
            )
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t for 0-based t; t = -1 gives 1 (x_0 itself)."""
        ab = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])
        return ab[t.long().cpu() + 1].to(t.device)  # the table stays on the CPU; t may be on a GPU

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """The signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) of x_t."""
        ab = self.alpha_bar(t)
        return ab / (1 - ab)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) in closed form: sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
        ab = self.alpha_bar(t).to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def sample_timesteps(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randint(self.timesteps, (n,), generator=rng)


def spaced_timesteps(timesteps: int, steps: int, spacing: str = "trailing") -> list[int]:
    """The `steps` timesteps a shortened sampler visits, descending.
    - `trailing` (Lin et al. 2024, Table 2) starts at T-1, so the first step sees pure noise:
      round(T - i*T/S) - 1;
    - `leading` (the DDIM paper's uniform choice) is i*(T//S) for i < S, starting below T-1;
    - `linspace` runs from T-1 down to 0 evenly (diffusers' name for it);
    - `quadratic` (the DDIM paper's choice for CIFAR-10) is floor((i * sqrt(0.8 T)/(S-1))^2): dense
      near the data, sparse near the noise; it never visits t > 0.8 T, so it starts from x_T
      treated as x_{0.8T}, as the paper does. A repeated timestep is a no-op step."""
    if spacing not in SPACINGS:
        raise ConfigError(f"unknown step spacing '{spacing}' (choose from: {', '.join(SPACINGS)})")
    if not 1 <= steps <= timesteps:
        raise ConfigError(
            f"sampling steps must be between 1 and the model's {timesteps} timesteps, got {steps}"
        )
    if spacing == "trailing":
        ts = [int(round(timesteps - i * timesteps / steps)) - 1 for i in range(steps)]
    elif spacing == "leading":
        ts = [i * (timesteps // steps) for i in range(steps)][::-1]
    elif spacing == "linspace":
        ts = [
            int(round(v))
            for v in torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).tolist()
        ]
    else:
        top = math.sqrt(0.8 * timesteps)
        ts = [int((i * top / max(steps - 1, 1)) ** 2) for i in range(steps)][::-1]
    return ts


def predict(
    eps_model: EpsModel, x_t: torch.Tensor, t: int, ab: float, clip: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's noise estimate at step `t` and the clean image it implies, x0^ = (x_t -
    sqrt(1 - ab) eps^) / sqrt(ab), clipped to [-1, 1] with `clip`: both samplers start from them."""
    eps = eps_model(x_t, torch.full((len(x_t),), t, dtype=torch.long, device=x_t.device)).float()
    x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    return eps, x0.clamp(-1, 1) if clip else x0


class DDIMSampler:
    """x_{t'} = sqrt(ab') x0^ + sqrt(1 - ab' - sigma^2) eps^ + sigma z (Song et al. 2021, eq. 12),
    sigma = eta sqrt((1 - ab')/(1 - ab)) sqrt(1 - ab/ab'). x0^ is clipped to [-1, 1] and eps^
    re-derived from it, so eta=1 over all T steps is DDPM's posterior step exactly."""

    #: called after each denoising step (a progress bar's update), when set
    on_step: Callable[[], None] | None = None

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int = 50,
        eta: float = 0.0,
        spacing: str = "trailing",
        clip: bool = True,
    ):
        if eta < 0:
            raise ConfigError(
                f"eta must be at least 0 (0: deterministic DDIM, 1: DDPM-like), got {eta}"
            )
        self.schedule, self.eta, self.clip = schedule, eta, clip
        self.timesteps = spaced_timesteps(schedule.timesteps, steps, spacing)

    @torch.no_grad()
    def sample(self, eps_model: EpsModel, x_t: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        prevs = [*self.timesteps[1:], -1]
        for t, t_prev in zip(self.timesteps, prevs, strict=True):
            x_t = self.step(eps_model, x_t, t, t_prev, rng)
            if self.on_step is not None:
                self.on_step()
        return x_t

    def step(
        self, eps_model: EpsModel, x_t: torch.Tensor, t: int, t_prev: int, rng: torch.Generator
    ) -> torch.Tensor:
        sched = self.schedule
        ab, ab_prev = (float(sched.alpha_bar(torch.tensor([v]))) for v in (t, t_prev))
        eps, x0 = predict(eps_model, x_t, t, ab, self.clip)
        if self.clip:
            eps = (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        sigma = self.eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        direction = math.sqrt(max(1 - ab_prev - sigma**2, 0.0))
        x_prev = math.sqrt(ab_prev) * x0 + direction * eps
        if sigma > 0:
            x_prev = x_prev + sigma * torch.randn(x_t.shape, generator=rng).to(x_t.device)
        return x_prev


class DDPMSampler:
    """Ho et al. 2020, Algorithm 2, with the posterior mean written through x0^ (clipped to [-1, 1])
    and variance beta~_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t; no noise on the last step."""

    #: called after each denoising step (a progress bar's update), when set
    on_step: Callable[[], None] | None = None

    def __init__(self, schedule: NoiseSchedule, clip: bool = True):
        self.schedule, self.clip = schedule, clip
        self.timesteps = list(range(schedule.timesteps - 1, -1, -1))

    @torch.no_grad()
    def sample(self, eps_model: EpsModel, x_t: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        for t in self.timesteps:
            x_t = self.step(eps_model, x_t, t, rng)
            if self.on_step is not None:
                self.on_step()
        return x_t

    def step(
        self, eps_model: EpsModel, x_t: torch.Tensor, t: int, rng: torch.Generator
    ) -> torch.Tensor:
        sched = self.schedule
        ab, ab_prev = (float(sched.alpha_bar(torch.tensor([v]))) for v in (t, t - 1))
        beta = float(sched.betas[t])
        _, x0 = predict(eps_model, x_t, t, ab, self.clip)
        mean = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + (
            math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
        ) * x_t
        if t == 0:
            return mean
        var = (1 - ab_prev) / (1 - ab) * beta
        return mean + math.sqrt(var) * torch.randn(x_t.shape, generator=rng).to(x_t.device)


def make_sampler(
    schedule: NoiseSchedule,
    name: str,
    steps: int | None = None,
    eta: float = 0.0,
    spacing: str = "trailing",
    clip: bool = True,
) -> DDPMSampler | DDIMSampler:
    """`ddpm` (all T steps; `steps` must be T or None) or `ddim` with `steps` (None: 50 or T)."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{name}' (choose from: {', '.join(SAMPLERS)})")
    if name == "ddpm":
        if steps is not None and steps != schedule.timesteps:
            raise ConfigError(
                f"the ddpm sampler runs all {schedule.timesteps} steps; use --sampler ddim "
                f"for {steps} steps"
            )
        if eta not in (0.0, 1.0):
            raise ConfigError("--eta applies to the ddim sampler (ddpm is eta=1 by construction)")
        return DDPMSampler(schedule, clip)
    return DDIMSampler(
        schedule, steps if steps is not None else min(50, schedule.timesteps), eta, spacing, clip
    )
