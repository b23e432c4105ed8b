"""Mode-coverage protocols on constructed samples."""

import math

import pytest
import torch

from gankit.errors import ConfigError
from gankit.metrics.modes import (
    GRID_STD,
    RING_RADIUS,
    RING_STD,
    class_histogram,
    grid_centers,
    mode_coverage_2d,
    mode_histogram_stats,
    ring_centers,
    stacked_channel_balance,
    stacked_mode_ids,
)


def test_ring_centers_are_eight_distinct_points_on_the_circle():
    c = ring_centers()
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), RING_RADIUS))
    gaps = torch.cdist(c, c) + 1e3 * torch.eye(8)
    assert gaps.min() == pytest.approx(2 * RING_RADIUS * math.sin(math.pi / 8), rel=1e-6)
    assert torch.allclose(c[0], torch.tensor([RING_RADIUS, 0.0]))


def test_grid_centers_cover_the_25_point_lattice():
    c = grid_centers()
    assert c.shape == (25, 2)
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(p) for p in c.tolist()} == expected


def test_points_exactly_at_five_grid_centers_capture_five_modes():
    c = grid_centers()
    points = c[[0, 3, 7, 12, 24]].repeat(10, 1)
    out = mode_coverage_2d(points, c, GRID_STD)
    assert out["modes_captured"] == 5
    assert out["high_quality_share"] == 1.0
    assert sum(out["per_mode_counts"]) == 50
    assert [out["per_mode_counts"][i] for i in (0, 3, 7, 12, 24)] == [10] * 5
    assert out["n_modes"] == 25 and out["min_count"] == 1


def test_far_points_are_never_high_quality():
    out = mode_coverage_2d(torch.full((100, 2), 1.0), grid_centers(), GRID_STD)  # between modes
    assert out["modes_captured"] == 0
    assert out["high_quality_share"] == 0.0


def test_three_std_boundary_and_min_count():
    c = ring_centers()
    offset = torch.tensor([[0.0, 1.0]])
    inside = c[:1] + 2.9 * RING_STD * offset
    outside = c[1:2] + 3.1 * RING_STD * offset
    points = torch.cat([inside.repeat(3, 1), outside.repeat(5, 1), c[2:3]])
    out = mode_coverage_2d(points, c, RING_STD)
    assert out["per_mode_counts"][:3] == [3, 0, 1]
    assert out["modes_captured"] == 2
    assert out["high_quality_share"] == pytest.approx(4 / 9)
    assert mode_coverage_2d(points, c, RING_STD, min_count=2)["modes_captured"] == 1


def test_samples_from_the_mixture_itself_capture_every_mode():
    g = torch.Generator().manual_seed(0)
    c = grid_centers()
    points = c.repeat(100, 1) + GRID_STD * torch.randn(2500, 2, generator=g)
    out = mode_coverage_2d(points, c, GRID_STD)
    assert out["modes_captured"] == 25
    assert out["high_quality_share"] > 0.97  # P(chi2_2 < 9) = 1 - exp(-4.5) = 0.989


def test_stacked_mode_ids():
    digits = torch.tensor([[0, 0, 0], [1, 2, 3], [9, 9, 9], [0, 5, 0]])
    assert stacked_mode_ids(digits).tolist() == [0, 123, 999, 50]
    with pytest.raises(ConfigError):
        stacked_mode_ids(torch.tensor([[1, 2]]))
    with pytest.raises(ConfigError):
        stacked_mode_ids(torch.tensor([[1, 2, 10]]))


def test_kl_is_zero_for_uniform_histogram_over_all_modes():
    out = mode_histogram_stats(torch.arange(1000).repeat(3))
    assert out["modes_captured"] == 1000
    assert out["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 10, 250, 999])
def test_kl_is_log_ratio_for_uniform_over_k_modes(k):
    ids = (torch.arange(k) * 7 % 1000).repeat(4)  # k distinct modes, 4 samples each
    out = mode_histogram_stats(ids)
    assert out["modes_captured"] == k
    assert out["kl_to_uniform"] == pytest.approx(math.log(1000 / k), rel=1e-12, abs=1e-12)


def test_kl_of_skewed_histogram_matches_direct_sum():
    ids = torch.tensor([0, 0, 0, 1, 2, 2])
    p = torch.tensor([3, 1, 2]) / 6
    expected = float((p * torch.log(p * 10)).sum())
    assert mode_histogram_stats(ids, n_modes=10)["kl_to_uniform"] == pytest.approx(expected)


def test_channel_balance_explains_the_kl_of_independent_channels_and_not_of_tied_ones():
    gen = torch.Generator().manual_seed(0)
    # independent channels, each with too few 1s: every sample's digits drawn on their own
    weights = torch.ones(10)
    weights[1] = 0.2
    digits = torch.multinomial(weights, 3 * 20_000, True, generator=gen).reshape(-1, 3)
    joint = mode_histogram_stats(stacked_mode_ids(digits))["kl_to_uniform"]
    balance = stacked_channel_balance(digits)
    p = weights / weights.sum()
    one_channel = float((p * torch.log(p * 10)).sum())
    assert balance["kl_per_channel"] == pytest.approx([one_channel] * 3, abs=0.003)
    assert balance["digit_shares"][0][1] == pytest.approx(float(p[1]), abs=0.005)
    # the rest of the joint KL is the (small, sampling) dependence between channels
    assert balance["kl_channels"] <= joint < balance["kl_channels"] + 0.03
    # every channel balanced, the three tied (d, d, d): all of the KL is the channels' tie
    tied = torch.arange(10).repeat(100)[:, None].expand(-1, 3)
    assert stacked_channel_balance(tied)["kl_channels"] == pytest.approx(0.0, abs=1e-12)
    tied_kl = mode_histogram_stats(stacked_mode_ids(tied))["kl_to_uniform"]
    assert tied_kl == pytest.approx(math.log(100))


def test_mode_histogram_rejects_out_of_range_and_empty():
    with pytest.raises(ConfigError):
        mode_histogram_stats(torch.tensor([1000]))
    with pytest.raises(ConfigError):
        mode_histogram_stats(torch.tensor([], dtype=torch.long))


def test_class_histogram():
    preds = torch.tensor([0, 0, 1, 1, 1, 3, 3, 3, 3, 3])
    out = class_histogram(preds, n_classes=4)
    assert out["counts"] == [2, 3, 0, 5]
    assert out["min_share"] == 0.0
    assert out["classes_covered"] == 3
    balanced = class_histogram(torch.arange(100) % 10)
    assert balanced["min_share"] == pytest.approx(0.1) and balanced["classes_covered"] == 10
