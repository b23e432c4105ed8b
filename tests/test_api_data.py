"""`gankit.train(data=...)`: tensors, NumPy arrays and torch Datasets of images, with or without
labels; the scaling rule; the refusals."""

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

import gankit
from gankit import cli
from gankit.data import load_dataset
from gankit.data.memory import from_user
from gankit.errors import ConfigError, DataError
from gankit.train import checkpoint as ckpt

DIGITS = load_dataset(tiny_config().data)  # 1,797 uint8 8x8 images and their classes


def _train(out, data, preset="dcgan", steps=2, **options):
    cfg = tiny_config(preset, steps=steps, log_every=1, sample_every=100, checkpoint_every=100)
    for dotted, value in options.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return gankit.train(cfg, out=out, data=data, progress=False)


def _weights(run):
    return ckpt.load_latest(run.run_dir)[1]["nets"]


def _same(a, b) -> bool:
    return all(torch.equal(v, b[net][k]) for net in a for k, v in a[net].items())


class Pairs(torch.utils.data.Dataset):
    """A map-style Dataset as torchvision's yield them: (float C x H x W in [0, 1], int)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i].float() / 255, int(self.y[i])


class Pictures(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        return Image.fromarray(DIGITS.x[i, 0].numpy())


def test_a_uint8_tensor_trains_exactly_as_the_source_it_came_from(tmp_path):
    source = gankit.train(
        tiny_config(steps=2, log_every=1, sample_every=100), out=tmp_path / "src", progress=False
    )
    handed = _train(tmp_path / "tensor", DIGITS.x[:, 0])  # N x H x W
    assert _same(_weights(source), _weights(handed))
    assert handed.status == "completed"
    saved = ckpt.load_latest(handed.run_dir)[1]
    assert saved["config"]["data"]["source"] == "memory"
    assert saved["data"]["sample_shape"] == [1, 8, 8]


def test_labels_as_a_pair_train_a_conditional_preset_as_the_source_does(tmp_path):
    cfg = tiny_config("cgan", steps=2, log_every=1, sample_every=100)
    cfg.model.width = 8
    source = gankit.train(cfg, out=tmp_path / "src", progress=False)
    handed = _train(tmp_path / "pair", (DIGITS.x.numpy(), DIGITS.y.numpy()), "cgan", model__width=8)
    assert _same(_weights(source), _weights(handed))
    assert gankit.load(handed.run_dir).num_classes == 10


def test_the_scaling_rule():
    uint8 = DIGITS.x[:50]
    exact = uint8.float() / 127.5 - 1
    from_unit = from_user(uint8.numpy().astype(np.float64) / 255).x  # [0, 1]
    from_signed = from_user(exact.numpy()).x  # [-1, 1]: kept as it is
    assert from_unit.dtype == torch.float32 and torch.allclose(from_unit, exact, atol=1e-6)
    assert torch.equal(from_signed, exact)
    assert torch.equal(from_user(uint8).x, uint8)  # uint8 stays 8 bits in memory
    assert float(from_unit.min()) == -1.0 and float(from_unit.max()) == 1.0


def test_a_torch_dataset_of_pairs_and_one_of_pil_images(tmp_path):
    pairs = _train(
        tmp_path / "pairs", Pairs(DIGITS.x[:256], DIGITS.y[:256]), "cgan", model__width=8
    )
    model = gankit.load(pairs.run_dir)
    assert model.num_classes == 10
    assert model.sample(4, labels=torch.tensor([1, 2, 3, 4])).shape == (4, 1, 8, 8)
    data = from_user(Pairs(DIGITS.x[:256], DIGITS.y[:256]))
    assert torch.allclose(data.x, DIGITS.x[:256].float() / 127.5 - 1, atol=1e-6)
    assert torch.equal(data.y, DIGITS.y[:256])
    pictures = from_user(Pictures())
    assert pictures.y is None and torch.equal(pictures.x, DIGITS.x[:64])
    assert _train(tmp_path / "pil", Pictures()).status == "completed"


def test_a_float_run_resumes_with_its_data_and_the_cli_says_it_cannot(tmp_path, capsys):
    images = DIGITS.x[:300].numpy() / 255.0
    _train(tmp_path / "run", images, steps=2)
    cfg = tiny_config(steps=4, log_every=1, sample_every=100, checkpoint_every=100)
    resumed = gankit.train(cfg, out=tmp_path / "run", data=images, resume=True, progress=False)
    assert resumed.step == 4
    straight = _train(tmp_path / "straight", images, steps=4)
    assert _same(_weights(resumed), _weights(straight))
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "6"]) == 2
    assert "handed to gankit.train(data=...)" in capsys.readouterr().err


def _refused(data, fragment, tmp_path, error=DataError, **options):
    with pytest.raises(error, match=fragment):
        _train(tmp_path / "refused", data, **options)
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize(
    "data, fragment",
    [
        (DIGITS.x.float().numpy(), r"values in \[0, 255\].*uint8"),
        (np.full((10, 8, 8), np.nan, dtype=np.float32), "NaN"),
        (DIGITS.x.long(), "ambiguous"),
        (DIGITS.x.permute(0, 2, 3, 1).expand(-1, -1, -1, 3).numpy(), r"permute\(0, 3, 1, 2\)"),
        (DIGITS.x[:, 0, 0], "N x C x H x W"),
        ((DIGITS.x, DIGITS.y[:10]), "one integer per image"),
        ((DIGITS.x, DIGITS.y.float()), "must be integers"),
        ((DIGITS.x, DIGITS.y - 1), "from 0"),
        ((DIGITS.x,), "two items"),
        ([1, 2, 3], "got list"),
        (np.array(["a"] * 10), "must be numbers"),
    ],
)
def test_bad_data_is_refused_in_one_line_before_anything_is_written(data, fragment, tmp_path):
    _refused(data, fragment, tmp_path)


def test_bad_datasets_and_options_are_refused(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield DIGITS.x[0]

    class Mixed(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return DIGITS.x[i] if i % 2 else (DIGITS.x[i], 1)

    _refused(Stream(), "map-style", tmp_path)
    _refused(Mixed(), "mixed", tmp_path)
    _refused(DIGITS.x, "data.resolution=16", tmp_path, ConfigError, data__resolution=16)
    _refused(DIGITS.x, "data.channels=3", tmp_path, ConfigError, data__channels=3)
    with pytest.raises(ConfigError, match="class labels"):  # a conditional preset needs them
        _train(tmp_path / "unlabelled", DIGITS.x, "cgan", model__width=8)
