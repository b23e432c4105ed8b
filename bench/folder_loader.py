"""First and cached start of the image-folder loader: every image decoded on all cores and written
to the decode cache, then the same folder loaded again from that cache.

    python bench/folder_loader.py CIFAR/train [--resolution 32] [--serial]
        [--json docs/results/folder_loader.json]

Why: a 50,000-image folder was decoded again at every start, on one core. `--serial` also times
the first start on one thread, for the gain from the other cores. The cache goes to a fresh
temporary folder (GANKIT_CACHE), so the first start is a real first start; every file is read
once before (`read_files_s`), so each timing finds the files in the OS page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from gankit.data import folder


def _timed(
    root: str, resolution: int | None, threads: int | None = None
) -> tuple[torch.Tensor, float, float]:
    """(images, wall seconds, this process's CPU seconds) of one `load_folder`."""
    wall, cpu = time.perf_counter(), time.process_time()
    data = folder.load_folder(root, resolution, threads=threads)
    return data.x, time.perf_counter() - wall, time.process_time() - cpu


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--resolution", type=int, default=None, help="default: the images' own size")
    p.add_argument("--serial", action="store_true", help="also time a first start on one thread")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    result: dict = {
        "folder": args.folder,
        "cores": folder.workers(),
        "python": sys.version.split()[0],
    }
    wall = time.perf_counter()  # every file read once, so all timings below find them in the
    for path in folder.image_files(Path(args.folder)):  # OS page cache (the order is fair)
        path.read_bytes()
    result["read_files_s"] = round(time.perf_counter() - wall, 2)
    before = _peak_mb()
    with tempfile.TemporaryDirectory() as cache_dir:
        os.environ["GANKIT_CACHE"] = cache_dir
        x, wall, cpu = _timed(args.folder, args.resolution)
        result["first_start"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
        result["images"], result["shape"] = len(x), list(x.shape[1:])
        result["uint8_mb"] = round(x.numel() / 2**20, 1)
        result["peak_rss_growth_mb"] = round(_peak_mb() - before, 1)
        cached, wall, cpu = _timed(args.folder, args.resolution)
        result["cached_start"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
        result["cached_equals_decoded"] = bool(torch.equal(cached, x))
        result["cache_file_mb"] = round(
            sum(f.stat().st_size for f in os.scandir(os.path.join(cache_dir, "images"))) / 2**20, 1
        )
        del x, cached
    if args.serial:
        with tempfile.TemporaryDirectory() as cache_dir:
            os.environ["GANKIT_CACHE"] = cache_dir
            _, wall, cpu = _timed(args.folder, args.resolution, threads=1)
        result["first_start_one_thread"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
