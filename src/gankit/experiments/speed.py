"""`gankit bench speed`: gankit's trainer against the plain PyTorch loop a user would otherwise
write, on the same networks, in the same run (`quality.py` races presets for quality).

The reference loop is the one of the seed code and the PyTorch DCGAN example: a per-item `Dataset`
doing ToTensor + Normalize work in Python, a shuffling `DataLoader`, D ending in a Sigmoid with
`nn.BCELoss` (real and fake terms backpropagated separately), default Adam, and G's step
backpropagating into D's weights too; with `--amp`, PyTorch's AMP recipe around that step. Both
sides start from the same weights. Timings alternate between the two sides (so a contended machine
slows both alike) and medians are reported.
"""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import config as config_mod
from ..errors import ConfigError
from ..nets.fast_conv import stock_kernels

SPEED_PRESETS = ("seed-mlp", "dcgan", "hinge-resnet")
#: every family's sampling speed is measured; other families add their preset names here
SAMPLING_PRESETS = ("seed-mlp", "dcgan", "hinge-resnet", "vae", "ddpm")
SAMPLING_N = 2000
#: a diffusion sample costs one network pass per sampler step (DDIM-50 by default): fewer of them
DIFFUSION_SAMPLING_SHARE = 20


class PerItemMNIST(torch.utils.data.Dataset):
    """What `torchvision.datasets.MNIST(transform=Compose([ToTensor(), Normalize(0.5, 0.5)]))`
    does for each item."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i].copy()).float().div(255.0).unsqueeze(0)
        return x.sub(0.5).div(0.5), 0


class ReferenceGAN:
    """The seed code's / PyTorch DCGAN example's training step on given G and D (weights copied,
    every layer on PyTorch's own kernels: `nets.fast_conv.stock_kernels`)."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        z_dim: int,
        lr: float,
        betas: tuple[float, float],
        device: torch.device,
        amp: str = "none",
    ):
        self.G = (
            stock_kernels(copy.deepcopy(G))
            .to(device, memory_format=torch.contiguous_format)
            .train()
        )
        self.D = nn.Sequential(stock_kernels(copy.deepcopy(D)), nn.Sigmoid()).to(
            device, memory_format=torch.contiguous_format
        )
        self.z_dim, self.device = z_dim, device
        #: where the loop's noise comes from: the global RNG as in the example, or (set) a
        #: generator of its own, so a run repeats from its seed whatever else draws numbers
        self.noise: torch.Generator | None = None
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        # with AMP, PyTorch's AMP recipe: the networks under autocast, BCELoss (which autocast
        # refuses) on float32 outside it, and for fp16 a GradScaler
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.D(x).view(-1).float()

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def _step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()

    def step(
        self, real: torch.Tensor, z: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One D step and one G step; returns (loss_d, loss_g) as the example logs them."""
        b = real.size(0)
        if z is None and self.noise is not None:
            z = torch.randn(b, self.z_dim, generator=self.noise).to(self.device)
        z = torch.randn(b, self.z_dim, device=self.device) if z is None else z
        self.D.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        err_real = self.criterion(self._d(real), label)
        self._backward(err_real)
        with self._autocast():
            fake = self.G(z)
        label.fill_(0.0)
        err_fake = self.criterion(self._d(fake.detach()), label)
        self._backward(err_fake)
        self._step(self.opt_d)
        self.G.zero_grad()
        label.fill_(1.0)
        err_g = self.criterion(self._d(fake), label)
        self._backward(err_g)
        self._step(self.opt_g)
        return (err_real + err_fake).detach(), err_g.detach()

    def runner(self, loader: DataLoader) -> Callable[[int], int]:
        """`run(n_steps) -> images`, reading the loader as the example does (epochs restart)."""
        batches = iter(loader)

        def run(n_steps: int) -> int:
            nonlocal batches
            images = 0
            for _ in range(n_steps):
                try:
                    real, _ = next(batches)
                except StopIteration:
                    batches = iter(loader)
                    real, _ = next(batches)
                self.step(real.to(self.device))
                images += real.size(0)
            return images

        return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 1.0
) -> float:
    """The machine's measured matmul FLOP/s (square matrices, best of repeats) at the current
    thread count: the ceiling a training step's FLOP/s is a share of."""
    n = 1024 if device.type == "cpu" else 8192
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    best, end = float("inf"), time.perf_counter() + seconds
    torch.mm(a, b)
    while time.perf_counter() < end or best == float("inf"):
        _sync(device)
        start = time.perf_counter()
        for _ in range(4 if device.type == "cpu" else 20):
            torch.mm(a, b)
        _sync(device)
        best = min(best, (time.perf_counter() - start) / (4 if device.type == "cpu" else 20))
    return 2 * n**3 / best


def step_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call (matmuls and convolutions, forward and backward), counted by PyTorch."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def interval_rate(trainer, steps: int) -> float:
    """The trainer's own images/s over `steps` more steps (one log interval, as `metrics.jsonl`
    records it)."""
    trainer.train_steps(steps)
    return float(
        json.loads((trainer.run_dir / "metrics.jsonl").read_text().splitlines()[-1])["img_per_s"]
    )


def speed_config(
    preset: str, data_dir: str, steps: int, device: str, amp: str, overrides: list[str]
):
    return config_mod.build(
        preset,
        overrides=overrides,
        data={"source": "mnist", "dir": data_dir},
        train={
            "steps": steps,
            "minutes": None,
            "log_every": steps,
            "sample_every": 10**9,
            "checkpoint_every": 10**9,
            "device": device,
            "amp": amp,
        },
    )


def measure_training(
    preset: str,
    data,
    images: np.ndarray,
    steps: int,
    repeats: int,
    device: str,
    amp: str,
    overrides: list[str],
    peak: float,
) -> dict[str, Any]:
    """gankit's images/s (the trainer's own figure over one log interval of `steps` steps) and the
    reference loop's, alternating, plus FLOPs of a step and the share of the matmul peak."""
    from ..train import Trainer

    cfg = speed_config(preset, str(data.name), steps, device, amp, overrides)
    trainer = Trainer(
        cfg,
        tempfile.mkdtemp(prefix="gankit-speed-"),
        progress=False,
        data=data,
        echo=lambda line: None,
    )
    dev = trainer.device
    o = cfg.optim
    ref = ReferenceGAN(
        trainer.nets["G"], trainer.nets["D"], cfg.model.z_dim, o.lr_g, (o.beta1, o.beta2), dev, amp
    )
    loader = DataLoader(PerItemMNIST(images), batch_size=o.batch_size, shuffle=True, drop_last=True)
    reference = ref.runner(loader)
    x, y = trainer.batch(0)
    flops = step_flops(
        lambda: trainer.recipe.train_step(x, y, torch.Generator().manual_seed(0), False)
    )
    ref_flops = step_flops(lambda: ref.step(x.contiguous()))

    def reference_rate() -> float:
        _sync(dev)
        start = time.perf_counter()
        n = reference(steps)
        _sync(dev)
        return n / (time.perf_counter() - start)

    interval_rate(trainer, steps)  # warm up both sides (allocator, kernels, compilation)
    reference(max(5, steps // 5))
    rates: dict[str, list[float]] = {"gankit": [], "reference": []}
    for _ in range(repeats):
        rates["gankit"].append(interval_rate(trainer, steps))
        rates["reference"].append(reference_rate())
    g, r = statistics.median(rates["gankit"]), statistics.median(rates["reference"])
    achieved = flops * g / o.batch_size
    return {
        "preset": preset,
        "gankit_img_s": round(g, 1),
        "reference_img_s": round(r, 1),
        "ratio": round(g / r, 3),
        "gflop_per_step": round(flops / 1e9, 3),
        "reference_gflop_per_step": round(ref_flops / 1e9, 3),
        "gankit_gflop_s": round(achieved / 1e9, 2),
        "peak_share": round(achieved / peak, 4),
        "batch_size": o.batch_size,
        "repeats": repeats,
        "steps_per_repeat": steps,
        "gankit_runs": [round(v, 1) for v in rates["gankit"]],
        "reference_runs": [round(v, 1) for v in rates["reference"]],
    }


@torch.no_grad()
def measure_sampling(preset: str, device: str, amp: str, n: int = SAMPLING_N) -> dict[str, Any]:
    """Images/s of `generate` from freshly initialised weights (speed does not depend on them)."""
    from ..recipes.base import generate_in_chunks
    from ..train import build_model
    from ..train.distributed import resolve_device

    cfg = config_mod.build(preset)
    if cfg.recipe == "diffusion":
        n = max(1, n // DIFFUSION_SAMPLING_SHARE)
    dev = resolve_device(device)
    recipe = build_model(cfg, (1, 28, 28), 10)
    nets = {n: m.to(dev).eval() for n, m in recipe.nets.items()}
    latents = recipe.latents(n, torch.Generator().manual_seed(0)).to(dev)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    times = []
    for _ in range(3):
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            _sync(dev)
            start = time.perf_counter()
            generate_in_chunks(recipe, latents, nets=nets)
            _sync(dev)
        times.append(time.perf_counter() - start)
    sampler = (
        f"{cfg.diffusion.sampler}-{cfg.diffusion.sampling_steps}"
        if cfg.recipe == "diffusion"
        else "one pass"
    )
    return {
        "preset": preset,
        "family": cfg.recipe,
        "sampler": sampler,
        "samples": n,
        "sample_img_s": round(n / min(times), 1),
    }


def run_speed(
    data_dir: str,
    presets: list[str],
    *,
    steps: int = 100,
    repeats: int = 5,
    device: str = "cpu",
    amp: str = "none",
    overrides: list[str] | None = None,
    sampling_n: int = SAMPLING_N,
) -> dict[str, Any]:
    from ..data import load_dataset
    from ..data.mnist import IMAGES_MAGIC, read_idx
    from ..train.distributed import resolve_device

    for p in presets:
        config_mod.from_preset(p)  # unknown names fail first
    if not data_dir:
        raise ConfigError("the speed benchmark needs --data-dir, the folder of the MNIST files")
    files = sorted(Path(data_dir).glob("*images-idx3-ubyte*"))
    if not files:
        raise ConfigError(f"no MNIST image file (*images-idx3-ubyte*) in {data_dir}")
    data = load_dataset(config_mod.DataConfig(source="mnist", dir=data_dir))
    data.name = data_dir  # speed_config reads the folder from here
    images = read_idx(files[0], IMAGES_MAGIC)
    dev = resolve_device(device)
    threads = speed_config(
        presets[0], data_dir, steps, device, amp, list(overrides or [])
    ).train.threads
    if threads:
        torch.set_num_threads(threads)  # the peak at the thread count the steps will run with
    peak_dtype = (
        torch.bfloat16 if amp == "bf16" else torch.float16 if amp == "fp16" else torch.float32
    )
    peak = matmul_peak(dev, peak_dtype)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = [
        measure_training(p, data, images, steps, repeats, device, amp, list(overrides or []), peak)
        for p in presets
    ]
    sampling = [
        measure_sampling(p, device, amp, sampling_n)
        for p in SAMPLING_PRESETS
        if p in config_mod.PRESETS
    ]
    return {
        "protocol": "speed",
        "device": str(dev),
        "amp": amp,
        "overrides": list(overrides or []),
        "threads": torch.get_num_threads(),
        "matmul_peak_gflop_s": round(peak / 1e9, 1),
        "training": rows,
        "sampling": sampling,
        "wall_minutes": round((time.perf_counter() - wall) / 60, 2),
        "cpu_minutes": round((time.process_time() - cpu) / 60, 2),
    }


def format_speed(result: dict[str, Any]) -> str:
    lines = [
        f"training images/s on {result['device']} (amp {result['amp']} on both sides, "
        f"{result['threads']} threads), medians of interleaved repeats; matmul peak "
        f"{result['matmul_peak_gflop_s']:.0f} GFLOP/s",
        f"{'preset':<14} {'gankit':>8} {'reference':>10} {'ratio':>6} {'GFLOP/step':>11} "
        f"{'GFLOP/s':>8} {'peak %':>7}",
    ]
    for r in result["training"]:
        lines.append(
            f"{r['preset']:<14} {r['gankit_img_s']:>8.0f} {r['reference_img_s']:>10.0f} "
            f"{r['ratio']:>6.2f} {r['gflop_per_step']:>11.3f} {r['gankit_gflop_s']:>8.1f} "
            f"{100 * r['peak_share']:>6.1f}%"
        )
    lines.append(
        "sampling images/s: "
        + ", ".join(
            f"{s['preset']} ({s['family']}, {s['sampler']}) {s['sample_img_s']:.4g}"
            for s in result["sampling"]
        )
    )
    return "\n".join(lines)
