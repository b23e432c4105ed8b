"""Does `train.compile` pay off here? Two trainers of one preset, eager and compiled, alternating
timed runs of the same length in one process (so a contended machine slows both alike).

    python bench/compile_ab.py --data-dir ../shared/data/mnist --preset dcgan --steps 30 --repeats 4

Trailing `key=value` options apply to both sides (e.g. `model.width=32`).

Prints the compile warm-up time and the median images/s of each side (the trainer's own figure).
`--memory-formats` runs each side with channels_last and contiguous tensors (four sides).
`--mode step` compiles the whole training step (train.compile=step) instead of the networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

import gankit
from gankit.data import load_dataset
from gankit.experiments.speed import interval_rate
from gankit.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--preset", default="dcgan")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=("nets", "step"),
        default="nets",
        help="what the compiled side compiles: the networks (default) or the whole step",
    )
    parser.add_argument(
        "--memory-formats",
        action="store_true",
        help="also the contiguous memory format (train.channels_last=false) for each side",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="options of both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_cfg = {"source": "mnist", "dir": args.data_dir}
    data = load_dataset(gankit.make_config(args.preset, args.overrides, data=data_cfg).data)

    def trainer(compiled: bool, channels_last: bool = True) -> Trainer:
        cfg = gankit.make_config(
            args.preset,
            args.overrides,
            data=data_cfg,
            train={
                "steps": 1,
                "log_every": args.steps,
                "sample_every": 10**9,
                "checkpoint_every": 10**9,
                "threads": args.threads,
                "compile": args.mode if compiled else False,
                "device": args.device,
                "channels_last": channels_last,
            },
        )
        return Trainer(
            cfg,
            tempfile.mkdtemp(prefix="gankit-compile-"),
            progress=False,
            data=data,
            echo=lambda line: None,
        )

    def rate(t: Trainer) -> float:
        return interval_rate(t, args.steps)

    sides = {"eager": trainer(False), "compiled": trainer(True)}
    if args.memory_formats:
        sides.update(
            {"eager_contiguous": trainer(False, False), "compiled_contiguous": trainer(True, False)}
        )
    start = time.perf_counter()
    rate(sides["compiled"])
    print(f"compile warm-up: {time.perf_counter() - start:.0f} s")
    for name, t in sides.items():
        if name != "compiled":
            rate(t)
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, t in sides.items():
            rates[name].append(rate(t))
    medians = {name: statistics.median(v) for name, v in rates.items()}
    print(
        json.dumps(
            {
                "preset": args.preset,
                "overrides": args.overrides,
                "mode": args.mode,
                "threads": args.threads,
                **{f"{k}_img_s": v for k, v in medians.items()},
                "ratio": round(medians["compiled"] / medians["eager"], 3),
                "runs": rates,
            }
        )
    )


if __name__ == "__main__":
    main()
