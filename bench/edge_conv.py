"""DCGAN's edge layers on the CPU: PyTorch's convolutions (oneDNN) against gankit's matmul forms
(`gankit.nets.fast_conv`), forward + backward as a training step runs them, interleaved repeats.

    python bench/edge_conv.py [--threads 1] [--repeats 9] [--channels 1 3]
    python bench/edge_conv.py --step --data-dir ../shared/data/mnist --threads 2

For the `dcgan` preset's shapes (batch 64, D's step on 128 = real + fake) and, with --channels 3,
the same networks on 32 x 32 RGB images. Prints milliseconds per call and the ratio. `--step`
times whole training steps of the `dcgan` preset on MNIST instead: two trainers from the same
weights, one with `stock_kernels`, alternating, and prints their first losses side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

from gankit.data import load_dataset
from gankit.experiments.speed import speed_config
from gankit.nets.fast_conv import EdgeConv2d, EdgeConvTranspose2d, stock_kernels
from gankit.train import Trainer

CL = torch.channels_last


def cases(channels: int, size: int, z_dim: int = 100, width: int = 32, batch: int = 64):
    """(name, layer, input, input needs a gradient) for each edge layer
    and the step that runs it."""
    # the preset: base -> 2 base -> 4 base; the last hidden stage has `width` channels
    base = size // 4
    project = EdgeConvTranspose2d(z_dim, 2 * width, base, 1, 0, bias=False)
    to_image = EdgeConvTranspose2d(width, channels, 4, 2, 1)
    from_image = EdgeConv2d(channels, width, 4, 2, 1, negative_slope=0.2)
    return [
        (
            f"G first layer (1x1 -> {base}x{base})",
            project,
            torch.randn(batch, z_dim, 1, 1),
            False,
        ),
        (
            f"G last layer (-> {channels} ch)",
            to_image,
            torch.randn(batch, width, size // 2, size // 2),
            True,
        ),
        (
            "D first layer + LeakyReLU, D step",
            from_image,
            torch.randn(2 * batch, channels, size, size),
            False,
        ),
        (
            "D first layer + LeakyReLU, G step",
            from_image,
            torch.randn(batch, channels, size, size),
            True,
        ),
    ]


def timed(layer: nn.Module, x: torch.Tensor, input_grad: bool, fast: bool) -> float:
    """One forward + backward; `fast=False` is PyTorch's own path (with EdgeConv2d's LeakyReLU
    applied after the convolution, as nn.LeakyReLU would)."""
    layer.fast = fast
    x = x.detach().requires_grad_(input_grad)
    start = time.perf_counter()
    out = layer(x)
    out.backward(torch.ones_like(out))
    return time.perf_counter() - start


def whole_step(data_dir: str, repeats: int, steps: int) -> None:
    def config():
        return speed_config(
            "dcgan", data_dir, steps, "cpu", "none", [f"train.threads={torch.get_num_threads()}"]
        )

    data = load_dataset(config().data)  # read once, for both trainers

    def trainer() -> Trainer:
        return Trainer(
            config(),
            tempfile.mkdtemp(prefix="gankit-edge-"),
            progress=False,
            data=data,
            echo=lambda line: None,
        )

    sides = {"gankit": trainer(), "pytorch": trainer()}
    for net in sides["pytorch"].nets.values():
        stock_kernels(net)
    rngs = {name: torch.Generator().manual_seed(0) for name in sides}
    for i in range(3):
        x, y = sides["gankit"]._batch(i)
        losses = {name: t.recipe.train_step(x, y, rngs[name], True) for name, t in sides.items()}
        print(
            f"step {i}: loss_d "
            + " / ".join(f"{float(v['loss_d']):.6f}" for v in losses.values())
            + ", loss_g "
            + " / ".join(f"{float(v['loss_g']):.6f}" for v in losses.values())
            + "  (gankit / pytorch)"
        )
    times: dict[str, list[float]] = {name: [] for name in sides}
    x, y = sides["gankit"]._batch(0)
    for _ in range(repeats):
        for name, t in sides.items():
            start = time.perf_counter()
            for _ in range(steps):
                t.recipe.train_step(x, y, rngs[name], False)
            times[name].append((time.perf_counter() - start) / steps * 1e3)
    ours, stock = statistics.median(times["gankit"]), statistics.median(times["pytorch"])
    print(
        f"dcgan step, ms: PyTorch's kernels {stock:.2f}, gankit's edge layers {ours:.2f}, "
        f"{stock / ours:.3f}x (medians of {repeats} interleaved repeats of {steps} steps)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--calls", type=int, default=20, help="calls per repeat")
    ap.add_argument("--channels", type=int, nargs="+", default=[1])
    ap.add_argument("--step", action="store_true", help="time whole dcgan training steps instead")
    ap.add_argument("--data-dir", help="MNIST files, for --step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    if args.step:
        if not args.data_dir:
            ap.error("--step needs --data-dir")
        return whole_step(args.data_dir, args.repeats, args.calls)
    print(
        f"{args.threads} thread(s), medians of {args.repeats} interleaved repeats of "
        f"{args.calls} calls, ms per call"
    )
    print(f"{'layer':40s} {'pytorch':>8s} {'gankit':>8s} {'ratio':>6s}")
    for channels in args.channels:
        size = 28 if channels == 1 else 32
        for name, layer, x, input_grad in cases(channels, size):
            layer = layer.to(memory_format=CL)
            x = x.to(memory_format=CL)
            times: dict[bool, list[float]] = {True: [], False: []}
            for fast in (True, False):
                for _ in range(3):
                    timed(layer, x, input_grad, fast)
            for _ in range(args.repeats):
                for fast in (True, False):
                    times[fast].append(
                        sum(timed(layer, x, input_grad, fast) for _ in range(args.calls))
                        / args.calls
                    )
            stock, ours = (
                statistics.median(times[False]) * 1e3,
                statistics.median(times[True]) * 1e3,
            )
            print(f"{name:40s} {stock:8.3f} {ours:8.3f} {stock / ours:5.2f}x")


if __name__ == "__main__":
    main()
