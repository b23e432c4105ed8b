"""`gankit bench mnist|fashion-mnist|cifar10`: presets raced against the PyTorch-examples DCGAN
loop, scored alike in two feature spaces, on tiny runs of the real MNIST files."""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_DIR

from gankit import cli
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.mnist import IMAGES_MAGIC, LABELS_MAGIC
from gankit.errors import ConfigError, DataError
from gankit.experiments.quality import (
    REFERENCE,
    format_quality,
    format_time_to_quality,
    run_quality,
    run_time_to_quality,
    verdicts,
)
from gankit.metrics.classifier import load_classifier, save_classifier, train_classifier

TINY_IMAGES = ["model.width=8", "train.log_every=5"]
EMOJI_DIR = MNIST_DIR.parent / "emoji"


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A small MNIST folder of real digits in both splits: 640 to train on, 200 as the test split
    (the real-data floor is then test vs train)."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("shared MNIST files not found")
    data = load_dataset(DataConfig(source="mnist", dir=str(MNIST_DIR)))
    folder = tmp_path_factory.mktemp("mnist")
    for prefix, part in (("train", slice(0, 640)), ("t10k", slice(640, 840))):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", data.x[part, 0].numpy(), IMAGES_MAGIC)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", data.y[part].numpy(), LABELS_MAGIC)
    return folder


@pytest.fixture(scope="module")
def networks(tmp_path_factory, mnist_dir):
    """One feature network of each architecture, trained for one epoch on the 640 digits: the
    plumbing needs two different networks, not good ones."""
    few = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir)))
    assert (few.name, len(few)) == ("mnist-train", 640)
    folder = tmp_path_factory.mktemp("features")
    paths = []
    for arch, seed in (("vgg", 0), ("strided", 1)):
        model, report = train_classifier(few, epochs=1, batch_size=64, arch=arch, seed=seed)
        path = folder / f"{arch}.safetensors"
        paths.append(str(save_classifier(model, report, path, few.name, source="mnist")))
    return paths


def test_presets_and_the_reference_loop_are_scored_alike_in_two_spaces(
    tmp_path, mnist_dir, networks
):
    result = run_quality(
        "mnist",
        ["dcgan", "cgan"],
        tmp_path,
        data_dir=str(mnist_dir),
        steps=3,
        samples=200,
        classifiers=networks,
        overrides=TINY_IMAGES,
    )
    rows = result["rows"]
    assert [r["method"] for r in rows] == ["gankit dcgan", "gankit cgan", REFERENCE]
    assert result["unit"] == "steps" and result["marks"] == [3]
    for row in rows:
        assert row["steps"] == 3 and row["cpu_minutes"] > 0
        for space in ("vgg", "strided"):
            floor = result["spaces"][space]["floor"]
            # three steps from random weights are far from real digits; real halves are close
            assert row[space]["fid"] > floor["fid"] >= 0
            assert sum(row[space]["class_counts"]) == 200
        assert (tmp_path / "grids").is_dir() and row["grid"].endswith(".png")
    assert 0.0 <= rows[1]["vgg"]["label_agreement"] <= 1.0  # cgan: asked-for classes checked
    floor = result["spaces"]["vgg"]["floor"]
    assert floor["method"] == "real data (test split vs training split)"
    assert sum(floor["class_counts"]) == 200  # the test split's images, read by the network
    assert len(result["verdicts"]) == 2
    for v in result["verdicts"]:
        assert v["beats_reference"] == all(v["fid_lower"].values())
    report = format_quality(result)
    assert REFERENCE in report and "strided FID" in report and "the reference loop" in report
    with pytest.raises(ConfigError, match="already holds a run"):
        run_quality(
            "mnist", ["dcgan"], tmp_path, data_dir=str(mnist_dir), steps=1, classifiers=networks
        )


def test_jobs_split_the_models_among_processes_and_change_no_figure(tmp_path, mnist_dir, networks):
    common = {
        "data_dir": str(mnist_dir),
        "steps": 2,
        "samples": 100,
        "classifiers": networks,
        "overrides": [*TINY_IMAGES, "train.threads=1"],
    }
    one = run_quality("mnist", ["dcgan", "sngan"], tmp_path / "one", **common)
    two = run_quality("mnist", ["dcgan", "sngan"], tmp_path / "two", jobs=2, **common)
    assert (one["jobs"], two["jobs"], two["threads"]) == (1, 2, 1)
    assert [r["method"] for r in two["rows"]] == ["gankit dcgan", "gankit sngan", REFERENCE]
    for a, b in zip(one["rows"], two["rows"], strict=True):
        assert a["steps"] == b["steps"] == 2
        for space in ("vgg", "strided"):  # seeded training and sampling: the same numbers
            assert a[space]["fid"] == pytest.approx(b[space]["fid"], rel=1e-4)
            assert a[space]["class_counts"] == b[space]["class_counts"]
    assert all(Path(r["grid"]).is_file() for r in two["rows"])
    with pytest.raises(ConfigError, match="--jobs must be"):
        run_quality("mnist", ["dcgan"], tmp_path / "three", jobs=0, **common)


def test_a_preset_wins_only_where_its_fid_is_lower_in_both_spaces():
    def row(method, vgg, strided):
        return {"method": method, "at": 5, "vgg": {"fid": vgg}, "strided": {"fid": strided}}

    rows = [row("gankit a", 3.0, 9.0), row("gankit b", 1.0, 2.0), row(REFERENCE, 2.0, 4.0)]
    a, b = verdicts(rows, [5])
    assert a["fid_lower"] == {"vgg": False, "strided": False} and not a["beats_reference"]
    assert b["fid_lower"] == {"vgg": True, "strided": True} and b["beats_reference"]
    rows[0] = row("gankit a", 1.5, 9.0)
    assert not verdicts(rows, [5])[0]["beats_reference"]  # lower in one space only


def test_bad_input_fails_before_anything_trains(tmp_path, mnist_dir, networks):
    common = {"data_dir": str(mnist_dir), "steps": 1}
    with pytest.raises(ConfigError, match="unknown image benchmark 'svhn'"):
        run_quality("svhn", ["dcgan"], tmp_path, **common)
    with pytest.raises(ConfigError, match="is a mlp model"):
        run_quality("mnist", ["seed-mlp"], tmp_path, **common)
    with pytest.raises(ConfigError, match="is a vae model"):
        run_quality("mnist", ["vae"], tmp_path, **common)
    with pytest.raises(ConfigError, match="takes 2 feature networks"):
        run_quality("mnist", ["dcgan"], tmp_path, classifiers=networks[:1], **common)
    with pytest.raises(ConfigError, match="same architecture"):
        run_quality("mnist", ["dcgan"], tmp_path, classifiers=[networks[0]] * 2, **common)
    with pytest.raises(ConfigError, match="positive finite"):
        run_quality("mnist", ["dcgan"], tmp_path, data_dir=str(mnist_dir), cpu_minutes=[0])
    assert not any((tmp_path / p).exists() for p in ("dcgan-seed0", "grids"))


def test_cli_races_a_comma_list_and_refuses_wall_clock_minutes(
    tmp_path, mnist_dir, networks, capsys
):
    base = ["bench", "mnist", "--data-dir", str(mnist_dir), "--classifier", ",".join(networks)]
    assert cli.main([*base, "--preset", "dcgan", "--minutes", "1"]) == 2
    assert "use --cpu-minutes" in capsys.readouterr().err
    out = tmp_path / "b"
    variant = ["--variant", "no-bn-d dcgan model.d_norm=none"]
    code = cli.main(
        [*base, "--preset", "dcgan,sngan", *variant, "--steps", "2", "--samples", "100"]
        + ["--out", str(out), *TINY_IMAGES]
    )
    assert code == 0
    assert "at 2 steps" in capsys.readouterr().out
    result = json.loads((out / "bench.json").read_text())
    methods = ["gankit dcgan", "gankit sngan", "gankit no-bn-d", REFERENCE]
    assert [r["method"] for r in result["rows"]] == methods
    assert result["overrides"] == {"dcgan": [], "sngan": [], "no-bn-d": ["model.d_norm=none"]}
    saved = {p: (out / f"{p}-seed0" / "config.yaml").read_text() for p in ("dcgan", "no-bn-d")}
    assert "d_norm: batch" in saved["dcgan"] and "d_norm: none" in saved["no-bn-d"]
    for bad, said in (
        ("dcgan", "takes 'LABEL PRESET key=value"),
        ("x dcgan width32", "takes 'LABEL PRESET key=value"),
        ("a/b dcgan", "names its run folder"),
        ("dcgan dcgan train.ema=null", "two entrants of the mnist bench are called 'dcgan'"),
    ):
        capsys.readouterr()
        assert cli.main([*base, "--preset", "dcgan", "--variant", bad, "--steps", "1"]) == 2
        assert said in capsys.readouterr().err
    assert cli.main(["bench", "toy2d", "--preset", "gan", "--jobs", "2"]) == 2
    assert "--jobs and --variant are options of" in capsys.readouterr().err


def test_time_to_quality_targets_the_loops_best_fid_in_each_space(tmp_path, mnist_dir, networks):
    result = run_time_to_quality(
        "dcgan",
        tmp_path,
        data_dir=str(mnist_dir),
        cpu_minutes=0.1,
        eval_cpu_seconds=1.5,
        classifiers=networks,
        overrides=TINY_IMAGES,
        samples=100,
    )
    ref_curve, curve = result["curves"]["reference"], result["curves"]["gankit"]
    assert len(ref_curve) >= 2 and ref_curve[-1]["cpu_minutes"] >= 0.1  # the whole budget
    for row in result["rows"]:
        name = row["space"]
        best = min(p["fid"][name] for p in ref_curve)
        assert row["target_fid"] == pytest.approx(best, abs=1e-3)
        assert row["reference_minutes"] == next(
            p["cpu_minutes"] for p in ref_curve if p["fid"][name] == best
        )
        reached = [p["cpu_minutes"] for p in curve if p["fid"][name] <= row["target_fid"]]
        assert row["gankit_minutes"] == (reached[0] if reached else None)
        if row["gankit_minutes"]:
            assert row["speedup"] == pytest.approx(
                row["reference_minutes"] / row["gankit_minutes"], abs=0.01
            )
    # gankit stops at the first evaluation past both targets, or at the budget
    last = curve[-1]
    assert last["cpu_minutes"] >= 0.1 or all(
        last["fid"][r["space"]] <= r["target_fid"] for r in result["rows"]
    )
    assert "speed-up" in format_time_to_quality(result)


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("nope", [], "unknown preset 'nope'"),
        ("dcgan", ["optim.lr_g=nan"], "optim.lr_g must be a finite number"),
        ("dcgan", ["model.depth=3"], "unknown option 'model.depth'"),
    ],
)
def test_time_to_quality_checks_its_options_before_any_network_trains(
    tmp_path, mnist_dir, preset, overrides, message
):
    """Without --classifier the bench first trains two: a bad option found after that would waste
    their training and leave the folder behind."""
    with pytest.raises(ConfigError, match=message):
        run_time_to_quality(preset, tmp_path / "ttq", data_dir=str(mnist_dir), overrides=overrides)
    assert not (tmp_path / "ttq").exists()


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory):
    """A user's folder as the shared emoji are laid out: 200 real 64 px RGBA emoji of two
    categories, no class sub-folders, their categories in a categories.json beside them."""
    if not (EMOJI_DIR / "categories.json").exists():
        pytest.skip("shared emoji files not found")
    categories = json.loads((EMOJI_DIR / "categories.json").read_text())
    folder, kept = tmp_path_factory.mktemp("emoji"), {}
    for wanted in ("Flags", "Smileys & Emotion"):
        names = sorted(n for n, c in categories.items() if c == wanted)
        for name in [n for n in names if (EMOJI_DIR / "google" / n).exists()][:100]:
            shutil.copy(EMOJI_DIR / "google" / name, folder / name)
            kept[name] = wanted
    (folder / "categories.json").write_text(json.dumps(kept))
    return folder


def test_a_users_folder_races_in_networks_trained_on_its_categories(
    tmp_path, emoji_folder, monkeypatch
):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    options = {"steps": 2, "samples": 40, "overrides": [*TINY_IMAGES, "data.resolution=16"]}
    result = run_quality(
        "folder", ["dcgan"], tmp_path / "race", data_dir=str(emoji_folder), **options
    )
    assert [r["method"] for r in result["rows"]] == ["gankit dcgan", REFERENCE]
    assert len(list((tmp_path / "cache" / "classifiers").glob("*.safetensors"))) == 2
    for space in ("vgg", "strided"):
        trained_on = load_classifier(result["spaces"][space]["network"]).trained_on
        assert trained_on.classes == ("Flags", "Smileys & Emotion")
        assert (trained_on.source, trained_on.shape) == ("folder", (3, 16, 16))
        floor = result["spaces"][space]["floor"]
        assert floor["method"] == "real data (half vs half of the one split)"
        for row in result["rows"]:  # two steps from random weights: far from the real halves
            assert row[space]["fid"] > floor["fid"] >= 0
            assert sum(row[space]["class_counts"]) == 40
    bare = tmp_path / "bare"
    shutil.copytree(emoji_folder, bare)
    (bare / "categories.json").unlink()
    with pytest.raises(DataError, match="no class labels.*--classifier VGG,STRIDED"):
        run_quality("folder", ["dcgan"], tmp_path / "bare-race", data_dir=str(bare), **options)
