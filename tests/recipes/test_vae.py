"""The VAE recipe through the real trainer on the embedded 8x8 digits: the bound improves, the
likelihoods are proper, sampling is deterministic, resume is bit-exact, collapse is diagnosed."""

import math

import pytest
import torch

import gankit
from gankit.data import load_dataset, load_heldout
from gankit.recipes.vae import discretized_gaussian_log_likelihood, gaussian_kl
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt
from gankit.train.health import POSTERIOR_COLLAPSE, HealthMonitor


def vae_config(steps=60, preset="vae", **sections):
    base = {
        "data": {"source": "digits", "holdout": 300},
        "model": {"width": 8},
        "train": {"steps": steps, "log_every": 10, "sample_every": 30, "checkpoint_every": 30},
    }
    for key, value in sections.items():
        base.setdefault(key, {}).update(value)
    return gankit.make_config(preset, **base)


def test_heldout_elbo_improves_over_training(tmp_path):
    cfg = vae_config(steps=100, vae={"kl_warmup": 20})
    trainer = Trainer(cfg, tmp_path, progress=False, echo=lambda line: None)
    heldout = load_heldout(cfg.data)
    assert len(heldout) == 300 and len(trainer.data) == len(load_dataset(cfg.data)) == 1797 - 300
    before = trainer.recipe.elbo(heldout.all(), heldout.y, seed=0)
    trainer.run()
    after = trainer.recipe.elbo(heldout.all(), heldout.y, seed=0)
    assert after["nelbo_nats"] < 0.8 * before["nelbo_nats"]
    assert after["bits_per_dim"] == pytest.approx(after["nelbo_nats"] / (64 * math.log(2)))
    assert after["recon_nats"] + after["kl_nats"] == pytest.approx(after["nelbo_nats"])
    last = trainer.health.history[-1]
    assert {"loss", "nelbo", "recon", "kl", "active_units"} <= set(last)


def test_discretised_gaussian_is_a_distribution_over_the_256_levels():
    levels = torch.arange(256, dtype=torch.float32) / 127.5 - 1
    for mean, log_scale in ((0.1, -2.0), (-0.95, -4.0), (0.99, 0.0)):
        logp = discretized_gaussian_log_likelihood(
            levels, torch.tensor(mean), torch.tensor(log_scale)
        )
        assert float(logp.exp().sum()) == pytest.approx(1.0, abs=1e-4)
    kl = gaussian_kl(torch.zeros(3), torch.zeros(3))
    assert torch.equal(kl, torch.zeros(3))


def test_gaussian_likelihood_and_conditional_vae_train(tmp_path):
    trainer = Trainer(
        vae_config(steps=20, preset="cvae", vae={"likelihood": "gaussian"}),
        tmp_path,
        progress=False,
        echo=lambda line: None,
    )
    assert trainer.run().status == "completed"
    model = gankit.load(tmp_path)
    samples = model.sample(20, labels=torch.full((20,), 3), seed=1)
    assert samples.shape == (20, 1, 8, 8) and samples.min() >= -1 and samples.max() <= 1
    assert torch.equal(samples, model.sample(20, labels=torch.full((20,), 3), seed=1))
    assert not torch.equal(samples, model.sample(20, labels=torch.full((20,), 4), seed=1))
    elbo = model.recipe.elbo(trainer.data.all()[:50], trainer.data.y[:50])
    assert "256 levels" in elbo["likelihood"] and elbo["nelbo_nats"] > 0


def test_sampling_shapes_determinism_and_reconstruction(tmp_path):
    Trainer(vae_config(steps=30), tmp_path, progress=False, echo=lambda line: None).run()
    model = gankit.load(tmp_path)
    a, b, c = model.sample(9, seed=0), model.sample(9, seed=0), model.sample(9, seed=1)
    assert a.shape == (9, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    x = load_dataset(model.config.data).all()[:5]
    assert model.recipe.reconstruct(x, nets=model.nets).shape == x.shape


def test_cli_eval_reports_the_heldout_bound(tmp_path, capsys):
    from gankit import cli

    Trainer(vae_config(steps=10), tmp_path, progress=False, echo=lambda line: None).run()
    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path), "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "bits_per_dim" in out and "(last 300, held out)" in out and "elbo_n           300" in out
    # --reference full widens the features' reference only: the bound keeps its held-out images
    argv = ["eval", str(tmp_path), "--reference", "full", "--features", "default", "-n", "50"]
    assert cli.main([*argv, "--metrics", "fid", "--classifier-epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "reference_n      1797" in out and "elbo_n           300" in out
    assert (
        cli.main(["sample", str(tmp_path), "-o", str(tmp_path / "g.png"), "--sampler", "ddim"]) == 2
    )
    assert "apply to diffusion models; this is a vae model" in capsys.readouterr().err


def test_resume_is_bit_exact(tmp_path):
    Trainer(vae_config(steps=40), tmp_path / "a", progress=False, echo=lambda line: None).run()
    Trainer(vae_config(steps=20), tmp_path / "b", progress=False, echo=lambda line: None).run()
    Trainer(
        vae_config(steps=40), tmp_path / "b", resume=True, progress=False, echo=lambda line: None
    ).run()
    (_, sa), (_, sb) = ckpt.load_latest(tmp_path / "a"), ckpt.load_latest(tmp_path / "b")
    for net in ("encoder", "decoder"):
        assert all(torch.equal(sa["nets"][net][k], sb["nets"][net][k]) for k in sa["nets"][net])


def test_posterior_collapse_is_diagnosed():
    monitor = HealthMonitor(output_kind="none")
    verdicts = [
        monitor.observe(
            {"loss": 100.0, "kl": 0.01, "active_units": 0.0, "latent_dims": 16.0}, step
        )[0]
        for step in range(0, 2000, 500)
    ]
    assert verdicts[-1] == POSTERIOR_COLLAPSE
    healthy = HealthMonitor(output_kind="none")
    assert [
        healthy.observe({"loss": 100.0, "active_units": 12.0, "latent_dims": 16.0}, s)[0]
        for s in range(0, 2000, 500)
    ][-1] == "stable"
