"""Any folder of images (recursively), resized and centre-cropped; sub-folders become classes.

Images are decoded on every core (threads: Pillow releases the GIL while it decodes and resizes)
straight into one uint8 array, and the result is cached on disk (`cache.py`), so a second start
reads one file. The defaults follow the data: grey images stay grey, and images that share one
size keep it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from . import cache
from .base import Dataset

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
#: the side of images of mixed sizes when data.resolution does not name one
DEFAULT_RESOLUTION = 64
#: Pillow modes without colour (16- and 32-bit greyscale and 1-bit included)
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
BACKGROUNDS = {"white": (255, 255, 255, 255), "black": (0, 0, 0, 255)}
#: images one thread decodes at a time: few enough to share the work evenly, many enough that
#: handing out work costs nothing next to decoding it
CHUNK = 256


@dataclass(frozen=True)
class Decoding:
    """What every image becomes: `channels` colour channels (1 or 3) at `resolution` square, its
    transparency composited on white or black, or kept as one more channel (`alpha="keep"`)."""

    resolution: int
    channels: int
    alpha: str = "white"

    @property
    def planes(self) -> int:
        return self.channels + (self.alpha == "keep")


def _open(path: str | Path):  # noqa: ANN202 (a PIL image)
    """The image file. Inside `_bombs_refused`, an image with more pixels than Pillow's
    decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`) is refused: Pillow only warns up to
    twice the limit, and would decode it."""
    from PIL import Image

    try:
        return Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ValueError(f"{e} (raise PIL.Image.MAX_IMAGE_PIXELS to read it)") from None


@contextmanager
def _bombs_refused() -> Iterator[None]:
    """Pillow's decompression-bomb warning as an error, for every thread decoding meanwhile (the
    warning filters are the process's: set once here, not in each thread)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _eight_bit(im):  # noqa: ANN001, ANN202
    """16-bit and 32-bit integer greyscale as 8 bits by its 16-bit range (Pillow's own conversion
    clips at 255: a 16-bit photo came out white). Palette images with a transparent entry via RGBA,
    as Pillow asks."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":  # older Pillow opens 16-bit PNGs as "I"
        levels = np.clip(np.asarray(im, dtype=np.float64), 0, 65535) / 257
        return Image.fromarray(levels.round().astype(np.uint8))
    if im.mode in ("P", "PA") and "transparency" in im.info:
        return im.convert("RGBA")
    return im


def _flatten(im, colour: str, alpha: str):  # noqa: ANN001, ANN202
    """The image in `colour` mode (L or RGB), its transparency composited on the background, or in
    that mode plus alpha when it is kept (opaque where the image has none)."""
    from PIL import Image

    if alpha == "keep":
        return im.convert(colour + "A")
    if alpha == "drop":
        return im.convert(colour)
    if im.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in im.info:
        return im.convert(colour)
    layer = im.convert("RGBA")
    background = Image.new("RGBA", im.size, BACKGROUNDS[alpha])
    return Image.alpha_composite(background, layer).convert(colour)


def _load_one(path: str | Path, decoding: Decoding) -> np.ndarray:
    """The image's centre square at the decoding's resolution, channels first. Only that square is
    resampled (a 1 x 100,000 strip stays small) and a JPEG is decoded at the smallest scale that
    still covers it."""

    resolution = decoding.resolution
    colour = "L" if decoding.channels == 1 else "RGB"
    with _open(path) as im:
        im.draft(colour, (resolution, resolution))
        im = _flatten(_eight_bit(im), colour, decoding.alpha)
        if im.size != (resolution, resolution):  # else no resampling to blur it
            im = _square(im, resolution)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _square(im, resolution: int):  # noqa: ANN001, ANN202
    """The image's centre square, resampled to `resolution` (Lanczos when shrinking)."""
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    shrinking = side > resolution
    return im.resize(
        (resolution, resolution),
        Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC,
        box=box,
        reducing_gap=3.0 if shrinking else None,
    )


def _probe(path: str | Path) -> tuple[tuple[int, int], bool]:
    """(width and height, whether it is grey) from the file's header, without decoding it."""
    with _open(path) as im:
        return im.size, im.mode in GREY_MODES


def _reason(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _each(n: int, task: Callable[[int], None], threads: int | None = None) -> None:
    """task(i) for i in range(n), in chunks spread over `threads` threads (default: every core)."""

    def run(start: int) -> None:
        for i in range(start, min(start + CHUNK, n)):
            task(i)

    starts = range(0, n, CHUNK)
    threads = threads or workers()
    with _bombs_refused():
        if threads == 1 or n <= CHUNK:
            for start in starts:
                run(start)
            return
        pool = ThreadPoolExecutor(threads)
        try:
            list(pool.map(run, starts))
        finally:  # on Ctrl-C, the chunks not started are dropped rather than waited for
            pool.shutdown(wait=True, cancel_futures=True)


def _readable(
    files: list[str], errors: list[str | None], job: Callable[[str], object], threads: int | None
) -> list:
    """job(file) for every file not yet refused, on every core; a file it fails on gets its reason
    in `errors` (PIL raises many types for bad files: any of them means "skip it")."""
    results: list = [None] * len(files)

    def task(i: int) -> None:
        if errors[i] is None:
            try:
                results[i] = job(files[i])
            except Exception as e:
                errors[i] = _reason(e)

    _each(len(files), task, threads)
    return results


def decoding_for(
    files: list[str],
    errors: list[str | None],
    resolution: int | None,
    channels: int | None,
    alpha: str,
    threads: int | None = None,
) -> Decoding:
    """The options the caller left open, from the images' headers: grey stays grey (1 channel when
    every image is grey) and images that share one size keep its shorter side."""
    if resolution is None or channels is None:
        probes = [p for p in _readable(files, errors, _probe, threads) if p is not None]
        if probes and resolution is None:
            sizes = {size for size, _ in probes}
            resolution = min(sizes.pop()) if len(sizes) == 1 else DEFAULT_RESOLUTION
        if probes and channels is None:
            channels = 1 if all(grey for _, grey in probes) else 3
    return Decoding(resolution or DEFAULT_RESOLUTION, channels or 3, alpha)


def decode(
    files: list[str], decoding: Decoding, errors: list[str | None], threads: int | None = None
) -> np.ndarray:
    """Every readable file as one uint8 array N x C x R x R (the unreadable ones, with a reason in
    `errors`, left out), decoded in place into one array: no copy per image is kept."""
    r = decoding.resolution
    x = np.empty((len(files), decoding.planes, r, r), dtype=np.uint8)

    def task(i: int) -> None:
        if errors[i] is None:
            try:
                x[i] = _load_one(files[i], decoding)
            except Exception as e:  # PIL raises many types for bad files: any means "skip it"
                errors[i] = _reason(e)

    _each(len(files), task, threads)
    kept = [i for i, e in enumerate(errors) if e is None]
    for row, i in enumerate(kept):  # close the gaps in place: no second array
        if row != i:
            x[row] = x[i]
    return x[: len(kept)]


def scan(root: Path) -> list[tuple[str, int, int]]:
    """(path relative to `root`, size, modification time in ns) of every image file under `root`,
    in the order of sorted paths: one `stat` a file (a folder's content key is made of these)."""
    found = []

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:  # a folder that cannot be listed holds no image we can read
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, f"{prefix}{entry.name}/")
            elif os.path.splitext(entry.name)[1].lower() in EXTENSIONS and entry.is_file():
                st = entry.stat()
                found.append((prefix + entry.name, st.st_size, st.st_mtime_ns))

    walk(str(root), "")
    return sorted(found, key=lambda item: item[0].split("/"))


def image_files(root: Path) -> list[Path]:
    """Every image file under `root`, in sorted order."""
    return [root / relative for relative, _, _ in scan(root)]


def load_folder(
    folder: str | None,
    resolution: int | None = None,
    channels: int | None = None,
    alpha: str = "white",
    classes: list[str] | None = None,
    name: str | None = None,
    threads: int | None = None,
) -> Dataset:
    """Every image under `folder`; labels from sub-folders when there are several (or from their
    place in `classes`, which then names every sub-folder allowed). Cached on disk when the folder
    holds at least `cache.MIN_CACHED_IMAGES` images. Decoded on `threads` threads (default: one
    per core)."""
    root, listing = _listing(folder)
    x, y, skipped = _decoded(root, listing, resolution, channels, alpha, classes, threads)
    _warn_skipped(root, skipped)
    if len(x) == 0:
        raise DataError(
            f"none of the {len(listing)} image files in {root} could be read ({skipped[0]})"
        )
    return Dataset(torch.from_numpy(x), _labels(y), name=name or f"folder:{root.name}")


def read_images(
    folder: str | Path,
    resolution: int | None = None,
    channels: int | None = None,
    alpha: str = "white",
    threads: int | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """Every image under `folder` as uint8 N x C x R x R, with its path relative to the folder:
    decoded and cached as `load_folder` does, but an unreadable image is refused rather than
    skipped (the image sources of pairs must not lose one half of a pair)."""
    root, listing = _listing(folder)
    x, _, skipped = _decoded(root, listing, resolution, channels, alpha, None, threads)
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise DataError(f"cannot read image {root / skipped[0]}{more}")
    return torch.from_numpy(x), [relative for relative, _, _ in listing]


def _listing(folder: str | Path | None) -> tuple[Path, list[tuple[str, int, int]]]:
    """The folder and its images (`scan`), refused in one line when there are none."""
    if not folder:
        raise DataError("the folder source needs a folder: --data-dir DIR")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    listing = scan(root)
    if not listing:
        raise DataError(f"image folder {root} has no images ({', '.join(sorted(EXTENSIONS))})")
    return root, listing


def _decoded(
    root: Path,
    listing: list[tuple[str, int, int]],
    resolution: int | None,
    channels: int | None,
    alpha: str,
    classes: list[str] | None,
    threads: int | None,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(images, labels or None, "name: reason" of each unreadable file) of a listed folder, from
    the cache when it holds them."""
    names = [relative for relative, _, _ in listing]
    files = [os.path.join(root, relative) for relative in names]
    folders = [relative.rpartition("/")[0] or "." for relative in names]
    classes = _classes(root, folders, classes)
    options = {"resolution": resolution, "channels": channels, "alpha": alpha, "classes": classes}
    entry = key = None
    if len(files) >= cache.MIN_CACHED_IMAGES:
        entry = cache.entry_path(root, options)
        key = cache.content_key(listing, options)
        hit = cache.read_entry(entry, key)
        if hit is not None:
            x, y, header = hit
            return x, y, header.get("skipped", [])
    errors: list[str | None] = [None] * len(files)
    decoding = decoding_for(files, errors, resolution, channels, alpha, threads)
    x = decode(files, decoding, errors, threads)
    skipped = [f"{n}: {e}" for n, e in zip(names, errors, strict=True) if e]
    if len(x) == 0:  # refused by the caller, after it has warned of each
        return x, None, skipped
    index = {c: i for i, c in enumerate(classes)}
    labels = [index[f] for f, e in zip(folders, errors, strict=True) if e is None]
    y = np.array(labels, dtype=np.int64) if len(classes) > 1 else None
    if entry is not None and key is not None:
        info = {"skipped": skipped, "folder": str(root), "decoding": asdict(decoding)}
        cache.write_entry(entry, key, x, y, info)
    return x, y, skipped


def map_files(files: list[str], job: Callable[[str], object], threads: int | None = None) -> list:
    """job(file) for every file, on every core; the first file it fails on is refused in one
    line (the sources of pairs read every file or none)."""
    errors: list[str | None] = [None] * len(files)
    results = _readable(files, errors, job, threads)
    bad = [(f, e) for f, e in zip(files, errors, strict=True) if e]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(f"cannot read image {bad[0][0]} ({bad[0][1]}){more}")
    return results


def probe(path: str | Path) -> tuple[tuple[int, int], bool]:
    """(width and height, whether it is grey) from the file's header, without decoding it."""
    return _probe(path)


def flat_image(path: str | Path, channels: int, alpha: str = "white"):  # noqa: ANN201
    """The whole image as `load_folder` decodes it before it is squared: `channels` colours (L or
    RGB), its transparency composited on the `alpha` background (or kept as a channel)."""
    with _open(path) as im:
        im = _flatten(_eight_bit(im), "L" if channels == 1 else "RGB", alpha)
        im.load()
    return im


def square(im, resolution: int):  # noqa: ANN001, ANN201
    """A PIL image's centre square at `resolution` (`load_folder`'s resampling)."""
    return _square(im, resolution)


def _classes(root: Path, folders: list[str], classes: list[str] | None) -> list[str]:
    """The class names, sorted sub-folders unless the source names them (then no others)."""
    if classes is None:
        return sorted(set(folders))
    if not set(folders) <= set(classes):
        strange = sorted(set(folders) - set(classes))[0]
        raise DataError(f"{root} has images in '{strange}', not one of its classes")
    return classes


def _labels(y: np.ndarray | None) -> torch.Tensor | None:
    return None if y is None else torch.from_numpy(y)


def _warn_skipped(root: Path, skipped: list[str]) -> None:
    for line in skipped:
        warnings.warn(f"skipping unreadable image {root / line}", stacklevel=3)
