"""`gankit compare` end to end on tiny models and the shared MNIST files: every row measured, the
tables written, DDIM faster than DDPM, bad arguments one-line errors."""

import pytest

from gankit import cli
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.experiments.compare import (
    _sampler_rows,
    compare_config,
    format_markdown,
    plan_compare,
    run_compare,
    shorter_choices,
)
from gankit.metrics.classifier import save_classifier, train_classifier
from gankit.recipes import build_recipe

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
    assert result["estimated_minutes"] > 3 * 0.03


def test_the_plan_times_every_row_and_ddpm_costs_its_steps(mnist_dir):
    cfgs = {m: compare_config(m, str(mnist_dir), 2, 0, 1, TINY) for m in ("dcgan", "ddpm")}
    plan = plan_compare(cfgs, (1, 28, 28), 2, samples=40, slow_samples=20, speed_batch=20)
    rows = {(r["model"], r["sampler"]): r for r in plan["rows"]}
    assert list(rows) == [
        ("dcgan", "one pass"),
        ("ddpm", "DDPM 60"),
        ("ddpm", "DDIM 50"),
        ("ddpm", "DDIM 10"),
    ]
    assert plan["training_minutes"] == 4
    assert plan["sampling_minutes"] == pytest.approx(sum(r["minutes"] for r in plan["rows"]))
    per_image = {k: r["minutes"] / r["n"] for k, r in rows.items()}
    # 60 U-Net passes per image against 10 (timed, so only the order is asserted)
    assert per_image[("ddpm", "DDPM 60")] > 2 * per_image[("ddpm", "DDIM 10")]
    recipe = build_recipe(cfgs["ddpm"], (1, 28, 28))
    assert [label for label, _ in _sampler_rows(recipe, full_ddpm=False)] == ["DDIM 50", "DDIM 10"]


def _plan(fast: float, slow: float, training: float = 12) -> dict:
    rows = [
        {"model": "dcgan", "sampler": "one pass", "n": 2000, "minutes": fast / 2},
        {"model": "ddpm", "sampler": "DDPM 1000", "n": 200, "minutes": slow},
        {"model": "ddpm", "sampler": "DDIM 10", "n": 2000, "minutes": fast / 2},
    ]
    return {"training_minutes": training, "sampling_minutes": fast + slow, "rows": rows}


@pytest.mark.parametrize(
    "plan, max_minutes, choices",
    [
        # 12 min of training, 2 of fast rows, 28 of DDPM-1000, within 20: 6 min spare for DDPM
        (_plan(2, 28), 20, ["--no-full-ddpm", "--slow-samples 42"]),
        # the fast rows alone overrun: fewer of every row, or DDPM left out and fewer of the rest
        (_plan(10, 30), 20, ["--no-full-ddpm --samples 1600"]),
        (_plan(40, 30), 20, ["--no-full-ddpm --samples 400"]),
        (_plan(100, 30), 20, ["--samples 123 --slow-samples 12"]),
        # nothing fits: the training alone takes the budget, or too few samples would be left
        (_plan(2, 28), 12, []),
        (_plan(40, 400), 12.1, []),
    ],
)
def test_shorter_choices_fit_the_spare_minutes(plan, max_minutes, choices):
    assert shorter_choices(plan, max_minutes, 2000, 200, full_ddpm=True) == choices


def test_max_minutes_refuses_up_front_with_the_estimate(mnist_dir, classifier, tmp_path, capsys):
    args = ["compare", "--data-dir", str(mnist_dir), "--budget-minutes", "1", "--max-minutes", "2"]
    args += ["--classifier", classifier, "--out", str(tmp_path / "c"), *TINY]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "compare will take about" in err and "3 x 1 min of training" in err
    assert "over --max-minutes 2; no sample count fits" in err and err.count("\n") == 1
    assert not (tmp_path / "c" / "dcgan").exists()


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
        (["--max-minutes", "0"], "--max-minutes must be a positive finite number"),
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
