"""The diffusion recipe through the real trainer on the embedded 8x8 digits: it learns, samples
with either sampler deterministically per seed, guidance acts, resume is bit-exact."""

import pytest
import torch

import gankit
from gankit import cli
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt
from gankit.train.health import LOSS_RISING, HealthMonitor


def diffusion_config(steps=30, preset="ddpm", **sections):
    base = {
        "data": {"source": "digits"},
        "model": {"width": 8},
        "diffusion": {"timesteps": 40, "sampling_steps": 8},
        "train": {
            "steps": steps,
            "log_every": 10,
            "sample_every": 30,
            "checkpoint_every": 30,
            "ema_start": 5,
        },
    }
    for key, value in sections.items():
        base.setdefault(key, {}).update(value)
    return gankit.make_config(preset, **base)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddpm-cond")
    trainer = Trainer(
        diffusion_config(60, "ddpm-cond"), path, progress=False, echo=lambda line: None
    )
    trainer.run()
    return path, trainer


def test_training_lowers_the_noise_prediction_error(cond_run):
    _, trainer = cond_run
    losses = [h["loss"] for h in trainer.health.history]
    assert losses[-1] < 0.7 * losses[0]
    assert (cond_run[0] / "samples" / "step_0000060.png").exists()


def test_samplers_give_shaped_deterministic_samples(cond_run):
    model = gankit.load(cond_run[0])
    assert model.used_ema
    runs = {}
    for sampler, steps, eta in (("ddpm", None, None), ("ddim", 8, 0.0), ("ddim", 4, 1.0)):
        model.set_sampler(sampler, steps, eta)
        a = model.sample(6, seed=0)
        assert a.shape == (6, 1, 8, 8) and a.min() >= -1 and a.max() <= 1
        assert torch.equal(a, model.sample(6, seed=0)) and not torch.equal(
            a, model.sample(6, seed=1)
        )
        runs[sampler, steps] = a
    assert not torch.equal(runs["ddpm", None], runs["ddim", 8])
    labels = torch.full((6,), 2)
    model.set_sampler("ddim", 8, 0.0, guidance=1.0)
    plain = model.sample(6, labels=labels, seed=0)
    model.set_sampler("ddim", 8, 0.0, guidance=3.0)
    assert not torch.allclose(plain, model.sample(6, labels=labels, seed=0))


def test_resume_is_bit_exact(tmp_path):
    Trainer(diffusion_config(20), tmp_path / "a", progress=False, echo=lambda line: None).run()
    Trainer(diffusion_config(10), tmp_path / "b", progress=False, echo=lambda line: None).run()
    Trainer(
        diffusion_config(20), tmp_path / "b", resume=True, progress=False, echo=lambda line: None
    ).run()
    (_, sa), (_, sb) = ckpt.load_latest(tmp_path / "a"), ckpt.load_latest(tmp_path / "b")
    assert all(
        torch.equal(sa["nets"]["unet"][k], sb["nets"]["unet"][k]) for k in sa["nets"]["unet"]
    )
    assert all(torch.equal(sa["ema"]["unet"][k], sb["ema"]["unet"][k]) for k in sa["ema"]["unet"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sampler", "euler"], "unknown sampler 'euler'"),
        (["--sampler", "ddim", "--sampling-steps", "0"], "between 1 and the model's 40"),
        (["--sampler", "ddim", "--sampling-steps", "41"], "between 1 and the model's 40"),
        (["--sampler", "ddim", "--eta", "-1"], "eta must be at least 0"),
        (["--sampler", "ddpm", "--sampling-steps", "10"], "runs all 40 steps"),
        (["--guidance", "-2"], "guidance scale must be at least 0"),
    ],
)
def test_bad_sampler_arguments_are_one_line_errors(cond_run, tmp_path, capsys, flags, message):
    assert cli.main(["sample", str(cond_run[0]), "-o", str(tmp_path / "g.png"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "g.png").exists()


def test_sampler_options_on_the_wrong_model_are_one_line_errors(tmp_path, capsys):
    Trainer(diffusion_config(2), tmp_path / "u", progress=False, echo=lambda line: None).run()
    assert (
        cli.main(["sample", str(tmp_path / "u"), "-o", str(tmp_path / "g.png"), "--guidance", "3"])
        == 2
    )
    assert "needs a class-conditional diffusion model" in capsys.readouterr().err
    from conftest import tiny_config

    Trainer(tiny_config(steps=2), tmp_path / "gan", progress=False, echo=lambda line: None).run()
    assert (
        cli.main(
            ["sample", str(tmp_path / "gan"), "-o", str(tmp_path / "g.png"), "--sampler", "ddim"]
        )
        == 2
    )
    assert "apply to diffusion models; this is a gan model" in capsys.readouterr().err


def test_cli_samples_by_class_with_ddim(cond_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert (
        cli.main(
            [
                "sample",
                str(cond_run[0]),
                "-n",
                "20",
                "--by-class",
                "--sampler",
                "ddim",
                "--sampling-steps",
                "4",
                "--guidance",
                "2",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert out.exists()


def test_loss_rising_is_diagnosed():
    monitor = HealthMonitor(output_kind="none")
    losses = [0.5, 0.2, 0.1, 0.1, 0.2, 0.25, 0.3]
    verdicts = [monitor.observe({"loss": v}, 500 * (i + 1))[0] for i, v in enumerate(losses)]
    assert verdicts[-1] == LOSS_RISING and verdicts[3] == "stable"


def test_min_snr_weighs_the_easy_low_noise_steps_less():
    from gankit.recipes.diffusion import DiffusionRecipe

    x, y = torch.rand(16, 1, 8, 8) * 2 - 1, torch.arange(16) % 10

    def first_loss(gamma):
        torch.manual_seed(0)
        recipe = DiffusionRecipe(
            diffusion_config(2, "ddpm-cond", diffusion={"min_snr": gamma}), (1, 8, 8), 10
        )
        for p in recipe.nets["unet"].parameters():  # past the zero init, so the error depends on t
            p.data.add_(0.05 * torch.randn_like(p))
        return float(recipe.train_step(x, y, torch.Generator().manual_seed(1), False)["loss"])

    plain = first_loss(None)
    assert first_loss(1e9) == pytest.approx(plain, rel=1e-5)  # gamma above every SNR: weight 1
    assert first_loss(5.0) < first_loss(1e9)  # some SNRs above 5: those samples weigh less
    assert first_loss(1e-3) < first_loss(5.0)
    with pytest.raises(gankit.ConfigError, match="min_snr must be positive"):
        diffusion_config(2, "ddpm-cond", diffusion={"min_snr": 0})
    with pytest.raises(gankit.ConfigError, match="three positive multipliers"):
        diffusion_config(2, "ddpm-cond", diffusion={"channel_mult": [1, 2]})
