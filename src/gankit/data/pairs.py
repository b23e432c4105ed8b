"""Image pairs for translation: paired sets (`--data paired`) and two unpaired collections
(`--data unpaired`), as one `Dataset` whose images hold the input's channels, then the target's.

Layouts (`data.dir` = DIR, the two domain folders named by `data.domains`, default `A,B`):
- paired: `DIR/A/` and `DIR/B/` with matching file names (extensions aside), or one folder of
  side-by-side AB images (pytorch-CycleGAN-and-pix2pix's aligned layout: A left, B right);
- unpaired: `DIR/trainA/` and `DIR/trainB/` (`testA/`, `testB/` for `data.split=test`), or a
  paired set (A/ and B/) read as two unpaired halves (`split_by_name`).

A paired set with `train/` and `test/` sub-folders takes the one `data.split` names; without
them its pairs are split by name: one name in ten, chosen by a hash of the name alone, is held
out for `data.split=test`. Unpaired training on a paired set splits the other names into two
disjoint halves by the same hash, A images from one half and B images from the other: no pair
of the set is ever whole in training, and the held-out pairs are in neither half.

Images are decoded and cached by the folder loader (`folder.py`, `cache.py`). With
`data.direction=BtoA` the halves are swapped: the input always comes first.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from . import cache, folder
from .base import Dataset, convert_channels

#: one name in HELD_OUT_EVERY is held out of training in a paired set without a test/ folder
HELD_OUT_EVERY = 10
#: names of unmatched files shown in an error before "and N more"
SHOWN_NAMES = 3


@dataclass
class Pairs:
    """A translation data set and the name of each row (its A image's, without extension)."""

    data: Dataset
    names: list[str]
    #: whether row i's two halves are a true pair (paired sets; not the halves of an unpaired set)
    aligned: bool


def domains(text: str) -> tuple[str, str]:
    """`data.domains` ("A,B") as the two folder names."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise DataError(f"data.domains names two different folders like A,B, got '{text}'")
    if any("/" in p or p in (".", "..") for p in parts):
        raise DataError(f"data.domains names folders inside data.dir, got '{text}'")
    return parts[0], parts[1]


def _bucket(name: str) -> int:
    """A number drawn from the name alone: the split of a name never depends on the others."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def held_out(name: str) -> bool:
    """Whether the pair called `name` is held out of training (one name in HELD_OUT_EVERY)."""
    return _bucket(name) % HELD_OUT_EVERY == 0


def a_half(name: str) -> bool:
    """Whether a training name gives its A image (True) or its B image (False) to unpaired
    training: the next digit of the same hash, so the halves are disjoint and near-equal."""
    return (_bucket(name) // HELD_OUT_EVERY) % 2 == 0


def split_by_name(names: list[str], split: str) -> list[str] | tuple[list[str], list[str]]:
    """The names of a paired set without split folders: `test` the held-out names, `train` the
    others, `halves` the others as (A names, B names) for unpaired training."""
    if split == "test":
        return [n for n in names if held_out(n)]
    kept = [n for n in names if not held_out(n)]
    if split == "halves":
        return [n for n in kept if a_half(n)], [n for n in kept if not a_half(n)]
    return kept


def _split_root(root: Path, split: str) -> tuple[Path, bool]:
    """The folder of the split (`DIR/train`, `DIR/test`; auto: train) and whether the pairs in it
    are still to be split by name (no split folders)."""
    wanted = "train" if split == "auto" else split
    if (root / wanted).is_dir():
        return root / wanted, False
    present = [s for s in ("train", "test") if (root / s).is_dir()]
    if present:
        raise DataError(f"{root} has {present[0]}/ but no {wanted}/ folder (data.split={split})")
    return root, True


def _existing(root: str | None, source: str) -> Path:
    if not root:
        raise DataError(f"the {source} source needs a folder: --data-dir DIR")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"{source} data folder {path} does not exist")
    return path


def _stem(relative: str) -> str:
    return os.path.splitext(relative)[0]


def _by_stem(names: list[str], where: Path) -> dict[str, int]:
    """Row of each file name without its extension; two files of one name are refused."""
    rows: dict[str, int] = {}
    for i, name in enumerate(names):
        if rows.setdefault(_stem(name), i) != i:
            raise DataError(f"{where} holds two images named {_stem(name)} (extensions aside)")
    return rows


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _check_sizes(folders: list[Path], resolution: int | None) -> None:
    """Without data.resolution the images must share one size (else say which differ)."""
    if resolution is not None:
        return
    sizes: dict[tuple[int, int], Path] = {}
    for where in folders:
        files = [str(p) for p in folder.image_files(where)]
        for path, (size, _) in zip(files, folder.map_files(files, folder.probe), strict=True):
            sizes.setdefault(size, Path(path))
            if len(sizes) > 1:
                (a, first), (b, second) = list(sizes.items())[:2]
                raise DataError(
                    f"images of mixed sizes ({first}: {a[0]}x{a[1]}, {second}: {b[0]}x{b[1]}): "
                    "set data.resolution to bring them to one"
                )


def _domain_folders(
    root: Path, names: tuple[str, str], resolution: int | None, channels: int | None, alpha: str
) -> tuple[tuple[torch.Tensor, list[str]], tuple[torch.Tensor, list[str]]]:
    """Both domains' images and names, at one resolution and one channel count."""
    _check_sizes([root / names[0], root / names[1]], resolution)
    xa, na = folder.read_images(root / names[0], resolution, channels, alpha)
    xb, nb = folder.read_images(root / names[1], xa.shape[-1], channels, alpha)
    if xa.shape[1] != xb.shape[1]:  # one domain grey, the other in colour: both in colour
        xa, xb = convert_channels(xa, 3), convert_channels(xb, 3)
    return (xa, na), (xb, nb)


def _matched(
    a: tuple[torch.Tensor, list[str]], b: tuple[torch.Tensor, list[str]], root: Path, ab: tuple
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The two domains' images in the order of A's names, every name in both or refused."""
    rows_a, rows_b = _by_stem(a[1], root / ab[0]), _by_stem(b[1], root / ab[1])
    only_a = sorted(rows_a.keys() - rows_b.keys())
    only_b = sorted(rows_b.keys() - rows_a.keys())
    if only_a or only_b:
        side, missing = (ab[1], only_a) if only_a else (ab[0], only_b)
        raise DataError(
            f"{len(missing)} image(s) of {root} have no match in {side}/: {_listed(missing)}"
        )
    names = sorted(rows_a)
    return a[0][[rows_a[n] for n in names]], b[0][[rows_b[n] for n in names]], names


def _side_by_side(
    root: Path, resolution: int | None, channels: int | None, alpha: str
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A folder of AB images (A the left half, B the right), each half squared as the folder
    loader squares an image; decoded on every core and cached like a folder."""
    listing = folder.scan(root)
    if not listing:
        raise DataError(f"{root} holds no images: give A/ and B/ folders or side-by-side images")
    names = [relative for relative, _, _ in listing]
    _by_stem(names, root)
    files = [os.path.join(root, n) for n in names]
    options = {
        "layout": "side-by-side",
        "resolution": resolution,
        "channels": channels,
        "alpha": alpha,
    }
    entry, key = cache.entry_path(root, options), cache.content_key(listing, options)
    hit = cache.read_entry(entry, key) if len(files) >= cache.MIN_CACHED_IMAGES else None
    if hit is not None:
        x = torch.from_numpy(hit[0])
    else:
        x = torch.from_numpy(_decode_side_by_side(files, resolution, channels, alpha))
        if len(files) >= cache.MIN_CACHED_IMAGES:
            cache.write_entry(entry, key, x.numpy(), None, {"folder": str(root)})
    c = x.shape[1] // 2
    return x[:, :c], x[:, c:], [_stem(n) for n in names]


def _decode_side_by_side(
    files: list[str], resolution: int | None, channels: int | None, alpha: str
) -> np.ndarray:
    """Every AB image as its two halves stacked along channels (N x 2C x R x R), after checking
    from the headers that each is twice as wide as high and, without a resolution, of one size."""
    probes = folder.map_files(files, folder.probe)
    for path, ((w, h), _) in zip(files, probes, strict=True):
        if w != 2 * h:
            raise DataError(
                f"{path} is {w}x{h}, not a side-by-side pair (twice as wide as high): give A/ "
                "and B/ folders, or AB images"
            )
    heights = sorted({h for (_, h), _ in probes})
    if resolution is None and len(heights) > 1:
        raise DataError(
            f"side-by-side images of mixed sizes (heights {heights[0]} and {heights[1]}): set "
            "data.resolution to bring them to one"
        )
    side = resolution or heights[0]
    planes = 1 if channels is None and all(grey for _, grey in probes) else channels or 3

    def halves(path: str) -> np.ndarray:
        im = folder.flat_image(path, planes, alpha)
        h = im.size[1]
        parts = [folder.square(im.crop((i * h, 0, (i + 1) * h, h)), side) for i in (0, 1)]
        arrays = [np.asarray(p, dtype=np.uint8) for p in parts]
        return np.concatenate([a[None] if a.ndim == 2 else a.transpose(2, 0, 1) for a in arrays])

    return np.stack(folder.map_files(files, halves))


@dataclass(frozen=True)
class PairOptions:
    """How the images of pairs are read: the data options of `DataConfig` that pairs use."""

    resolution: int | None = None
    channels: int | None = None
    alpha: str = "white"
    domains: str = "A,B"
    direction: str = "AtoB"

    @classmethod
    def of(cls, cfg) -> PairOptions:  # noqa: ANN001 (a DataConfig)
        return cls(cfg.resolution, cfg.channels, cfg.alpha, cfg.domains, cfg.direction)


def load_paired(
    root: str | None, split: str = "auto", options: PairOptions = PairOptions()
) -> Pairs:
    """The pairs of a paired set (`DIR/A` + `DIR/B`, or side-by-side AB images), of the split."""
    base = _existing(root, "paired")
    where, by_name = _split_root(base, split)
    ab = domains(options.domains)
    resolution, channels, alpha = options.resolution, options.channels, options.alpha
    if (where / ab[0]).is_dir() or (where / ab[1]).is_dir():
        for d in ab:
            if not (where / d).is_dir():
                raise DataError(
                    f"{where} has {ab[1 - ab.index(d)]}/ but no {d}/: a paired set needs both "
                    f"domains ({ab[0]}/ and {ab[1]}/, data.domains)"
                )
        a, b = _domain_folders(where, ab, resolution, channels, alpha)
        xa, xb, kept = _matched(a, b, where, ab)
    else:
        xa, xb, kept = _side_by_side(where, resolution, channels, alpha)
    if by_name:
        wanted = set(split_by_name(kept, "test" if split == "test" else "train"))
        rows = [i for i, n in enumerate(kept) if n in wanted]
        xa, xb, kept = xa[rows], xb[rows], [kept[i] for i in rows]
    name = f"paired:{base.name} ({split})"
    return Pairs(_joined(xa, xb, options.direction, name, len(kept)), kept, True)


def load_unpaired(
    root: str | None, split: str = "auto", options: PairOptions = PairOptions()
) -> Pairs:
    """Two unpaired collections: `DIR/trainA` + `DIR/trainB` (test: testA, testB), or a paired
    set's disjoint halves (its held-out pairs for `split=test`). Row i holds A image i and B
    image i; the smaller collection repeats in turn up to the larger one's count."""
    base = _existing(root, "unpaired")
    ab = domains(options.domains)
    resolution, channels, alpha = options.resolution, options.channels, options.alpha
    wanted = "train" if split == "auto" else split
    folders = [base / f"{wanted}{d}" for d in ab]
    if not any(f.is_dir() for f in folders):
        if wanted == "test":
            return load_paired(root, "test", options)
        return _halves(base, options)
    for f in folders:
        if not f.is_dir():
            raise DataError(
                f"{base} has no {f.name}/ folder: unpaired data needs {folders[0].name}/ and "
                f"{folders[1].name}/"
            )
    _check_sizes(folders, resolution)
    xa, na = folder.read_images(folders[0], resolution, channels, alpha)
    xb, nb = folder.read_images(folders[1], xa.shape[-1], channels, alpha)
    if xa.shape[1] != xb.shape[1]:
        xa, xb = convert_channels(xa, 3), convert_channels(xb, 3)
    rows = max(len(xa), len(xb))
    xa, xb = xa[torch.arange(rows) % len(xa)], xb[torch.arange(rows) % len(xb)]
    kept = [_stem(na[i % len(na)]) for i in range(rows)]
    name = f"unpaired:{base.name} ({split})"
    return Pairs(_joined(xa, xb, options.direction, name, rows), kept, False)


def _halves(base: Path, options: PairOptions) -> Pairs:
    """A paired set (with no split folders) read as two unpaired collections."""
    ab = domains(options.domains)
    if not all((base / d).is_dir() for d in ab):
        raise DataError(
            f"{base} holds neither train{ab[0]}/ and train{ab[1]}/ nor a paired set "
            f"({ab[0]}/ and {ab[1]}/) to split into unpaired halves"
        )
    a, b = _domain_folders(base, ab, options.resolution, options.channels, options.alpha)
    xa, xb, kept = _matched(a, b, base, ab)
    names_a, names_b = split_by_name(kept, "halves")
    row = {n: i for i, n in enumerate(kept)}
    rows = max(len(names_a), len(names_b))
    ia = [row[names_a[i % len(names_a)]] for i in range(rows)]
    ib = [row[names_b[i % len(names_b)]] for i in range(rows)]
    name = f"unpaired:{base.name} (halves)"
    data = _joined(xa[ia], xb[ib], options.direction, name, rows)
    return Pairs(data, [kept[i] for i in ia], False)


def _joined(xa: torch.Tensor, xb: torch.Tensor, direction: str, name: str, n: int) -> Dataset:
    if n == 0:
        raise DataError(f"{name} holds no pairs")
    first, second = (xb, xa) if direction == "BtoA" else (xa, xb)
    return Dataset(torch.cat([first, second], 1), None, name=name)


def load_pairs(cfg, split: str | None = None) -> Pairs:  # noqa: ANN001 (a DataConfig)
    """The pairs a data config names (`paired` or `unpaired`), of `split` (default its own)."""
    load = load_paired if cfg.source == "paired" else load_unpaired
    return load(cfg.dir, cfg.split if split is None else split, PairOptions.of(cfg))
