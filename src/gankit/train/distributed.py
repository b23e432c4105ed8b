"""Devices and data-parallel training over `torch.distributed`, for the one trainer.

Under `torchrun` (RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT in the environment) each
process trains on its own slice of every global batch. Recipes run their own backward passes and
optimizer steps, and the WGAN-GP and R1 penalties take double backward, which DDP's reducer
handles badly; so nothing is wrapped in `DistributedDataParallel`: an optimizer step pre-hook
all-reduces (averages) the flattened gradients right before every optimizer step, for any recipe
(under fp16 the GradScaler does it, before its overflow check),
and float buffers (batch-norm statistics) are broadcast from rank 0 after each step, as DDP does
with `broadcast_buffers=True`. Weights are broadcast from rank 0 once at the start, so every rank
holds the same weights at every step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..compiling import outside_compiled_code
from ..errors import ConfigError


def resolve_device(name: str, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """`auto` is CUDA when present; under torchrun `cuda` means this process's GPU (LOCAL_RANK)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(name, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ConfigError(f"unknown device '{name}' (choose from: auto, cpu, cuda, cuda:N)")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"train.device={name}, but this PyTorch sees no CUDA device (use cpu or auto)"
            )
        index = (
            int(name.split(":")[1])
            if ":" in name
            else (local_rank if distributed else torch.cuda.current_device())
        )
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"train.device={name}: there are only {torch.cuda.device_count()} CUDA devices"
            )
        return torch.device("cuda", index)
    return torch.device("cpu")


@dataclass
class Group:
    """This process's place in the run: rank 0 of 1 without torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this trainer initialised the process group (and tears it down)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def world_size() -> int:
    """How many processes torchrun started for this run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a torchrun run, or a process on its own."""
    return int(os.environ.get("RANK", "0")) == 0


def join_from_env(device_name: str) -> tuple[Group, torch.device]:
    """Join the torchrun group named by the environment (gloo on CPU, NCCL on GPU), or run alone."""
    world = world_size()
    if world <= 1:
        return Group(), resolve_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank, distributed=True)
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world
        )
        owns = True
    return Group(dist.get_rank(), dist.get_world_size(), local_rank, owns), device


def broadcast_tensors(tensors: Iterable[torch.Tensor], src: int = 0) -> None:
    """Copy rank `src`'s values into these tensors on every rank, one flat message per dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    with torch.no_grad():
        for group in by_dtype.values():
            flat = _flatten_dense_tensors([t.detach() for t in group])
            dist.broadcast(flat, src)
            for t, v in zip(group, _unflatten_dense_tensors(flat, group), strict=True):
                t.copy_(v)


def broadcast_modules(modules: Iterable[nn.Module]) -> None:
    broadcast_tensors([t for m in modules for t in [*m.parameters(), *m.buffers()]])


def float_buffers(modules: Iterable[nn.Module]) -> list[torch.Tensor]:
    return [b for m in modules for b in m.buffers() if b.is_floating_point()]


@outside_compiled_code
def average_gradients(optimizer: torch.optim.Optimizer, world: int) -> None:
    """Replace every rank's gradients by the mean over ranks (the gradient a single process would
    compute on the global batch), in one all-reduce. Parameters without a gradient are left out on
    every rank alike: recipes take the same code path on every rank. Kept out of compiled code
    (train.compile=step traces the optimizer step and its hooks; Dynamo cannot trace the flat
    all-reduce's unflattening)."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(world)
    for g, v in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(v)


def average_gradients_before_step(optimizer: torch.optim.Optimizer, world: int):
    """Install the pre-hook that makes every rank step with the mean of all ranks' gradients."""
    return optimizer.register_step_pre_hook(lambda opt, args, kwargs: average_gradients(opt, world))


class AveragingGradScaler(torch.amp.GradScaler):
    """fp16 under torchrun: the ranks' gradients are averaged while still scaled, as `step` begins
    and before its inf/NaN check, so an overflow on any rank reaches every rank (inf and NaN
    survive the sum) and all ranks skip the same steps and keep the same scale. The step pre-hook
    cannot do this: it runs after each rank's own check (fused Adam takes the check's result as
    an argument)."""

    def __init__(self, device: str, world: int):
        super().__init__(device)
        self.world = world

    def step(self, optimizer: torch.optim.Optimizer, *args, **kwargs):
        average_gradients(optimizer, self.world)
        return super().step(optimizer, *args, **kwargs)


def any_rank(flag: bool | torch.Tensor, device: torch.device) -> bool:
    """True on every rank when it is true on any (stop requests, budgets, NaN): all ranks must
    leave the loop at the same step or the next collective waits forever."""
    return any_rank_each([flag], device)[0]


def any_rank_each(flags: list[bool | torch.Tensor], device: torch.device) -> list[bool]:
    """`any_rank` of several flags in one all-reduce (one collective
    per log step, not one a flag)."""
    t = torch.stack([torch.as_tensor(f, dtype=torch.int32).reshape(()).to(device) for f in flags])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def mean_over_ranks(
    stats: dict[str, torch.Tensor], device: torch.device
) -> dict[str, torch.Tensor]:
    """A log step's scalars averaged over the ranks, in one all-reduce: every loss and D's view is
    a mean over the rank's slice, so the mean of the ranks' is the global batch's; the rest
    (gradient norms) become the mean of the ranks' values. `_` keys (samples) stay this rank's."""
    keys = [k for k in stats if not k.startswith("_")]
    if not keys:
        return stats
    flat = torch.stack([stats[k].detach().to(device, torch.float32).reshape(()) for k in keys])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    return {**stats, **dict(zip(keys, flat.unbind(), strict=True))}


def same_on_every_rank(values: torch.Tensor, device: torch.device) -> bool:
    """True on every rank when every rank's `values` equal rank 0's exactly."""
    mine = values.to(device)
    reference = mine.clone()
    dist.broadcast(reference, 0)
    return not any_rank(not torch.equal(mine, reference), device)


def rank_slice(index: torch.Tensor, chunks: int, rank: int, world: int) -> torch.Tensor:
    """Rank `rank`'s share of a global batch of indices made of `chunks` consecutive batches (one a
    critic step): the r-th K-th of each, so K ranks of batch B see what one process of batch K x B
    would, batch for batch."""
    if world == 1:
        return index
    return index.view(chunks, world, -1)[:, rank].reshape(-1)
