"""Feature networks for any labelled images: sized to the input, recording what they were trained
on, refusing other data, warning when inaccurate; `gankit eval` with the default network (trained
once, then from the cache) and on samples from a folder or an .npz."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save as st_save

import gankit
from gankit import cli
from gankit.config import DataConfig
from gankit.data import Dataset, load_dataset, resize_uint8
from gankit.data.cifar10 import CLASSES
from gankit.errors import ConfigError
from gankit.export import save_npz
from gankit.files import atomic_write
from gankit.metrics.classifier import (
    FORMAT,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)
from gankit.nets.classifier import ImageClassifier
from gankit.tensorfile import read_metadata

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def few_digits(n: int = 400, resolution: int | None = None) -> Dataset:
    data = load_dataset(DataConfig(source="digits"))
    x = data.x[:n] if resolution is None else resize_uint8(data.x[:n], resolution)
    return Dataset(x, data.y[:n], name="digits")


def cifar_folder(target: Path, per_class: int = 30) -> Path:
    """A few real CIFAR-10 training JPEGs of every class, in the image-folder layout."""
    source = SHARED / "cifar10" / "train"
    if not source.is_dir():
        pytest.skip(f"shared data {source} not found")
    for name in CLASSES:
        (target / "train" / name).mkdir(parents=True)
        for path in sorted((source / name).glob("*.jpg"))[:per_class]:
            shutil.copy(path, target / "train" / name / path.name)
    return target


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny DCGAN run on 400 of the embedded 8x8 digits (the rest held out)."""
    out = tmp_path_factory.mktemp("run") / "run"
    gankit.train(
        "dcgan",
        out=out,
        progress=False,
        data={"source": "digits", "holdout": 1397},
        model={"width": 8},
        train={"steps": 4, "log_every": 2, "device": "cpu"},
    )
    return out


@pytest.fixture(scope="module")
def digit_classifier(tmp_path_factory):
    """A digit classifier trained one epoch on 400 digits: a low held-out accuracy."""
    data = few_digits()
    model, report = train_classifier(data, epochs=1, batch_size=64)
    path = tmp_path_factory.mktemp("clf") / "digits.safetensors"
    return save_classifier(model, report, path, data.name), report


def eval_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["eval", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("channels", "resolution", "reads", "poolings"),
    [(1, 8, 28, 2), (1, 28, 28, 2), (3, 32, 32, 2), (3, 64, 64, 3)],
)
def test_the_network_is_sized_to_its_input(channels, resolution, reads, poolings):
    model = ImageClassifier(channels, 7, resolution=resolution).eval()
    x = torch.rand(2, channels, resolution, resolution) * 2 - 1
    assert model.input_size == reads and model(x).shape == (2, 7)
    assert model.features(x).shape == (2, 128)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.body) == poolings


@pytest.mark.parametrize(
    ("channels", "resolution", "strided"), [(1, 28, 2), (3, 32, 2), (3, 64, 3)]
)
def test_the_strided_network_is_another_architecture_of_the_same_interface(
    channels, resolution, strided
):
    model = ImageClassifier(channels, 7, resolution=resolution, arch="strided").eval()
    x = torch.rand(2, channels, resolution, resolution) * 2 - 1
    assert model(x).shape == (2, 7) and model.features(x).shape == (2, 128)
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert sum(m.stride == (2, 2) for m in convs) == strided
    assert not any(isinstance(m, torch.nn.MaxPool2d | torch.nn.BatchNorm2d) for m in model.body)
    with pytest.raises(ValueError, match="unknown classifier arch 'resnet'"):
        ImageClassifier(channels, 7, resolution=resolution, arch="resnet")


def test_a_strided_classifier_file_loads_as_strided(tmp_path):
    data = few_digits(300, 28)
    model, report = train_classifier(data, epochs=1, batch_size=64, arch="strided", seed=1)
    path = save_classifier(model, report, tmp_path / "strided.safetensors", data.name)
    assert read_metadata(path.read_bytes())["arch"] == "strided"
    loaded = load_classifier(path)
    assert loaded.arch == "strided"
    assert torch.equal(predict(loaded, data.all())[1], predict(model, data.all())[1])


def test_grey_classifiers_train_and_record_what_they_read(tmp_path):
    for resolution, shape in ((None, "1x8x8"), (28, "1x28x28")):
        data = few_digits(300, resolution)
        model, report = train_classifier(data, epochs=1, batch_size=64)
        assert report.split == "tail" and report.flip is False and report.holdout_size == 60
        path = save_classifier(model, report, tmp_path / f"{shape}.safetensors", data.name)
        meta = read_metadata(path.read_bytes())
        assert meta["source"] == "digits" and meta["shape"] == shape
        assert json.loads(meta["classes"]) == [str(c) for c in range(10)]
        assert float(meta["holdout_accuracy"]) == pytest.approx(report.holdout_accuracy, abs=1e-6)
        loaded = load_classifier(path)
        assert loaded.trained_on.shape == tuple(map(int, shape.split("x")))
        assert torch.equal(predict(loaded, data.all())[0], predict(model, data.all())[0])


def test_a_cifar10_classifier_flips_splits_by_class_and_names_its_classes(tmp_path, capsys):
    folder = cifar_folder(tmp_path / "cifar")
    code = cli.main(
        ["train-classifier", "--data", "cifar10", "--data-dir", str(folder), "--epochs", "1"]
        + ["--no-progress", "-o", str(tmp_path / "c.safetensors")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "held-out accuracy" in out and "3x32x32, 10 classes" in out
    info = load_classifier(tmp_path / "c.safetensors").trained_on
    assert info.source == "cifar10" and info.shape == (3, 32, 32) and info.classes == CLASSES
    report = json.loads(read_metadata((tmp_path / "c.safetensors").read_bytes())["report"])
    # the folder is read class by class: the last 20% of each class is held out, 6 of 30
    assert report["split"] == "per-class" and report["flip"] is True
    assert report["holdout_size"] == 60 and report["train_size"] == 240
    # its data options: read at 16 px grey it is another network
    code = cli.main(
        ["train-classifier", "--data", "cifar10", "--data-dir", str(folder), "--epochs", "1"]
        + ["--no-progress", "-o", str(tmp_path / "g.safetensors"), "data.resolution=16"]
        + ["data.channels=1"]
    )
    assert code == 0 and load_classifier(tmp_path / "g.safetensors").trained_on.shape == (1, 16, 16)
    # a folder of the same images is another domain than cifar10
    with pytest.raises(ConfigError, match=r"trained on cifar10 \(3x32x32, 10 classes: airplane"):
        gankit.evaluate(
            samples=folder / "train" / "cat",
            features=str(tmp_path / "c.safetensors"),
            data="folder",
            data_dir=str(folder / "train"),
        )


def test_an_unlabelled_folder_is_labelled_by_its_categories_json(tmp_path, capsys):
    source = SHARED / "emoji"
    if not source.is_dir():
        pytest.skip(f"shared data {source} not found")
    names = sorted(p.name for p in (source / "google").iterdir())[::20][:180]
    (tmp_path / "emoji" / "google").mkdir(parents=True)
    for name in names:
        shutil.copy(source / "google" / name, tmp_path / "emoji" / "google" / name)
    categories = json.loads((source / "categories.json").read_text())
    # the categories file lies beside the design folders, as in the shared set
    (tmp_path / "emoji" / "categories.json").write_text(json.dumps(categories))
    argv = [
        "train-classifier",
        "--data",
        "folder",
        "--data-dir",
        str(tmp_path / "emoji" / "google"),
    ]
    argv += ["--epochs", "1", "--no-progress", "data.resolution=32"]
    assert cli.main(argv + ["-o", str(tmp_path / "e.safetensors")]) == 0
    info = load_classifier(tmp_path / "e.safetensors").trained_on
    assert info.source == "folder" and info.shape == (3, 32, 32)
    assert info.classes == tuple(sorted({categories[n] for n in names}))
    assert "People & Body" in info.classes and len(info.classes) >= 6
    capsys.readouterr()
    (tmp_path / "emoji" / "categories.json").unlink()
    assert cli.main(argv + ["-o", str(tmp_path / "f.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no class labels to train a classifier on" in err
    assert not (tmp_path / "f.safetensors").exists()


def test_a_network_for_other_images_is_refused_in_one_line(run, digit_classifier, tmp_path, capsys):
    data = few_digits(300, 28)
    model, report = train_classifier(data, epochs=1, batch_size=64)
    big = save_classifier(model, report, tmp_path / "28.safetensors", "mnist-test")
    with pytest.raises(ConfigError, match=r"reads mnist \(1x28x28.*not this digits data \(1x8x8"):
        gankit.evaluate(run, str(big), n=50)
    fashion = save_classifier(
        *train_classifier(few_digits(), epochs=1, batch_size=64),
        tmp_path / "fashion.safetensors",
        "fashion-mnist-test",
    )
    with pytest.raises(ConfigError, match="trained on fashion-mnist .* not this digits data"):
        gankit.evaluate(run, str(fashion), n=50)
    for features in (big, fashion):
        code, out, err = eval_cli(capsys, run, "--features", features, "-n", 50)
        assert code == 2 and out == "" and len(err.splitlines()) == 1
        assert err.startswith("gankit: error: ") and "train-classifier --data digits" in err
    # the health classifier and the periodic evaluation refuse it too
    refusals = (
        ({"health_classifier": str(big)}, "input shape does not match"),
        ({"eval_every": 2, "eval_features": str(fashion)}, "trained on fashion-mnist"),
    )
    for i, (train, message) in enumerate(refusals):
        with pytest.raises(ConfigError, match=message):
            gankit.train(
                "dcgan",
                out=tmp_path / f"r{i}",
                progress=False,
                data={"source": "digits"},
                model={"width": 8},
                train={"steps": 2, **train},
            )


def test_a_low_accuracy_network_is_flagged_beside_each_figure(run, digit_classifier, capsys):
    path, report = digit_classifier
    assert report.holdout_accuracy < 0.8
    results = gankit.evaluate(run, str(path), n=200, metrics="fid,pr,classes")
    assert results["features_accuracy"] == pytest.approx(report.holdout_accuracy, abs=1e-6)
    assert "below 0.8" in results["features_warning"]
    code, out, _ = eval_cli(capsys, run, "--features", path, "-n", 200, "--metrics", "fid,pr")
    flagged = {line.split()[0] for line in out.splitlines() if "(! low-accuracy features)" in line}
    assert code == 0 and flagged == {"fid", "precision", "recall"}


def test_an_old_classifier_file_still_loads_as_a_digit_classifier(run, tmp_path):
    data = few_digits()
    model, report = train_classifier(data, epochs=1, batch_size=64)
    old_meta = {  # what train-classifier wrote before files recorded their shape and classes
        "format": FORMAT,
        "channels": "1",
        "num_classes": "10",
        "data": "mnist-test",
        "report": json.dumps(
            {k: getattr(report, k) for k in ("train_size", "holdout_size", "holdout_accuracy")}
            | {"epochs": 1}
        ),
    }
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(tmp_path / "old.safetensors", st_save(weights, metadata=old_meta))
    old = load_classifier(tmp_path / "old.safetensors")
    assert old.trained_on.source == "mnist" and old.trained_on.shape is None
    assert old.trained_on.accuracy == report.holdout_accuracy
    assert torch.equal(predict(old, data.all())[0], predict(model, data.all())[0])
    # it reads any size, as it always did: the 8x8 digits of a run are scored
    results = gankit.evaluate(run, str(tmp_path / "old.safetensors"), n=100, metrics="fid")
    assert results["fid"] > 0


def test_eval_without_features_trains_the_default_network_once(run, cache, capsys):
    first = gankit.evaluate(run, n=200, metrics="fid,classes", classifier_epochs=1, progress=False)
    trained = capsys.readouterr().err
    assert trained.count("training the feature network for digits (1x8x8, 1 epoch)") == 1
    files = list((cache / "classifiers").iterdir())
    assert len(files) == 1 and files[0].name.startswith("digits-1x8x8-")
    again = gankit.evaluate(run, n=200, metrics="fid,classes", classifier_epochs=1)
    assert "training the feature network" not in capsys.readouterr().err
    assert again == first and list((cache / "classifiers").iterdir()) == files
    code, out, err = eval_cli(
        capsys, run, "-n", 200, "--metrics", "fid,classes", "--classifier-epochs", 1
    )
    assert code == 0 and "training" not in err and f"fid              {first['fid']:.4f}" in out
    assert load_classifier(files[0]).trained_on.source == "digits"


def test_the_default_network_trains_longer_on_colour_images(cache, capsys):
    from gankit.metrics.classifier import COLOUR_EPOCHS, GREY_EPOCHS, default_classifier

    grey = few_digits(300)
    colour = Dataset(grey.x.expand(-1, 3, -1, -1).contiguous(), grey.y, name="digits")
    assert (GREY_EPOCHS, COLOUR_EPOCHS) == (8, 15)
    path = default_classifier("digits", colour, [str(c) for c in range(10)])
    assert "(3x8x8, 15 epochs) once" in capsys.readouterr().err
    assert path.name.startswith("digits-3x8x8-") and path.name.endswith("-e15.safetensors")
    report = json.loads(read_metadata(path.read_bytes())["report"])
    assert report["epochs"] == 15 and report["flip"] is True


def test_the_strided_default_network_is_cached_beside_the_vgg_one(cache, capsys):
    from gankit.metrics.classifier import default_classifier

    data = few_digits(300)
    classes = [str(c) for c in range(10)]
    path = default_classifier("digits", data, classes, epochs=1, arch="strided", seed=1)
    assert "(1x8x8, strided, 1 epoch) once" in capsys.readouterr().err
    assert path.name.endswith("-e1-strided-s1.safetensors") and path.parent == cache / "classifiers"
    assert load_classifier(path).arch == "strided"
    assert default_classifier("digits", data, classes, epochs=1, arch="strided", seed=1) == path
    assert "training" not in capsys.readouterr().err  # the second time: from the cache
    vgg = default_classifier("digits", data, classes, epochs=1)
    assert vgg != path and not vgg.name.endswith("-s0.safetensors")


def test_eval_samples_from_a_folder_and_an_npz(digit_classifier, tmp_path, capsys):
    path, _ = digit_classifier
    digits = load_dataset(DataConfig(source="digits"))
    npz = save_npz(digits.all()[:300], tmp_path / "real.npz")
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(digits.x[300:600, 0].numpy()):
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    options = {"features": str(path), "data": "digits", "metrics": "fid,pr"}
    from_npz = gankit.evaluate(samples=npz, **options)
    from_folder = gankit.evaluate(samples=folder, **options)
    assert from_npz["n"] == 300 and from_folder["n"] == 300 and from_npz["reference_n"] == 1797
    noise = np.random.default_rng(0).integers(0, 256, (300, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "noise.npz", arr_0=noise)
    from_noise = gankit.evaluate(samples=tmp_path / "noise.npz", **options)
    assert max(from_npz["fid"], from_folder["fid"]) < from_noise["fid"] / 10
    code, out, _ = eval_cli(
        capsys, "--samples", npz, "--features", path, "--data", "digits", "--metrics", "fid,pr"
    )
    assert code == 0 and f"fid              {from_npz['fid']:.4f}" in out
    # samples of another size than the data, no data, or not images at all: one line each
    np.savez(tmp_path / "big.npz", images=np.zeros((10, 28, 28), np.uint8))
    for argv, message in (
        (
            ["--samples", tmp_path / "big.npz", "--features", path, "--data", "digits"],
            "input shape",
        ),
        (["--samples", npz], "needs the image data"),
        (["--samples", tmp_path / "nope.npz", "--data", "digits"], "do not exist"),
        (["--samples", path, "--data", "digits"], "not an .npz"),
        ([], "needs a run"),
        (  # an unlabelled folder has no default feature network
            ["--samples", npz, "--data", "folder", "--data-dir", folder],
            "has no class labels to train a classifier on (a folder's classes are its "
            "sub-folders, or a categories.json beside its images); or give --features inception",
        ),
    ):
        code, out, err = eval_cli(capsys, *argv)
        assert code == 2 and len(err.splitlines()) == 1 and message in err, err
