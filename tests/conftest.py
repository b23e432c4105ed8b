"""Shared fixtures: tiny, fast configs and the shared MNIST files; the fuzz tests' budgets."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from fuzzing import CI_EXAMPLES, LONG_FACTOR, write_counts
from hypothesis import HealthCheck, settings

import gankit
from gankit.config import Config

torch.set_num_threads(min(2, os.cpu_count() or 1))

# The fuzz tests (tests/fuzzing.py): a small fixed budget, derandomised and without an example
# database, so every run of the suite tries the same inputs; `GANKIT_FUZZ=long` (or
# `--hypothesis-profile long`) for the benchmark run, bench/fuzz.py.
_FUZZ = dict(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=CI_EXAMPLES, **_FUZZ)
settings.register_profile("long", max_examples=CI_EXAMPLES * LONG_FACTOR, **_FUZZ)
settings.load_profile(os.environ.get("GANKIT_FUZZ", "ci"))

#: a CTGAN/TVAE small enough for a test to fit a table in seconds
TINY_TABLE = [
    "model.hidden=[16]",
    "model.d_hidden=[16]",
    "model.z_dim=8",
    "optim.batch_size=20",
    "model.pack=2",
    "train.threads=1",
]

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def gankit_together(*commands: list) -> list[subprocess.CompletedProcess]:
    """Independent `gankit` commands, four at a time, their results in order: a command that fails
    early spends nearly all its time importing torch, which two cores do side by side."""

    def run(command: list) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "gankit", *map(str, command)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run, commands))


def tiny_config(preset: str = "dcgan", steps: int = 20, **train) -> Config:
    """A few-second run on the embedded 8x8 digits with narrow networks, on the CPU unless a test
    names another device (so the suite asserts the same numbers on a machine with a GPU)."""
    overrides = {
        "data": {"source": "digits"},
        "train": {
            "steps": steps,
            "log_every": 5,
            "sample_every": 10,
            "checkpoint_every": 10,
            "device": "cpu",
            **train,
        },
    }
    if preset == "dcgan":
        overrides["model"] = {"width": 8}
    else:
        overrides["model"] = {"hidden": [32, 64]}
    return gankit.make_config(preset, **overrides)


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("shared MNIST files not found")
    return MNIST_DIR


def pytest_sessionfinish(session) -> None:  # noqa: ANN001
    write_counts()
