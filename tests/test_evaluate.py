"""`gankit.evaluate` from Python on tiny trained runs: the figures `gankit eval` prints, returned
as a dict, for a run path or a loaded model."""

import math

import pytest

import gankit
from gankit import cli


def trained(out, preset, **sections):
    """A run of `preset` on the embedded digits (or the source `sections` name), in `out`."""
    gankit.train(preset, out=out, progress=False, **{"data": {"source": "digits"}, **sections})
    return out


FEATURES = """
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh())
"""


def printed(capsys, *argv) -> dict[str, str]:
    """What `gankit eval ARGV` prints, as {key: the text after it}."""
    capsys.readouterr()
    assert cli.main(["eval", *map(str, argv)]) == 0
    out = capsys.readouterr().out
    return dict(line.split(None, 1) for line in out.splitlines())


def as_printed(results: dict) -> dict[str, str]:
    return {k: f"{v:.4f}" if isinstance(v, float) else str(v) for k, v in results.items()}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return trained(
        tmp_path_factory.mktemp("vae") / "run",
        "vae",
        data={"source": "digits", "holdout": 300},
        model={"width": 8},
        train={"steps": 10},
    )


def test_evaluate_returns_what_gankit_eval_prints(vae_run, tmp_path, capsys):
    (tmp_path / "feats.py").write_text(FEATURES)
    features, cache = f"{tmp_path / 'feats.py'}:make", tmp_path / "cache"
    results = gankit.evaluate(
        vae_run, features, metrics="fid,pr,dc", n=200, seed=1, cache_dir=cache
    )
    shown = printed(
        capsys,
        vae_run,
        "--features",
        features,
        "--metrics",
        "fid,pr,dc",
        "-n",
        200,
        "--seed",
        1,
        "--cache-dir",
        cache,
    )
    assert shown == as_printed(results)
    assert results["step"] == 10 and results["n"] == 200 and results["reference_n"] == 1497
    assert results["fid"] > 0 and 0 <= results["precision"] <= 1 and 0 <= results["coverage"] <= 1
    # the VAE's bound comes with the features' figures, on the 300 held-out digits
    assert results["elbo_n"] == 300 and "(last 300, held out)" in results["elbo_data"]
    assert results["bits_per_dim"] == pytest.approx(results["nelbo_nats"] / (64 * math.log(2)))
    # a loaded model gives the same figures; another seed other samples
    model = gankit.load(vae_run)
    again = gankit.evaluate(model, features, metrics="fid,pr,dc", n=200, seed=1, cache_dir=cache)
    assert again == results
    other = gankit.evaluate(model, features, metrics="fid", n=200, seed=2, cache_dir=cache)
    assert other["fid"] != results["fid"]


def test_a_vae_without_features_gets_its_bound_alone(vae_run, capsys):
    results = gankit.evaluate(vae_run)
    assert printed(capsys, vae_run) == as_printed(results)
    assert "fid" not in results and results["elbo_n"] == 300 and results["nelbo_nats"] > 0


def test_a_toy2d_run_is_scored_by_modes_and_bad_requests_are_refused(tmp_path, capsys):
    out = trained(
        tmp_path / "ring",
        "seed-mlp",
        data={"source": "toy2d"},
        model={"hidden": [32, 32]},
        train={"steps": 30, "log_every": 10},
    )
    results = gankit.evaluate(out, n=500)
    assert printed(capsys, out, "-n", 500) == as_printed(results)
    assert results["reference"] == "toy2d-ring" and results["n_modes"] == 8
    assert 0 <= results["modes_captured"] <= 8 and sum(results["per_mode_counts"]) <= 500
    with pytest.raises(gankit.ConfigError, match="-n must be at least 2"):
        gankit.evaluate(out, n=1)
    with pytest.raises(gankit.ConfigError, match="points of 2 values, not images like"):
        gankit.evaluate(out, data="digits")
    with pytest.raises(gankit.ConfigError, match="sampler options apply to diffusion models"):
        gankit.evaluate(out, sampling={"sampler": "ddim"})


def test_a_diffusion_run_is_sampled_as_sampling_says(tmp_path, capsys):
    out = trained(
        tmp_path / "ddpm",
        "ddpm",
        model={"width": 8},
        diffusion={"timesteps": 40, "sampling_steps": 8},
        train={"steps": 2},
    )
    (tmp_path / "feats.py").write_text(FEATURES)
    options = {"features": f"{tmp_path / 'feats.py'}:make", "metrics": "fid", "n": 20}
    options["cache_dir"] = tmp_path / "cache"
    ddim4 = gankit.evaluate(out, sampling={"sampler": "ddim", "steps": 4}, **options)
    flags = ["--features", options["features"], "--metrics", "fid", "-n", 20]
    flags += ["--cache-dir", options["cache_dir"], "--sampler", "ddim", "--sampling-steps", 4]
    assert printed(capsys, out, *flags) == as_printed(ddim4)
    assert gankit.evaluate(out, **options)["fid"] != ddim4["fid"]  # the run's own DDIM-8
