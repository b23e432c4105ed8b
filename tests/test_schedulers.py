"""Noise schedules and samplers against closed forms, on an analytic noise model: for data
x0 ~ N(mu, s^2) the optimal eps-prediction is known, so the samplers' output distribution is too."""

import math

import pytest
import torch

from gankit.errors import ConfigError
from gankit.schedulers import (
    DDIMSampler,
    DDPMSampler,
    NoiseSchedule,
    make_sampler,
    spaced_timesteps,
)

MU, S = 0.3, 0.5


def gaussian_eps(schedule):
    """E[eps | x_t] for x0 ~ N(MU, S^2): sqrt(1-ab)(x_t - sqrt(ab) MU) / (ab S^2 + 1 - ab)."""

    def eps(x, t):
        ab = schedule.alpha_bar(t).float().view(-1, *([1] * (x.dim() - 1)))
        return (1 - ab).sqrt() * (x - ab.sqrt() * MU) / (ab * S**2 + 1 - ab)

    return eps


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_noising_matches_its_closed_form(kind):
    sched = NoiseSchedule(kind, 200)
    x0 = torch.full((20_000, 1), 0.7, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = x0.clone()
    for t in range(120):  # q(x_t | x_{t-1}) step by step
        beta = sched.betas[t]
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(
            x.shape, generator=g, dtype=torch.float64
        )
    ab = float(sched.alphas_cumprod[119])
    assert float(x.mean()) == pytest.approx(math.sqrt(ab) * 0.7, abs=0.02)
    assert float(x.var()) == pytest.approx(1 - ab, rel=0.03)
    # the closed form itself, exactly, and its endpoints
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.full((len(x0),), 119)
    assert torch.allclose(
        sched.add_noise(x0, noise, t), math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise
    )
    assert float(sched.alpha_bar(torch.tensor([-1]))) == 1.0
    assert float(sched.alphas_cumprod[-1]) < 1e-3  # x_T is almost pure noise
    assert (sched.betas > 0).all() and (sched.betas < 1).all()


def test_ddim_with_eta_1_and_all_steps_is_ddpm():
    sched = NoiseSchedule("linear", 1000)
    eps = gaussian_eps(sched)
    x_T = torch.randn(4000, 1, generator=torch.Generator().manual_seed(1))
    ddpm = DDPMSampler(sched, clip=False).sample(eps, x_T, torch.Generator().manual_seed(2))
    ddim = DDIMSampler(sched, steps=1000, eta=1.0, clip=False).sample(
        eps, x_T, torch.Generator().manual_seed(2)
    )
    # the same update, term by term, given the same noise
    assert torch.allclose(ddpm, ddim, atol=1e-4)
    other = DDIMSampler(sched, steps=1000, eta=1.0, clip=False).sample(
        eps, x_T, torch.Generator().manual_seed(3)
    )
    assert not torch.allclose(ddpm, other)
    # with its own noise, DDIM(eta=1) has DDPM's statistics, and both those of the data
    assert float(other.mean()) == pytest.approx(float(ddpm.mean()), abs=0.03)
    assert float(other.std()) == pytest.approx(float(ddpm.std()), rel=0.04)
    for samples in (ddpm, other):
        assert float(samples.mean()) == pytest.approx(MU, abs=0.03)
        assert float(samples.std()) == pytest.approx(S, rel=0.04)


def test_deterministic_ddim_reaches_the_data_statistics_as_steps_grow():
    sched = NoiseSchedule("cosine", 1000)
    x_T = torch.randn(4000, 1, generator=torch.Generator().manual_seed(1))
    stds = {}
    for steps in (10, 50):
        sampler = make_sampler(sched, "ddim", steps=steps, eta=0.0, clip=False)
        a = sampler.sample(gaussian_eps(sched), x_T, torch.Generator().manual_seed(5))
        b = sampler.sample(gaussian_eps(sched), x_T, torch.Generator().manual_seed(6))
        assert torch.equal(a, b)  # eta=0 draws no noise
        assert float(a.mean()) == pytest.approx(MU, abs=0.03)
        stds[steps] = float(a.std())
    # few ODE steps shrink the spread (discretisation error); 50 are within 5% of the data's
    assert stds[10] < stds[50] and stds[50] == pytest.approx(S, rel=0.05)


def test_step_spacing():
    assert spaced_timesteps(1000, 10, "trailing") == [
        999,
        899,
        799,
        699,
        599,
        499,
        399,
        299,
        199,
        99,
    ]
    assert spaced_timesteps(1000, 10, "leading") == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert spaced_timesteps(10, 10) == list(range(9, -1, -1))
    assert spaced_timesteps(1000, 5, "linspace") == [999, 749, 500, 250, 0]
    # the DDIM paper's quadratic choice: (i * sqrt(800) / 4)^2 = 800, 450, 200, 50, 0
    assert spaced_timesteps(1000, 5, "quadratic") == [800, 450, 200, 50, 0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: make_sampler(s, "euler"), "unknown sampler 'euler'"),
        (lambda s: make_sampler(s, "ddim", steps=0), "between 1 and the model's 50"),
        (lambda s: make_sampler(s, "ddim", steps=51), "between 1 and the model's 50"),
        (lambda s: make_sampler(s, "ddim", eta=-0.5), "eta must be at least 0"),
        (lambda s: make_sampler(s, "ddpm", steps=10), "runs all 50 steps"),
        (lambda s: make_sampler(s, "ddim", spacing="odd"), "unknown step spacing"),
        (lambda s: NoiseSchedule("quadratic"), "unknown diffusion schedule"),
        # betas of 1 and more: `--preset ddpm diffusion.timesteps=10` diverged at its
        # first step (found by fuzzing)
        (
            lambda s: NoiseSchedule("linear", 20),
            "the linear schedule needs diffusion.timesteps above 20, got 20",
        ),
    ],
)
def test_bad_sampler_arguments_are_one_line_errors(call, message):
    with pytest.raises(ConfigError, match=message) as e:
        call(NoiseSchedule("linear", 50))
    assert "\n" not in str(e.value)
