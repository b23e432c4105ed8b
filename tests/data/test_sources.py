import gzip
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.mnist import read_idx
from gankit.errors import DataError

pytestmark = pytest.mark.oldest_deps  # .ci/run runs these on the oldest numpy/pandas too


def test_digits_are_embedded_uint8_in_memory():
    d = load_dataset(DataConfig(source="digits"))
    assert d.x.shape == (1797, 1, 8, 8) and d.x.dtype == torch.uint8
    assert d.num_classes == 10
    batch = d.batch(torch.arange(64))
    assert batch.min() == -1.0 and batch.max() == 1.0


def test_digits_resized_and_converted_to_rgb():
    d = load_dataset(DataConfig(source="digits", resolution=32, channels=3))
    assert d.x.shape == (1797, 3, 32, 32)
    assert torch.equal(d.x[:, 0], d.x[:, 2])


def test_mnist_test_split_reads_the_real_files(mnist_dir):
    d = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir)))
    assert d.name == "mnist-test" and d.x.shape == (10000, 1, 28, 28)
    assert d.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _write_idx(folder, images, labels, gz=False, magic=2051):
    raw = (
        magic.to_bytes(4, "big")
        + b"".join(n.to_bytes(4, "big") for n in images.shape)
        + images.tobytes()
    )
    lab = (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes()
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"train-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(raw)
    with opener(folder / f"train-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(lab)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_train_split_plain_or_gzipped(tmp_path, gz):
    images = np.arange(5 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(5, 28, 28)
    _write_idx(tmp_path, images, np.array([3, 1, 4, 1, 5], dtype=np.uint8), gz=gz)
    d = load_dataset(DataConfig(source="mnist", dir=str(tmp_path)))
    assert d.name == "mnist-train" and torch.equal(d.x[:, 0], torch.from_numpy(images))
    assert d.y.tolist() == [3, 1, 4, 1, 5]


def test_mnist_wrong_magic_and_truncated(tmp_path):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path, images, np.zeros(4, dtype=np.uint8), magic=2049)
    with pytest.raises(DataError, match="magic number 2049"):
        load_dataset(DataConfig(source="mnist", dir=str(tmp_path)))
    _write_idx(tmp_path, images, np.zeros(4, dtype=np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path, 2051)


def test_mnist_missing_folder_or_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataConfig(source="mnist", dir=str(tmp_path / "nope")))
    with pytest.raises(DataError, match="no MNIST images"):
        load_dataset(DataConfig(source="mnist", dir=str(tmp_path)))


def test_folder_resizes_crops_and_skips_corrupt_files(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "cats" / "a.png")
    Image.new("L", (16, 16), 128).save(tmp_path / "dogs" / "b.jpg")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_dataset(DataConfig(source="folder", dir=str(tmp_path), resolution=8, channels=3))
    assert any("broken.png" in str(w.message) for w in caught)
    assert d.x.shape == (2, 3, 8, 8) and d.y.tolist() == [0, 1]
    assert d.x[0, 0].float().mean() > 250 and d.x[0, 1].float().mean() < 5  # red survived the crop
    assert int(d.x[1, 0, 4, 4]) == 128


def test_folder_missing_empty_or_all_corrupt(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataConfig(source="folder", dir=str(tmp_path / "none")))
    with pytest.raises(DataError, match="has no images"):
        load_dataset(DataConfig(source="folder", dir=str(tmp_path)))
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="x.png"), pytest.raises(DataError, match="could be read"):
        load_dataset(DataConfig(source="folder", dir=str(tmp_path)))


def test_toy2d_mixtures():
    ring = load_dataset(DataConfig(source="toy2d", toy="ring", toy_samples=4000))
    radius = ring.x.norm(dim=1)
    assert ring.x.shape == (4000, 2) and abs(float(radius.mean()) - 2.0) < 0.01
    grid = load_dataset(DataConfig(source="toy2d", toy="grid", toy_samples=5000))
    assert grid.num_classes == 25 and float(grid.x.abs().max()) < 4.5


def test_stacked_mnist_has_a_thousand_modes(mnist_dir):
    d = load_dataset(DataConfig(source="stacked-mnist", dir=str(mnist_dir), stacked_samples=20000))
    mnist = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir)))
    assert d.x.shape == (20000, 3, 28, 28) and d.y.unique().numel() == 1000
    # each channel is a real MNIST digit whose label is the matching decimal digit of the mode
    first = d.x[0]
    matches = [(mnist.x[:, 0] == first[c]).all(-1).all(-1).nonzero().flatten() for c in range(3)]
    digits = [int(mnist.y[m[0]]) for m in matches]
    assert int(d.y[0]) == digits[0] * 100 + digits[1] * 10 + digits[2]
    again = load_dataset(
        DataConfig(source="stacked-mnist", dir=str(mnist_dir), stacked_samples=20000)
    )
    assert torch.equal(again.x, d.x)
