"""Process settings a run trains under: deterministic cuDNN kernels, flushed subnormal floats,
torch's thread count, and the C allocator's handling of freed memory. Each is set for a reason
the docstring gives; the context managers give the process its settings back afterwards."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

#: the user's own allocator settings, which `keep_freed_memory` leaves alone
ALLOCATOR_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)


@contextmanager
def deterministic_cudnn(device: torch.device) -> Iterator[None]:
    """cuDNN's fastest convolution kernels add in a varying order (atomics, autotuned choices), so
    two identical CUDA runs drift apart; for the whole run, ask it for deterministic kernels, as
    exact resume needs, and give the process its settings back afterwards."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    saved = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Arithmetic on subnormal floats (below 1.2e-38) is many times slower on a CPU, and training
    makes them: weight decay shrinks the weights of units the loss no longer uses, and Adam's
    moments follow their tiny gradients. Here they are flushed to zero; PyTorch's default (off; it
    has no getter) is restored after. The flag is per thread, and torch's worker threads take it
    when they start: a run covers its own thread, and the CLI, which holds it from before a
    command's first parallel op, every thread."""
    if not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextmanager
def run_settings(device: torch.device, deterministic: bool = True) -> Iterator[None]:
    """What a training run holds while it trains: subnormal floats flushed on the CPU, and on CUDA
    cuDNN's deterministic kernels (unless `deterministic` is False, which gives up exact resume)."""
    with (
        deterministic_cudnn(device) if deterministic else nullcontext(),
        flush_denormals() if device.type == "cpu" else nullcontext(),
    ):
        yield


def set_threads(threads: int | None) -> None:
    """torch's intra-op thread count for the process (`train.threads`); None or 0 keeps torch's
    own choice."""
    if threads:
        torch.set_num_threads(threads)


def glibc() -> bool:
    """Whether the interpreter runs on glibc, whose allocator `keep_freed_memory` tunes."""
    try:  # macOS lacks the name (ValueError), musl refuses it (OSError)
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def keep_freed_memory() -> None:
    """glibc hands blocks above 128 KB back to the kernel when they are freed, so every step's
    activations and gradients come back as fresh pages: hundreds of page faults a step on the CPU.
    A process that owns itself (the CLI) keeps freed blocks of up to 32 MB for reuse, as PyTorch's
    CUDA allocator does (the process keeps its peak memory). Not glibc, or allocator settings of
    the user's own in the environment: nothing."""
    if not glibc() or any(v in os.environ for v in ALLOCATOR_SETTINGS):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    # setting either ends glibc's own adjustment of both (freeing a large block raises them):
    # set both
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest
    mallopt(m_trim_threshold, 1 << 30)
