"""The sources of image pairs (`--data paired`, `--data unpaired`) on tiny folders written here
and on a sample of the shared emoji set: layouts, the split by name, direction, and the one-line
refusals of bad folders."""

from pathlib import Path

import numpy as np
import pytest
import torch
from image_pairs import EMOJI, emoji_sample, pair_images, write_pairs
from PIL import Image

import gankit
from gankit.data import load_dataset
from gankit.data.pairs import (
    HELD_OUT_EVERY,
    PairOptions,
    a_half,
    held_out,
    load_paired,
    load_unpaired,
    split_by_name,
)
from gankit.errors import ConfigError, DataError


def tag(image: torch.Tensor) -> int:
    """The pair number an A image (red at the corner) or a B image (inverted) carries."""
    red = int(image[0, 0, 0])
    return red - 10 if red < 128 else 255 - red - 10


def test_a_and_b_folders_pair_by_name_with_a_first(tmp_path):
    write_pairs(tmp_path, 5)
    pairs = load_paired(str(tmp_path), "train")
    kept = split_by_name([f"p{i:02d}" for i in range(5)], "train")
    assert pairs.names == kept and pairs.aligned
    x = pairs.data.x
    assert x.shape == (len(kept), 6, 16, 16) and x.dtype == torch.uint8
    for row, name in enumerate(pairs.names):
        a, b = pair_images(int(name[1:]))
        assert torch.equal(x[row, :3], torch.from_numpy(a).permute(2, 0, 1))
        assert torch.equal(x[row, 3:], torch.from_numpy(b).permute(2, 0, 1))
    swapped = load_paired(str(tmp_path), "train", PairOptions(direction="BtoA")).data.x
    assert torch.equal(swapped[:, :3], x[:, 3:]) and torch.equal(swapped[:, 3:], x[:, :3])


def test_the_split_by_name_is_fixed_disjoint_and_holds_one_name_in_ten():
    names = [f"img{i}" for i in range(2000)]
    train, test = split_by_name(names, "train"), split_by_name(names, "test")
    assert set(train).isdisjoint(test) and sorted(train + test) == sorted(names)
    assert 0.08 < len(test) / len(names) < 0.12
    assert split_by_name(names[::-1], "test") == test[::-1]  # a name's side depends on it alone
    a, b = split_by_name(names, "halves")
    assert set(a).isdisjoint(b) and sorted(a + b) == sorted(train)
    assert 0.45 < len(a) / len(train) < 0.55


def test_train_and_test_folders_are_taken_as_they_are(tmp_path):
    write_pairs(tmp_path / "train", 6)
    write_pairs(tmp_path / "test", 3, names=["t0", "t1", "t2"])
    assert load_paired(str(tmp_path), "auto").names == [f"p{i:02d}" for i in range(6)]
    assert load_paired(str(tmp_path), "test").names == ["t0", "t1", "t2"]
    (tmp_path / "only").mkdir()
    write_pairs(tmp_path / "only" / "train", 2)
    with pytest.raises(DataError, match="has train/ but no test/ folder"):
        load_paired(str(tmp_path / "only"), "test")


def test_side_by_side_images_split_into_their_halves(tmp_path):
    for i in range(4):
        a, b = pair_images(i)
        Image.fromarray(np.concatenate([a, b], 1)).save(tmp_path / f"p{i:02d}.png")
    pairs = load_paired(str(tmp_path / ""), "test")  # no split folders: the held-out names
    assert pairs.names == split_by_name([f"p{i:02d}" for i in range(4)], "test")
    every = load_paired(str(tmp_path), "train").data.x
    assert every.shape[1:] == (6, 16, 16)
    assert all(tag(row[:3]) == tag(row[3:]) for row in every)
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(DataError, match=r"odd.png is 20x16, not a side-by-side pair"):
        load_paired(str(tmp_path), "train")


def test_side_by_side_images_are_decoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    from gankit.data import cache, pairs

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_CACHED_IMAGES", 1)
    (tmp_path / "ab").mkdir()
    for i in range(3):
        a, b = pair_images(i)
        Image.fromarray(np.concatenate([a, b], 1)).save(tmp_path / "ab" / f"p{i}.png")
    first = load_paired(str(tmp_path / "ab"), "train").data.x
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1

    def decoded_again(*args):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(pairs, "_decode_side_by_side", decoded_again)
    assert torch.equal(load_paired(str(tmp_path / "ab"), "train").data.x, first)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "B" / "p03.png").unlink(), r"1 image\(s\) of .* no match in B/: p03"),
        (
            lambda root: [(root / "A" / f"p{i:02d}.png").unlink() for i in range(5)],
            r"5 image\(s\) of .* no match in A/: p00, p01, p02 and 2 more",
        ),
        (lambda root: (root / "B").rename(root / "C"), r"has A/ but no B/: a paired set needs"),
        (
            lambda root: (root / "A" / "p01.png").write_bytes(b"not a png"),
            r"cannot read image .*A",
        ),
        (
            lambda root: Image.new("RGB", (24, 24)).save(root / "B" / "p02.png"),
            r"images of mixed sizes .*16x16.*24x24.*: set data.resolution",
        ),
        (
            lambda root: Image.new("RGB", (16, 16)).save(root / "A" / "p02.jpg"),
            r"two images named p02",
        ),
    ],
)
def test_bad_pair_folders_are_refused_in_one_line(tmp_path, damage, message):
    write_pairs(tmp_path, 6)
    damage(tmp_path)
    with pytest.raises(DataError, match=message) as raised:
        load_paired(str(tmp_path), "train")
    assert "\n" not in str(raised.value)


def test_mixed_sizes_are_brought_to_data_resolution(tmp_path):
    write_pairs(tmp_path, 6)
    Image.new("RGB", (24, 24), (255, 0, 0)).save(tmp_path / "B" / "p02.png")
    pairs = load_paired(str(tmp_path), "train", PairOptions(resolution=8))
    assert pairs.data.x.shape[1:] == (6, 8, 8)


def test_unpaired_folders_repeat_the_smaller_collection(tmp_path):
    for side, count in (("trainA", 5), ("trainB", 3)):
        (tmp_path / side).mkdir()
        for i in range(count):
            a, _ = pair_images(i)
            Image.fromarray(a).save(tmp_path / side / f"{side}{i}.png")
    data = load_unpaired(str(tmp_path)).data
    assert len(data) == 5
    assert [tag(row[3:]) for row in data.x] == [0, 1, 2, 0, 1]
    (tmp_path / "trainB").rename(tmp_path / "other")
    with pytest.raises(DataError, match="has no trainB/ folder"):
        load_unpaired(str(tmp_path))


def test_a_paired_set_read_unpaired_holds_no_pair_and_no_held_out_image(tmp_path):
    names = write_pairs(tmp_path, 60)
    halves = load_unpaired(str(tmp_path))
    assert not halves.aligned
    a_ids = {tag(row[:3]) for row in halves.data.x}
    b_ids = {tag(row[3:]) for row in halves.data.x}
    held = {i for i, n in enumerate(names) if held_out(n)}
    assert a_ids.isdisjoint(b_ids) and not (a_ids | b_ids) & held
    assert a_ids | b_ids == set(range(60)) - held
    assert all(a_half(names[i]) for i in a_ids) and not any(a_half(names[i]) for i in b_ids)
    test = load_unpaired(str(tmp_path), "test")
    assert {tag(row[:3]) for row in test.data.x} == held and test.aligned


def test_the_emoji_sample_pairs_twemoji_with_noto_on_white(tmp_path):
    root = emoji_sample(tmp_path, 30)
    cfg = gankit.make_config("pix2pix", [f"data.dir={root}", "data.domains=twitter,google"])
    data = load_dataset(cfg.data)
    kept = split_by_name(sorted(p.stem for p in (root / "twitter").iterdir()), "train")
    assert data.x.shape == (len(kept), 6, 64, 64)
    assert (data.x[:, :, 0, 0] == 255).all()  # the transparent corners, on white
    twemoji = np.asarray(Image.open(root / "twitter" / f"{kept[0]}.png").convert("RGBA"))
    opaque = twemoji[..., 3] == 255
    assert np.array_equal(data.x[0, :3].permute(1, 2, 0).numpy()[opaque], twemoji[..., :3][opaque])


def test_the_whole_emoji_set_splits_into_held_out_pairs_and_two_halves():
    if not EMOJI.exists():
        pytest.skip(f"shared data {EMOJI} not found")
    names = sorted(p.stem for p in (EMOJI / "twitter").iterdir())
    assert names == sorted(p.stem for p in (EMOJI / "google").iterdir())
    test = split_by_name(names, "test")
    a, b = split_by_name(names, "halves")
    assert len(names) == 3786 and len(test) == 372 and (len(a), len(b)) == (1755, 1659)
    assert not (set(a) | set(b)) & set(test) and set(a).isdisjoint(b)
    assert HELD_OUT_EVERY == 10


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("pix2pix", ["data.direction=sideways"], "unknown data.direction 'sideways'"),
        ("dcgan", ["data.jitter=true"], "data.jitter crops image pairs"),
        ("dcgan", ["data.source=paired"], "holds image pairs for translation"),
        ("pix2pix", ["data.source=unpaired"], "pix2pix learns from pairs"),
        ("pix2pix", ["data.source=digits"], "pix2pix learns from pairs"),
    ],
)
def test_bad_pair_options_are_config_errors(preset, overrides, message):
    with pytest.raises(ConfigError, match=message):
        gankit.make_config(preset, overrides)


@pytest.mark.parametrize("domains", ["A", "A,A", "A,../B", "A,B,C"])
def test_bad_domains_are_refused_in_one_line(tmp_path, domains):
    write_pairs(tmp_path, 2)
    with pytest.raises(DataError, match="data.domains"):
        load_paired(str(tmp_path), options=PairOptions(domains=domains))


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="paired data folder .*nowhere does not exist"):
        load_paired(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="the unpaired source needs a folder"):
        load_unpaired(None)
    assert Path(tmp_path).exists()
