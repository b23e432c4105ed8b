"""Per-sample draws split across ranks: each rank's share is its slice of one process's draw."""

import pytest
import torch
from torch import nn

from gankit.shard import RankDropout, rank_draw, set_shard


def test_each_rank_keeps_its_slice_of_the_global_draw():
    draw = lambda m: torch.randn(m, 3, generator=torch.Generator().manual_seed(5))  # noqa: E731
    whole = draw(8)
    parts = [rank_draw((r, 4), 2, draw) for r in range(4)]
    assert torch.equal(torch.cat(parts), whole)
    assert torch.equal(rank_draw((0, 1), 8, draw), whole)


def _masks(shard, n, seed=0):
    drop = RankDropout(0.5)
    drop.shard = shard
    torch.manual_seed(seed)
    return drop(torch.ones(n, 64))


def test_rank_dropout_masks_are_slices_of_the_global_batchs_mask():
    whole = _masks((0, 1), 6)
    assert torch.equal(torch.cat([_masks((r, 3), 2) for r in range(3)]), whole)
    # inverted dropout: kept units scaled by 1 / (1 - p), about half of them dropped
    assert set(whole.unique().tolist()) == {0.0, 2.0}
    assert 0.35 < float((whole == 0).float().mean()) < 0.65
    assert not torch.equal(_masks((0, 1), 6, seed=1), whole)


def test_rank_dropout_passes_through_in_eval_and_refuses_bad_rates():
    drop = RankDropout(0.3).eval()
    x = torch.randn(4, 5)
    assert drop(x) is x
    with pytest.raises(ValueError):
        RankDropout(1.0)


def test_rank_dropout_keeps_the_gradient_of_the_kept_units():
    x = torch.randn(5, 7, requires_grad=True)
    torch.manual_seed(3)
    out = RankDropout(0.25)(x)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.allclose(x.grad, kept.float() / 0.75)


def test_set_shard_reaches_nested_dropouts():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(RankDropout(0.1)), RankDropout(0.2))
    set_shard({"D": net}, (1, 2))
    assert [m.shard for m in net.modules() if isinstance(m, RankDropout)] == [(1, 2), (1, 2)]
