"""Where a training step's time goes, on a GPU above all: how busy the device is (a step bound by
kernel launches leaves it idle) and, on CUDA, what deterministic cuDNN kernels cost.

    python bench/step_profile.py --data-dir ../shared/data/mnist --device cuda
    python bench/step_profile.py --data-dir ../shared/data/mnist --device cpu \
        --presets dcgan --amp none
    python bench/step_profile.py --data-dir ../shared/data/mnist --device cuda model.width=32

For each preset and AMP setting: on CUDA, gankit's own images/s (median of 3 intervals of --steps
steps) with the deterministic cuDNN kernels the trainer runs by default (exact resume needs them)
against cuDNN's defaults; then a `torch.profiler` record of 20 training steps: wall time a step
(the profiler slows the host side), device-busy time a step and its share, kernels a step, and the
operators that cost the host the most.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from gankit.experiments.speed import _sync, interval_rate, speed_config
from gankit.train import Trainer
from gankit.train.runtime import run_settings

PROFILED_STEPS = 20


def make_trainer(preset: str, args, amp: str, steps: int) -> Trainer:
    cfg = speed_config(preset, args.data_dir, steps, args.device, amp, args.overrides)
    return Trainer(
        cfg, tempfile.mkdtemp(prefix="gankit-profile-"), progress=False, echo=lambda line: None
    )


def median_rate(preset: str, args, amp: str, deterministic: bool) -> float:
    trainer = make_trainer(preset, args, amp, args.steps)
    trainer.deterministic_cudnn = deterministic
    # warm-up (allocator, cuDNN's choices); one log interval each
    interval_rate(trainer, args.steps)
    return statistics.median(interval_rate(trainer, args.steps) for _ in range(3))


def profile_steps(preset: str, args, amp: str) -> tuple[dict[str, float], str]:
    trainer = make_trainer(preset, args, amp, 10)
    interval_rate(trainer, 10)
    x, y = trainer.batch(0)
    cuda = trainer.device.type == "cuda"
    _sync(trainer.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    # as in the trainer's run: subnormal floats flushed on the CPU, cuDNN's deterministic kernels
    # on CUDA
    with run_settings(trainer.device), profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(PROFILED_STEPS):  # the trainer's step: autocast, the fp16 scaler's update
            trainer.train_step(x, y)
            trainer.step += 1
        _sync(trainer.device)
        wall = (time.perf_counter() - start) / PROFILED_STEPS
    events = prof.key_averages()
    # the device's own events (kernels, copies): an operator's row repeats its kernels' time
    kernels = [e for e in events if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    busy = sum(e.self_device_time_total for e in kernels) / PROFILED_STEPS / 1e6
    # copies and sets included
    summary = {
        "wall_ms": 1e3 * wall,
        "device_busy_ms": 1e3 * busy,
        "busy_share": busy / wall,
        "kernels_per_step": sum(e.count for e in kernels) / PROFILED_STEPS,
    }
    return summary, events.table(
        sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=48
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder of the MNIST files")
    p.add_argument("--device", default="cuda")
    p.add_argument("--presets", default="dcgan,hinge-resnet")
    p.add_argument("--amp", default="none,bf16", help="comma list of none|bf16|fp16")
    p.add_argument("--steps", type=int, default=200, help="steps of each timed interval")
    p.add_argument("--rows", type=int, default=15, help="operators listed per profile")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="options of every preset")
    args = p.parse_args()
    for preset in args.presets.split(","):
        for amp in args.amp.split(","):
            name = f"{preset} amp {amp}"
            if args.device.startswith("cuda"):
                det, default = (median_rate(preset, args, amp, d) for d in (True, False))
                print(
                    f"{name}: deterministic cuDNN {det:.0f} img/s, "
                    f"default cuDNN {default:.0f} img/s "
                    f"({default / det:.3f}x)",
                    flush=True,
                )
            s, table = profile_steps(preset, args, amp)
            busy = (
                f", device busy {s['device_busy_ms']:.2f} ms ({100 * s['busy_share']:.0f}%), "
                f"{s['kernels_per_step']:.0f} kernels and copies a step"
                if args.device.startswith("cuda")
                else ""
            )
            print(f"{name}: {s['wall_ms']:.2f} ms a step under the profiler{busy}")
            print(table, flush=True)


if __name__ == "__main__":
    main()
