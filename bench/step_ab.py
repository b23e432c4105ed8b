"""One speed feature of gankit's CPU step, on and off: two `dcgan` trainers from the same weights,
one with the feature switched back to PyTorch's own code, alternating log intervals in one process.

    python bench/step_ab.py --data-dir ../shared/data/mnist --feature logit-matmul
    python bench/step_ab.py --data-dir ../shared/data/mnist --feature fused-adam

logit-matmul: D's logit layer as one matmul (`EdgeConv2d`'s full-kernel path) against oneDNN's
convolution. fused-adam: `gankit.optim.FusedAdam` against `torch.optim.Adam(fused=True)` (the
same kernel and numbers). Prints each side's images/s (the trainer's own figure, medians of the
repeats) and the ratio, and the median and range of the repeat-by-repeat ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from gankit.cli import keep_freed_memory
from gankit.data import load_dataset
from gankit.experiments.speed import interval_rate, speed_config
from gankit.train import Trainer


def without_logit_matmul(trainer: Trainer) -> None:
    trainer.nets["D"].net[-1].fast = False


def without_fused_adam(trainer: Trainer) -> None:
    for name, opt in trainer.recipe.optimizers.items():
        group = {
            k: v for k, v in opt.param_groups[0].items() if k not in ("params", "fused", "foreach")
        }
        trainer.recipe.optimizers[name] = torch.optim.Adam(
            opt.param_groups[0]["params"], fused=True, **group
        )


FEATURES = {"logit-matmul": without_logit_matmul, "fused-adam": without_fused_adam}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="MNIST files")
    ap.add_argument("--feature", choices=sorted(FEATURES), required=True)
    ap.add_argument("--steps", type=int, default=40, help="steps of each timed interval")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    keep_freed_memory()  # as in the CLI's process: fewer page faults, less noise

    def config():
        return speed_config(
            "dcgan", args.data_dir, args.steps, "cpu", "none", [f"train.threads={args.threads}"]
        )

    data = load_dataset(config().data)
    sides = {
        side: Trainer(
            config(),
            tempfile.mkdtemp(prefix="gankit-ab-"),
            progress=False,
            data=data,
            echo=lambda line: None,
        )
        for side in ("on", "off")
    }
    FEATURES[args.feature](sides["off"])
    for trainer in sides.values():
        interval_rate(trainer, args.steps)  # warm-up
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, trainer in sides.items():
            rates[side].append(interval_rate(trainer, args.steps))
    on, off = (statistics.median(rates[s]) for s in ("on", "off"))
    paired = sorted(a / b for a, b in zip(rates["on"], rates["off"], strict=True))
    print(
        f"dcgan, {args.feature}: on {on:.0f} img/s, off {off:.0f} img/s, {on / off:.3f}x; "
        f"repeat by repeat {statistics.median(paired):.3f}x "
        f"(range {paired[0]:.3f}-{paired[-1]:.3f}; {args.repeats} repeats of "
        f"{args.steps} steps, {args.threads} threads)"
    )


if __name__ == "__main__":
    main()
