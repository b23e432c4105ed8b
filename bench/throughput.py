"""Training throughput: gankit's trainer against the plain PyTorch loop the seed code writes.

Both sides train the same networks (same architecture, same initial weights) on the MNIST files.
gankit's figure is the trainer's own images/s over one log interval (the loop with its batching,
steps and the log step's diagnostics; a run's start and final checkpoint excluded), the
reference's the wall time of its loop.
The reference is the loop of the PyTorch DCGAN example: a per-item `Dataset` doing ToTensor +
Normalize work in Python, a shuffling `DataLoader`, D ending in a Sigmoid with `nn.BCELoss`, and
default Adam. Timings alternate between the two sides in one process, and medians are reported.

    python bench/throughput.py --data-dir ../shared/data/mnist

Ends with one JSON line per preset: {"preset", "gankit_img_s", "reference_img_s", "ratio"}.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import gankit
from gankit.data import load_dataset
from gankit.data.mnist import IMAGES_MAGIC, read_idx
from gankit.train import Trainer


class SeedStyleMNIST(torch.utils.data.Dataset):
    """What `torchvision.datasets.MNIST(transform=Compose([ToTensor(), Normalize(0.5, 0.5)]))` does per item."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i].copy()).float().div(255.0).unsqueeze(0)
        return x.sub(0.5).div(0.5), 0


def reference_loop(G: nn.Module, D: nn.Module, z_dim: int, loader: DataLoader, cfg) -> callable:
    """The PyTorch DCGAN example's training step, returned as `run(n_steps)`."""
    D = nn.Sequential(D, nn.Sigmoid())
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=(cfg.optim.beta1, cfg.optim.beta2))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.optim.lr_g, betas=(cfg.optim.beta1, cfg.optim.beta2))
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
            b = real.size(0)
            D.zero_grad()
            label = torch.full((b,), 1.0)
            err_real = criterion(D(real).view(-1), label)
            err_real.backward()
            fake = G(torch.randn(b, z_dim, 1, 1))
            label.fill_(0.0)
            err_fake = criterion(D(fake.detach()).view(-1), label)
            err_fake.backward()
            opt_d.step()
            G.zero_grad()
            label.fill_(1.0)
            err_g = criterion(D(fake).view(-1), label)
            err_g.backward()
            opt_g.step()
            images += b
        return images

    return run


def measure(preset: str, data_dir: str, steps: int, repeats: int, overrides: list[str]) -> dict:
    cfg = gankit.make_config(preset, data={"source": "mnist", "dir": data_dir},
                             train={"steps": 1, "log_every": steps, "sample_every": 10**9,
                                    "checkpoint_every": 10**9}, overrides=overrides)
    data = load_dataset(cfg.data)
    trainer = Trainer(cfg, tempfile.mkdtemp(prefix="gankit-bench-"), progress=False, data=data,
                      echo=lambda line: None)
    nets = {n: copy.deepcopy(m).to(memory_format=torch.contiguous_format) for n, m in trainer.recipe.nets.items()}
    images = read_idx(next(Path(data_dir).glob("*images-idx3-ubyte*")), IMAGES_MAGIC)
    loader = DataLoader(SeedStyleMNIST(images), batch_size=cfg.optim.batch_size, shuffle=True, drop_last=True)
    G = nets["G"]
    reference = reference_loop(G, nets["D"], cfg.model.z_dim, loader, cfg)

    def gankit_rate() -> float:
        """The trainer's own images/s over one log interval of `steps` steps: the training loop,
        not the run's start and end (config file, final checkpoint)."""
        trainer.cfg.train.steps = trainer.step + steps
        trainer.run()
        last = (trainer.run_dir / "metrics.jsonl").read_text().splitlines()[-1]
        return float(json.loads(last)["img_per_s"])

    def reference_rate() -> float:
        start = time.perf_counter()
        n = reference(steps)
        return n / (time.perf_counter() - start)

    gankit_rate()  # warm up both sides (allocator, kernels)
    reference(max(5, steps // 5))
    rates: dict[str, list[float]] = {"gankit": [], "reference": []}
    for _ in range(repeats):
        rates["gankit"].append(gankit_rate())
        rates["reference"].append(reference_rate())
    g, r = statistics.median(rates["gankit"]), statistics.median(rates["reference"])
    return {"preset": preset, "gankit_img_s": round(g, 1), "reference_img_s": round(r, 1), "ratio": round(g / r, 3),
            "batch_size": cfg.optim.batch_size, "threads": torch.get_num_threads(), "repeats": repeats,
            "steps_per_repeat": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    parser.add_argument("--presets", default="seed-mlp,dcgan")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="key=value applied to every preset")
    args = parser.parse_args()
    results = [measure(p, args.data_dir, args.steps, args.repeats, args.overrides) for p in args.presets.split(",")]
    print(f"{'preset':<10} {'gankit img/s':>13} {'reference img/s':>16} {'ratio':>7}")
    for r in results:
        print(f"{r['preset']:<10} {r['gankit_img_s']:>13.0f} {r['reference_img_s']:>16.0f} {r['ratio']:>7.2f}")
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
