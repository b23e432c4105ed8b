"""L1, PSNR and SSIM of translations against their targets, on constructed cases whose values
are known in closed form."""

import math

import pytest
import torch

from gankit.metrics.translation import (
    SSIM_C1,
    l1_per_image,
    pair_scores,
    psnr_per_image,
    ssim_per_image,
)


def signed(unit: torch.Tensor) -> torch.Tensor:
    """[0, 1] images as the [-1, 1] the metrics take."""
    return unit * 2 - 1


def test_an_exact_copy_scores_perfectly():
    x = signed(torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    scores = pair_scores(x, x)
    assert torch.equal(scores["l1"], torch.zeros(3))
    assert torch.allclose(scores["psnr"], torch.full((3,), 100.0))
    assert torch.allclose(scores["ssim"], torch.ones(3), atol=1e-5)


def test_a_uniform_offset_gives_its_l1_and_psnr():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.8
    out, target = signed(x + 0.1), signed(x)
    assert torch.allclose(l1_per_image(out, target), torch.full((2,), 0.1), atol=1e-6)
    assert torch.allclose(psnr_per_image(out, target), torch.full((2,), 20.0), atol=1e-4)


def test_ssim_of_flat_images_is_its_luminance_term():
    """No variance anywhere: SSIM = (2 a b + C1) / (a^2 + b^2 + C1)."""
    a, b = 0.3, 0.7
    out, target = signed(torch.full((1, 3, 16, 16), a)), signed(torch.full((1, 3, 16, 16), b))
    expected = (2 * a * b + SSIM_C1) / (a * a + b * b + SSIM_C1)
    assert ssim_per_image(out, target).item() == pytest.approx(expected, rel=5e-5)


def test_ssim_falls_for_an_inverted_image_and_reads_small_images():
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert ssim_per_image(signed(1 - x), signed(x)).item() < 0  # structure reversed
    assert 0.99 < ssim_per_image(signed(x), signed(x)).item() <= 1 + 1e-6  # window cut to 8
    assert math.isfinite(psnr_per_image(signed(1 - x), signed(x)).item())


def test_shapes_must_match():
    with pytest.raises(ValueError, match="outputs .* and targets"):
        pair_scores(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 16, 16))
