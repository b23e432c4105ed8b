"""`gankit bench`: each protocol end to end on tiny runs; the report carries the papers' rows."""

import json
import math
import subprocess
import sys

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import ConfigError
from gankit.experiments.bench import format_report, run_bench
from gankit.metrics.classifier import save_classifier, train_classifier

TINY_IMAGES = [
    "model.width=8",
    "train.log_every=5",
    "train.sample_every=100",
    "train.checkpoint_every=100",
]


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    """A classifier of the embedded digits: it reads any digit image (resized to 28), which is all
    the plumbing needs; its accuracy is not what these tests measure."""
    data = load_dataset(DataConfig(source="digits"))
    model, report = train_classifier(data, epochs=1, holdout=0.2, seed=0, batch_size=64)
    return save_classifier(
        model, report, tmp_path_factory.mktemp("clf") / "clf.safetensors", data.name
    )


def test_toy2d_trains_both_rings_and_the_grid_and_counts_their_way(tmp_path):
    result = run_bench(
        "toy2d", "seed-mlp", tmp_path, steps=30, seeds=2, overrides=["model.hidden=[16,16]"]
    )
    ring, veegan, grid = result["rows"][:3]
    assert [(r["protocol"], r["of"], r["seed"]) for r in result["rows"]] == [
        ("ring", 8, 0),
        ("ring-veegan", 8, 0),
        ("grid", 25, 0),
        ("ring", 8, 1),
        ("ring-veegan", 8, 1),
        ("grid", 25, 1),
    ]
    # each mixture's mean and spread over its two seeds
    for kind, summary in result["summary"].items():
        values = [r["high_quality"] for r in result["rows"] if r["protocol"] == kind]
        assert summary["seeds"] == 2
        assert summary["high_quality"]["mean"] == pytest.approx(sum(values) / 2, abs=1e-3)
        assert summary["high_quality"]["sd"] == pytest.approx(
            abs(values[0] - values[1]) / 2**0.5, abs=1e-3
        )
        assert summary["modes"]["min"] == min(
            r["modes"] for r in result["rows"] if r["protocol"] == kind
        )
    for row in (ring, veegan, grid):
        assert 0 <= row["modes"] <= row["of"] and 0.0 <= row["high_quality"] <= 100.0
        assert row["steps"] == 30
        # KL of the high-quality samples' modes: 0 (uniform) up to log(of) (one mode)
        assert row["kl"] is None or 0 <= row["kl"] <= math.log(row["of"]) + 1e-3
    assert "radius 2, std 0.02" in ring["constants"]
    assert "radius 1, std 0.01" in veegan["constants"]
    assert result["published"]["ring"] == [] and len(result["published"]["ring-veegan"]) == 11
    report = format_report(result)
    assert "gankit seed-mlp" in report and "wall-clock minutes" in report
    assert report.count("  mean ± sd") == 3 and "2 seeds; range: modes" in report
    assert "seed 1: 30 steps" in report
    assert result["cpu_minutes"] >= 0 and result["wall_minutes"] >= 0
    # the grid's best published row, with its standard errors, beside the papers' constants
    grid_part = report.split("grid: ")[1]
    assert "papers' constants: 25 means at {-4,-2,0,2,4}^2, std 0.05; 2,500 samples" in grid_part
    pac4 = next(line for line in grid_part.splitlines() if line.startswith("PacGAN4"))
    assert "24.8 ± 0.2" in pac4 and "93.6 ± 0.6" in pac4 and "0.04 ± 0.01" in pac4
    assert "PacGAN (Lin et al., NeurIPS 2018), Table 1" in pac4


def stacked_bench(tmp_path, mnist_dir, classifier_path, steps, overrides, samples):
    return run_bench(
        "stacked-mnist",
        "dcgan",
        tmp_path,
        data_dir=str(mnist_dir),
        steps=steps,
        classifier=str(classifier_path),
        overrides=[*TINY_IMAGES, *overrides],
        samples=samples,
    )


def test_stacked_mnist_reports_modes_and_kl_beside_published_rows(
    tmp_path, mnist_dir, classifier_path
):
    over = ["data.stacked_samples=500"]
    result = stacked_bench(tmp_path, mnist_dir, classifier_path, 10, over, 2000)
    (row,) = result["rows"]
    assert 1 <= row["modes"] <= 1000 and row["kl"] >= 0.0
    # KL to uniform is at most log(1000) (all mass on one mode)
    assert row["kl"] <= 6.908 + 1e-3
    # the channels' digit balance is part of the joint KL, never more
    assert 0.0 <= row["kl_channels"] <= row["kl"] + 1e-3
    assert [len(s) for s in row["digit_shares"]] == [10, 10, 10]
    assert all(abs(sum(s) - 1) < 1e-3 for s in row["digit_shares"])
    report = format_report(result)
    assert "of its KL from the channels' digit balance" in report
    # ten training steps draw no digit the classifier is sure of
    assert 0.0 <= row["clear_digits"] < 0.5
    assert f"{100 * row['clear_digits']:.0f}% of its digits read with p >= 0.9" in report
    assert "PacGAN" in report and "VEEGAN" in report and "gankit dcgan" in report
    assert "PacDCGAN2" in report and "1000 ± 0" in report and "0.06 ± 0.003" in report
    assert "2,000 samples" in row["constants"] and "500 training images" in row["constants"]


def test_a_d_with_a_quarter_of_gs_channels_is_scored_beside_pacgans_hard_setting(
    tmp_path, mnist_dir, classifier_path
):
    over = ["model.d_width=2", "data.stacked_samples=200"]
    result = stacked_bench(tmp_path, mnist_dir, classifier_path, 2, over, 500)
    (row,) = result["rows"]
    assert row["protocol"] == "stacked-mnist-d-quarter"
    assert "G of width 8, D of width 2" in row["constants"]
    report = format_report(result)
    assert "D with 2/4/8 channels (G/4)" in report
    pac4 = next(line for line in report.splitlines() if line.startswith("PacDCGAN4"))
    assert "667.4 ± 29" in pac4


def test_without_a_preset_toy2d_runs_the_recommended_one(tmp_path, capsys):
    from gankit import cli
    from gankit.experiments.bench import RECOMMENDED

    preset, steps = RECOMMENDED["toy2d"]
    assert preset == "modes-2d" and steps == 20_000
    assert RECOMMENDED["stacked-mnist"] == ("modes-dcgan", 32_000)
    small = ["model.hidden=[8]", "model.d_hidden=[8]", "train.log_every=2"]
    assert cli.main(["bench", "toy2d", "--steps", "2", "--out", str(tmp_path), *small]) == 0
    report = capsys.readouterr().out
    assert report.count("gankit modes-2d") == 3 and "seed 0: 2 steps" in report
    assert cli.main(["bench", "mnist", "--seeds", "2", "--out", str(tmp_path / "m")]) == 2
    assert "--seeds is an option of the toy2d and stacked-mnist benches" in capsys.readouterr().err


def test_mixtures_picks_the_toy2d_mixtures_the_bench_trains(tmp_path, capsys):
    from gankit import cli

    small = ["model.hidden=[8]", "model.d_hidden=[8]", "train.log_every=2"]
    argv = ["bench", "toy2d", "--steps", "2", "--out", str(tmp_path), "--mixtures", "grid"]
    assert cli.main([*argv, *small]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["protocol"], r["of"]) for r in result["rows"]] == [("grid", 25)]
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["modes-2d-grid-seed0"]
    capsys.readouterr()
    for bad, fragment in [
        (["toy2d", "--mixtures", "ring,square"], "got 'ring,square'"),
        (["toy2d", "--mixtures", "grid,grid"], "distinct names"),
        (["stacked-mnist", "--mixtures", "grid"], "option of the toy2d bench"),
    ]:
        assert cli.main(["bench", *bad, "--out", str(tmp_path / "x")]) == 2
        assert fragment in capsys.readouterr().err
    with pytest.raises(ConfigError, match="option of the toy2d bench"):
        run_bench("stacked-mnist", "dcgan", tmp_path, data_dir="d", mixtures=["grid"])


def test_bad_bench_input_is_a_typed_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown benchmark"):
        run_bench("cifar", "dcgan", tmp_path)
    with pytest.raises(ConfigError, match="needs --data-dir"):
        run_bench("stacked-mnist", "dcgan", tmp_path)
    with pytest.raises(ConfigError, match="unknown benchmark 'mnist'"):  # quality.py's protocol
        run_bench("mnist", "dcgan", tmp_path)
    with pytest.raises(ConfigError, match="unknown preset"):
        run_bench("toy2d", "biggan", tmp_path)


def test_cli_bench_errors_are_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gankit",
            "bench",
            "mnist",
            "--preset",
            "dcgan",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        proc.returncode == 2
        and proc.stderr.strip().startswith("gankit: error:")
        and "Traceback" not in proc.stderr
    )
    assert not (tmp_path / "b").exists()


def test_conditional_models_are_refused_where_labels_are_the_modes(tmp_path):
    with pytest.raises(ConfigError, match="unconditional mode coverage"):
        run_bench("toy2d", "seed-mlp", tmp_path, steps=5, overrides=["model.conditional=true"])


def test_cli_device_and_amp_reach_the_benchmark_runs(tmp_path):
    """`--device`/`--amp` are the training runs' train.device/train.amp, not ignored."""
    from gankit.cli import main

    out = tmp_path / "b"
    assert (
        main(
            [
                "bench",
                "toy2d",
                "--preset",
                "seed-mlp",
                "--steps",
                "4",
                "--device",
                "cpu",
                "--amp",
                "bf16",
                "--out",
                str(out),
                "model.hidden=[8,8]",
            ]
        )
        == 0
    )
    configs = sorted(out.rglob("config.yaml"))
    assert len(configs) == 3  # the two rings and the grid
    for path in configs:
        text = path.read_text()
        assert "amp: bf16" in text and "device: cpu" in text
    assert (
        main(
            [
                "bench",
                "toy2d",
                "--preset",
                "seed-mlp",
                "--steps",
                "4",
                "--device",
                "tpu",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )


def test_without_a_classifier_the_bench_reads_evals_cached_feature_network(
    tmp_path, mnist_dir, classifier_path, monkeypatch, capsys
):
    """The default digit classifier is the cache entry `gankit eval` would use for these files:
    found there, not trained again."""
    import shutil

    from gankit.experiments.bench import _classifier
    from gankit.metrics.classifier import data_identity, load_classifier

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir)))
    entry = tmp_path / "cache" / "classifiers" / f"{data_identity('mnist', data)}-e8.safetensors"
    entry.parent.mkdir(parents=True)
    shutil.copy(classifier_path, entry)
    found = _classifier(None, str(mnist_dir))
    assert "training the feature network" not in capsys.readouterr().err
    reference = load_classifier(entry)
    for a, b in zip(found.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
