import json

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.data import load_dataset, load_heldout
from gankit.errors import ConfigError, DataError


def _data(*overrides):
    return gankit.make_config("dcgan", overrides=list(overrides)).data


def test_limit_picks_the_same_images_for_the_same_seed_and_others_for_another():
    full = load_dataset(_data())
    a, b = load_dataset(_data("data.limit=100")), load_dataset(_data("data.limit=100"))
    other = load_dataset(_data("data.limit=100", "data.limit_seed=1"))
    assert len(a) == 100 and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, other.x)
    # a subset of the source's images, in the source's order
    rows = {bytes(img.numpy().tobytes()): i for i, img in enumerate(full.x)}
    index = [rows[bytes(img.numpy().tobytes())] for img in a.x]
    assert index == sorted(index) and len(set(index)) == 100
    # the run's own seed does not move the draw
    seeded = gankit.make_config("dcgan", overrides=["data.limit=100", "train.seed=7"])
    assert torch.equal(load_dataset(seeded.data, seed=7).x, a.x)


def test_classes_by_name_or_index_and_with_limit_and_holdout():
    threes = load_dataset(_data("data.classes=3"))
    assert set(threes.y.tolist()) == {3} and len(threes) == 183
    some = load_dataset(_data("data.classes=1,7", "data.limit=50"))
    assert set(some.y.tolist()) <= {1, 7} and len(some) == 50
    held = load_heldout(_data("data.classes=3", "data.holdout=30"))
    train = load_dataset(_data("data.classes=3", "data.holdout=30", "data.limit=100"))
    assert set(held.y.tolist()) == {3} and len(held) == 30 and len(train) == 100
    # the held-out images are the class's last 30, never among the training draw
    assert torch.equal(held.x, threes.x[-30:])
    trained = {img.numpy().tobytes() for img in train.x}
    assert not any(img.numpy().tobytes() in trained for img in held.x)


def test_unknown_classes_and_too_large_limits_are_refused_in_one_line():
    with pytest.raises(DataError, match=r"unknown digits class 'horse' .*choose from 0, 1, 2"):
        load_dataset(_data("data.classes=horse"))
    with pytest.raises(DataError, match=r"data.limit=5000 is more than the 1797 images"):
        load_dataset(_data("data.limit=5000"))
    with pytest.raises(DataError, match=r"data.limit=200 is more than the 183 images"):
        load_dataset(_data("data.classes=3", "data.limit=200"))
    with pytest.raises(ConfigError, match="data.limit must be a number of images"):
        _data("data.limit=0")
    with pytest.raises(ConfigError, match="data.limit_seed must be 0 or more"):
        _data("data.limit_seed=-1")


def _png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


def test_a_folder_chooses_by_sub_folder_or_by_its_categories_file(tmp_path):
    for i in range(4):
        _png(tmp_path / "labelled" / "cats" / f"{i}.png", 10 + i)
        _png(tmp_path / "labelled" / "dogs" / f"{i}.png", 100 + i)
    folder = ["data.source=folder", f"data.dir={tmp_path / 'labelled'}"]
    dogs = load_dataset(_data(*folder, "data.classes=dogs"))
    assert len(dogs) == 4 and int(dogs.x.min()) >= 100
    # an unlabelled folder with a categories.json beside it (the emoji sets)
    flat = tmp_path / "emoji" / "google"
    for i in range(6):
        _png(flat / f"{i}.png", 20 * i)
    categories = {f"{i}.png": "Animals" if i % 2 else "Flags" for i in range(6)}
    (tmp_path / "emoji" / "categories.json").write_text(json.dumps(categories))
    flat_cfg = ["data.source=folder", f"data.dir={flat}"]
    animals = load_dataset(_data(*flat_cfg, "data.classes=animals"))
    assert sorted(int(v) for v in animals.x[:, 0, 0, 0]) == [20, 60, 100]
    with pytest.raises(DataError, match=r"unknown folder class 'Smileys' .*Animals, Flags"):
        load_dataset(_data(*flat_cfg, "data.classes=Smileys"))
    (tmp_path / "emoji" / "categories.json").unlink()
    with pytest.raises(DataError, match="has no classes"):
        load_dataset(_data(*flat_cfg, "data.classes=Animals"))


def test_images_handed_over_cannot_be_limited():
    with pytest.raises(ConfigError, match="not of the memory source"):
        _data("data.source=memory", "data.limit=10")
