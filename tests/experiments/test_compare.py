"""`gankit compare` end to end on tiny models and the shared MNIST files: every row measured, the
tables written, DDIM faster than DDPM, bad arguments one-line errors."""

import pytest

from gankit import cli
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.experiments.compare import format_markdown, run_compare
from gankit.metrics.classifier import save_classifier, train_classifier

TINY = ["model.width=8", "diffusion.timesteps=60", "train.log_every=5"]


@pytest.fixture
def classifier(mnist_dir, tmp_path):
    data = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir)))
    data.x, data.y = data.x[:1500], data.y[:1500]
    model, report = train_classifier(data, epochs=1, holdout=0.2, seed=0)
    return str(save_classifier(model, report, tmp_path / "clf.safetensors", data.name))


def test_compare_trains_every_family_and_writes_one_table(mnist_dir, classifier, tmp_path):
    result = run_compare(
        str(mnist_dir),
        0.03,
        tmp_path / "cmp",
        models=["dcgan", "vae", "ddpm"],
        samples=40,
        slow_samples=20,
        speed_batch=20,
        classifier=classifier,
        overrides=TINY,
    )
    rows = {(r["model"], r["sampler"]): r for r in result["rows"]}
    assert set(rows) == {
        ("dcgan", "one pass"),
        ("vae", "one pass"),
        ("ddpm", "DDPM 60"),
        ("ddpm", "DDIM 50"),
        ("ddpm", "DDIM 10"),
    }
    for r in rows.values():
        assert r["steps"] >= 1 and r["parameters"] > 0 and r["fid"] > 0 and r["images_per_s"] > 0
        assert 0 <= r["coverage"] <= 1 and 1 <= r["classes_covered"] <= 10
        assert r["n"] == (20 if r["sampler"].startswith("DDPM") else 40)
    assert rows[("vae", "one pass")]["heldout_bits_per_dim"] > 0
    assert rows[("ddpm", "DDIM 10")]["images_per_s"] > 2 * rows[("ddpm", "DDPM 60")]["images_per_s"]
    table = format_markdown(result)
    # header, five rows, the real-data floor
    assert table.count("\n| ") == 7 and "DDIM 10: " in table
    assert (tmp_path / "cmp" / "grids" / "ddpm-ddim-10.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "digits"], "--data mnist"),
        (["--models", "dcgan,nope"], "unknown preset 'nope'"),
        (["--models", "cgan"], "is conditional"),
        (["--budget-minutes", "0"], "must be a positive finite number"),
        (["--budget-minutes", "nan"], "must be a finite number, got 'nan'"),
        (["--models", ","], "--models names no model: ','"),
        (["--models", "dcgan,vae,dcgan"], "name each model once: dcgan named twice"),
        (["--slow-samples", "5"], "--slow-samples must be at least 10"),
    ],
)
def test_bad_compare_arguments_are_one_line_errors(mnist_dir, tmp_path, capsys, argv, message):
    base = {"--data-dir": str(mnist_dir), "--budget-minutes": "1", "--out": str(tmp_path / "c")}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value
    args = ["compare"] + [a for kv in base.items() for a in kv]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "c" / "dcgan").exists()
