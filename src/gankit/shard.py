"""Per-sample random draws that K data-parallel ranks split exactly.

Under torchrun every rank holds the same noise stream (the trainer seeds it alike) and trains on
its slice of each global batch. A per-sample draw (latents, a penalty's interpolation points, an
augmentation, a dropout mask, a table row's condition) is then drawn for the whole global batch on
every rank and each rank keeps its rows: K ranks of batch B consume the stream exactly as one
process of batch K x B, and see the same numbers for the same samples. A rank that drew only its
own B rows would repeat rank 0's draws, and the result would no longer match one process.
`shard` is (rank, ranks); (0, 1) is one process, where each helper is the plain draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

Shard = tuple[int, int]
ONE_PROCESS: Shard = (0, 1)


def rank_draw(shard: Shard, n: int, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """This rank's `n` rows of a draw for the global batch (`n` x ranks rows, from the stream every
    rank shares). With one process it is `draw(n)`, the same numbers as without sharding."""
    rank, ranks = shard
    if ranks == 1:
        return draw(n)
    return draw(n * ranks)[rank * n : (rank + 1) * n]


@contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """The global generators of the CPU and of `device` seeded from `seed` inside, restored after:
    a recipe seeds them from its saved noise stream for RankDropout."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class RankDropout(nn.Module):
    """Dropout whose mask is this rank's slice of the global batch's mask (`shard`, set by the
    recipe), drawn on the input's device from its global generator, which the recipe seeds from
    its saved noise stream (`seeded_global_rng`): the same masks on every rank and after a resume.
    nn.Dropout draws a mask for the rank's rows alone."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.shard: Shard = ONE_PROCESS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = (
            rank_draw(self.shard, len(x), lambda m: torch.rand(m, *x.shape[1:], device=x.device))
            >= self.p
        )
        return x * keep * (1.0 / (1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ShardedRecipe:
    """A recipe's `shard`, which the trainer sets under torchrun: the recipe slices its own draws
    with it, and setting it hands it to the RankDropout layers of the recipe's `nets`."""

    _shard: Shard = ONE_PROCESS

    @property
    def shard(self) -> Shard:
        return self._shard

    @shard.setter
    def shard(self, shard: Shard) -> None:
        self._shard = shard
        set_shard(self.nets, shard)  # type: ignore[attr-defined]


def set_shard(modules: dict[str, nn.Module] | list[nn.Module], shard: Shard) -> None:
    """Hand `shard` to every RankDropout inside these networks."""
    for net in modules.values() if isinstance(modules, dict) else modules:
        for m in net.modules():
            if isinstance(m, RankDropout):
                m.shard = shard
