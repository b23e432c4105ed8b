"""CIFAR-10 (image folder and python batches), Fashion-MNIST and image folders of any size, colour
and transparency, on small real samples of the shared data copied into tmp_path; the decode cache;
flips; the data options' checks."""

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import gankit
from gankit import config
from gankit.config import DataConfig
from gankit.data import cache, flip_batch, folder, load_dataset
from gankit.data.cifar10 import CLASSES
from gankit.data.mnist import read_idx
from gankit.errors import ConfigError, DataError

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data {path} not found")
    return path


def copy_cifar(target: Path, per_class: int, classes=("airplane", "cat", "truck")) -> list[Path]:
    """The first `per_class` training JPEGs of some CIFAR-10 classes, in `target/<class>/`."""
    copied = []
    for name in classes:
        (target / name).mkdir(parents=True)
        for src in sorted(shared("cifar10", "train", name).glob("*.jpg"))[:per_class]:
            copied.append(Path(shutil.copy(src, target / name / src.name)))
    return copied


def pixels(path: Path, mode: str = "RGB") -> np.ndarray:
    """An image's pixels as Pillow decodes them, channels first."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert(mode))
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """Decode caches in tmp_path, for folders of any size."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_CACHED_IMAGES", 1)
    return tmp_path / "cache" / "images"


# ---- CIFAR-10 ---------------------------------------------------------------------------------
def test_cifar10_image_folder_gives_cifar_labels(tmp_path):
    files = copy_cifar(tmp_path / "train", 3)
    d = load_dataset(DataConfig(source="cifar10", dir=str(tmp_path)))
    assert d.name == "cifar10-train" and d.x.shape == (9, 3, 32, 32)
    assert d.y.tolist() == [0, 0, 0, 3, 3, 3, 9, 9, 9]  # airplane, cat, truck in CIFAR's order
    assert np.array_equal(d.x[4].numpy(), pixels(files[4]))


def write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    """A batch as CIFAR-10's python version holds it: a pickled dict with bytes keys."""
    batch = {
        b"batch_label": b"testing batch",
        b"labels": labels,
        b"data": images.reshape(len(images), 3072),
        b"filenames": [f"{i}.png".encode() for i in range(len(images))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def test_cifar10_python_batches_give_the_same_images(tmp_path):
    files = copy_cifar(tmp_path / "jpegs", 2)
    images = np.stack([pixels(p) for p in files])
    labels = [CLASSES.index(p.parent.name) for p in files]
    batches = tmp_path / "cifar-10-batches-py"  # as the download unpacks
    batches.mkdir()
    for i in range(1, 6):  # five training batches of one or two images
        write_batch(
            batches / f"data_batch_{i}", images[i - 1 : i + (i == 5)], labels[i - 1 : i + (i == 5)]
        )
    write_batch(batches / "test_batch", images[::-1], labels[::-1])
    train = load_dataset(DataConfig(source="cifar10", dir=str(tmp_path)))
    assert train.name == "cifar10-train" and torch.equal(train.x, torch.from_numpy(images))
    assert train.y.tolist() == labels
    test = load_dataset(DataConfig(source="cifar10", dir=str(batches), split="test"))
    assert test.name == "cifar10-test" and torch.equal(
        test.x, torch.from_numpy(images[::-1].copy())
    )
    small = load_dataset(DataConfig(source="cifar10", dir=str(tmp_path), resolution=16, channels=1))
    assert small.x.shape == (6, 1, 16, 16)


class _Mkdir:
    """An object whose unpickling would create a folder: what a hostile batch file could do."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_cifar10_batch_that_names_other_code_is_refused(tmp_path):
    target = tmp_path / "created-by-unpickling"
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": _Mkdir(str(target)), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match=r"cannot read CIFAR-10 batch .*data_batch_1: .*mkdir"):
        load_dataset(DataConfig(source="cifar10", dir=str(tmp_path)))
    assert not target.exists()


def test_cifar10_missing_split_names_both_layouts(tmp_path):
    copy_cifar(tmp_path / "test", 1, classes=("cat",))
    assert load_dataset(DataConfig(source="cifar10", dir=str(tmp_path))).name == "cifar10-test"
    with pytest.raises(DataError, match=r"no CIFAR-10 train split .*data_batch_1.*train/<class>/"):
        load_dataset(DataConfig(source="cifar10", dir=str(tmp_path), split="train"))
    (tmp_path / "test" / "kittens").mkdir()
    shutil.copy(next((tmp_path / "test" / "cat").iterdir()), tmp_path / "test" / "kittens")
    with pytest.raises(DataError, match="'kittens', not one of its classes"):
        load_dataset(DataConfig(source="cifar10", dir=str(tmp_path)))


# ---- Fashion-MNIST ----------------------------------------------------------------------------
def test_fashion_mnist_reads_both_splits_of_the_idx_files():
    folder_ = str(shared("fashion-mnist"))
    train = load_dataset(DataConfig(source="fashion-mnist", dir=folder_))
    assert train.name == "fashion-mnist-train" and train.x.shape == (60000, 1, 28, 28)
    assert train.y.bincount().tolist() == [6000] * 10
    test = load_dataset(DataConfig(source="fashion-mnist", dir=folder_, split="test"))
    assert test.x.shape == (10000, 1, 28, 28) and test.y.bincount().tolist() == [1000] * 10
    raw = read_idx(shared("fashion-mnist", "t10k-images-idx3-ubyte.gz"), 2051)
    assert np.array_equal(test.x[:5, 0].numpy(), raw[:5])


def test_fashion_mnist_download_and_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(DataError, match="--download fetches MNIST only: .*dataset-fashion-mnist"):
        load_dataset(DataConfig(source="fashion-mnist", dir=str(tmp_path)), download=True)
    with pytest.raises(DataError, match="no Fashion-MNIST images .*dataset-fashion-mnist"):
        load_dataset(DataConfig(source="fashion-mnist", dir=str(tmp_path)))


# ---- folders: defaults, crop, channels, transparency -----------------------------------------
def test_a_folder_of_grey_28px_images_stays_grey_and_keeps_its_size(tmp_path):
    raw = read_idx(shared("fashion-mnist", "t10k-images-idx3-ubyte.gz"), 2051)[:6]
    for i, image in enumerate(raw):
        (tmp_path / f"class{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / f"class{i % 2}" / f"{i}.png")
    d = load_dataset(DataConfig(source="folder", dir=str(tmp_path)))
    assert d.x.shape == (6, 1, 28, 28) and d.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(d.x[:3, 0].numpy(), raw[0::2])  # lossless: the same pixels


def test_colour_images_of_mixed_sizes_default_to_64px_rgb(tmp_path):
    copy_cifar(tmp_path, 1, classes=("cat",))
    Image.fromarray(np.full((40, 50), 90, np.uint8)).save(tmp_path / "grey.png")
    d = load_dataset(DataConfig(source="folder", dir=str(tmp_path)))
    assert d.x.shape == (2, 3, 64, 64)
    assert d.x[1].unique().tolist() == [90]  # the grey image, its value in all three channels


def test_resolution_resizes_the_short_side_and_crops_the_centre(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = (0, 255, 0)  # the centre square is green, the sides black
    Image.fromarray(wide).save(tmp_path / "wide.png")
    d = load_dataset(DataConfig(source="folder", dir=str(tmp_path), resolution=10))
    assert d.x.shape == (1, 3, 10, 10)
    assert d.x[0, 1].float().mean() > 245 and int(d.x[0, 1, :, 1:-1].min()) >= 250  # Lanczos
    assert int(d.x[0, 0].max()) == int(d.x[0, 2].max()) == 0  # rings a little at the edges
    ship = copy_cifar(tmp_path / "cifar" / "train", 1, classes=("ship",))
    up = load_dataset(DataConfig(source="cifar10", dir=str(tmp_path / "cifar"), resolution=48))
    assert up.x.shape == (1, 3, 48, 48) and up.y.tolist() == [CLASSES.index("ship")]
    with Image.open(ship[0]) as im:
        expected = np.asarray(im.convert("RGB").resize((48, 48), Image.Resampling.BICUBIC))
    assert np.abs(up.x[0].numpy().transpose(1, 2, 0).astype(int) - expected).max() <= 1


def test_transparency_composited_on_white_or_black_or_kept(tmp_path):
    names = ["1f431.png", "1f600.png"]  # a cat face and a smiley (sorted): transparent corners
    for name in names:
        shutil.copy(shared("emoji", "google", name), tmp_path / name)
    rgba = np.stack([pixels(tmp_path / n, "RGBA") for n in names])
    white = load_dataset(DataConfig(source="folder", dir=str(tmp_path)))
    black = load_dataset(DataConfig(source="folder", dir=str(tmp_path), alpha="black"))
    kept = load_dataset(DataConfig(source="folder", dir=str(tmp_path), alpha="keep"))
    assert white.x.shape == black.x.shape == (2, 3, 64, 64) and kept.x.shape == (2, 4, 64, 64)
    assert white.x[:, :, 0, 0].eq(255).all() and black.x[:, :, 0, 0].eq(0).all()
    assert torch.equal(kept.x, torch.from_numpy(rgba))  # 64 px already: the pixels as they are
    opaque = torch.from_numpy(rgba[:, 3] == 255)
    for d in (white, black):  # where the emoji is opaque, the background does not show
        assert torch.equal(
            d.x.permute(1, 0, 2, 3)[:, opaque], kept.x[:, :3].permute(1, 0, 2, 3)[:, opaque]
        )
    grey = load_dataset(DataConfig(source="folder", dir=str(tmp_path), channels=1, alpha="keep"))
    assert grey.x.shape == (2, 2, 64, 64)


def test_dropped_transparency_shows_the_colours_under_it(tmp_path):
    shutil.copy(shared("emoji", "google", "1f431.png"), tmp_path / "cat.png")
    dropped = load_dataset(DataConfig(source="folder", dir=str(tmp_path), alpha="drop"))
    rgb = pixels(tmp_path / "cat.png", "RGB")  # Pillow's own conversion ignores alpha
    assert torch.equal(dropped.x[0], torch.from_numpy(rgb.copy()))


def test_a_folder_run_saved_before_data_alpha_resumes_on_the_data_it_trained_on(tmp_path):
    """Such a run read every folder at 64 px, RGB, transparency dropped; its saved config must
    keep meaning that now that the folder's defaults follow the images."""
    saved = gankit.make_config("dcgan", data={"source": "folder", "dir": str(tmp_path)}).to_dict()
    del saved["data"]["alpha"], saved["data"]["flip"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    for cfg in (config.load(tmp_path / "config.yaml", base="dcgan"), config.from_dict(saved)):
        assert (cfg.data.resolution, cfg.data.channels, cfg.data.alpha) == (64, 3, "drop")
    saved["data"]["resolution"], saved["data"]["channels"] = 32, 1  # set by the user: kept
    assert (config.from_dict(saved).data.resolution, config.from_dict(saved).data.channels) == (
        32,
        1,
    )
    short = {"data": {"source": "folder", "dir": str(tmp_path)}}  # a hand-written file
    assert config.from_dict(short).data.alpha == "white"


# ---- the decode cache -------------------------------------------------------------------------
class _CountingDecoder:
    """The real `_load_one`, counting the images it decodes."""

    def __init__(self):
        self.calls, self.real = 0, folder._load_one

    def __call__(self, *args):
        self.calls += 1
        return self.real(*args)


def test_a_second_load_reads_the_cache_and_a_change_rebuilds_it(tmp_path, cache_dir, monkeypatch):
    data = tmp_path / "data"
    files = copy_cifar(data, 4)
    decoder = _CountingDecoder()
    monkeypatch.setattr(folder, "_load_one", decoder)
    cfg = DataConfig(source="folder", dir=str(data))
    first = load_dataset(cfg)
    assert decoder.calls == 12 and len(list(cache_dir.iterdir())) == 1
    again = load_dataset(cfg)
    assert decoder.calls == 12 and torch.equal(again.x, first.x) and torch.equal(again.y, first.y)

    shutil.copy(files[0], data / "cat" / "extra.jpg")  # a file added
    assert len(load_dataset(cfg)) == 13 and decoder.calls == 25
    (data / "cat" / "extra.jpg").unlink()  # removed
    assert torch.equal(load_dataset(cfg).x, first.x) and decoder.calls == 37
    stat = files[5].stat()  # touched: same bytes, newer time
    os.utime(files[5], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert torch.equal(load_dataset(cfg).x, first.x) and decoder.calls == 49
    assert len(list(cache_dir.iterdir())) == 1  # the stale entry was replaced, not kept beside

    load_dataset(DataConfig(source="folder", dir=str(data), resolution=16))  # other options
    assert decoder.calls == 61 and len(list(cache_dir.iterdir())) == 2


def test_a_damaged_cache_entry_is_decoded_again(tmp_path, cache_dir):
    copy_cifar(tmp_path / "data", 2)
    cfg = DataConfig(source="folder", dir=str(tmp_path / "data"))
    first = load_dataset(cfg)
    (entry,) = cache_dir.iterdir()
    entry.write_bytes(entry.read_bytes()[:-500])
    assert torch.equal(load_dataset(cfg).x, first.x)
    assert entry.stat().st_size > 6 * 3 * 32 * 32  # written whole again


def test_a_cached_folder_still_warns_of_its_unreadable_files(tmp_path, cache_dir):
    copy_cifar(tmp_path, 1, classes=("dog",))
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    for _ in range(2):  # decoded, then from the cache
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert len(load_dataset(DataConfig(source="folder", dir=str(tmp_path)))) == 1
        assert any("broken.jpg" in str(w.message) for w in caught)
    assert len(list(cache_dir.iterdir())) == 1


def test_an_unreadable_file_between_others_leaves_no_gap(tmp_path):
    first, second = copy_cifar(tmp_path, 2, classes=("frog",))
    (tmp_path / "frog" / "0000b.jpg").write_bytes(b"\xff\xd8 cut short")  # sorted between them
    with pytest.warns(UserWarning, match="0000b.jpg"):
        d = load_dataset(DataConfig(source="folder", dir=str(tmp_path)))
    assert d.x.shape == (2, 3, 32, 32)
    assert np.array_equal(d.x[0].numpy(), pixels(first))
    assert np.array_equal(d.x[1].numpy(), pixels(second))


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "gankit"
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "mine"))
    assert cache.cache_root() == tmp_path / "mine"


# ---- flips and option checks ------------------------------------------------------------------
def test_flips_mirror_half_a_batch_the_same_way_for_the_same_seed_and_step():
    x = torch.arange(64 * 3 * 4 * 4, dtype=torch.float32).reshape(64, 3, 4, 4)
    once, again = flip_batch(x, seed=3, step=10), flip_batch(x, seed=3, step=10)
    assert torch.equal(once, again)
    mirrored = (once != x).flatten(1).any(1)
    assert torch.equal(once[mirrored], x[mirrored].flip(-1)) and torch.equal(
        once[~mirrored], x[~mirrored]
    )
    assert 20 <= int(mirrored.sum()) <= 44
    other = (flip_batch(x, seed=3, step=11) != x).flatten(1).any(1)
    assert not torch.equal(other, mirrored)
    assert not torch.equal((flip_batch(x, seed=4, step=10) != x).flatten(1).any(1), mirrored)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"data": {"resolution": 30}}, "dcgan cannot build resolution 30"),
        ({"data": {"resolution": 30}}, "it builds b*2^k with b in 4..7 and k >= 1: 8, 10, 12,"),
        (
            {"data": {"alpha": "grey"}},
            "unknown data.alpha 'grey' (choose from: white, black, keep, drop)",
        ),
        ({"data": {"source": "cifar10", "split": "val"}}, "unknown cifar10 split 'val'"),
        ({"data": {"source": "toy2d", "flip": True}, "model": {"arch": "mlp"}}, "toy2d and table"),
        ({"data": {"source": "imagenet"}}, "unknown data source 'imagenet'"),
    ],
)
def test_data_options_no_run_can_use_are_refused(overrides, fragment):
    with pytest.raises(ConfigError) as e:
        gankit.make_config("dcgan", **overrides)
    assert fragment in str(e.value)


def test_every_size_the_message_lists_builds():
    from gankit.data.options import buildable, conv_resolutions

    assert conv_resolutions(64) == [8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64]
    assert not any(buildable("dcgan", r) for r in (4, 7, 9, 30, 36, 60, 100))
    cfg = gankit.make_config("dcgan", data={"source": "cifar10", "resolution": 48, "flip": True})
    assert cfg.data.resolution == 48 and cfg.data.flip
