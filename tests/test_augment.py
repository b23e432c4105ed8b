import pytest
import torch

from gankit.augment import brightness, cutout, diff_augment, parse_policy, saturation, translation
from gankit.errors import ConfigError

ALL = "color,translation,cutout"


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 4, c: int = 3, res: int = 16) -> torch.Tensor:
    return torch.rand(n, c, res, res, generator=_rng(99)) * 2 - 1


def test_empty_policy_is_the_identity():
    x = _images()
    assert diff_augment(x, "", _rng()) is x
    assert parse_policy("") == () and parse_policy(" color , cutout ") == ("color", "cutout")


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_device_are_kept(policy, dtype):
    x = _images(c=1, res=28).to(dtype)
    out = diff_augment(x, policy, _rng())
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.is_contiguous()


def test_same_seed_same_result_other_seed_other_result():
    x = _images()
    a, b = diff_augment(x, ALL, _rng(1)), diff_augment(x, ALL, _rng(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, ALL, _rng(2)))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_gradients_flow_through_the_augmentation(policy):
    x = _images().requires_grad_(True)
    diff_augment(x, policy, _rng()).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """img moved down dy and right dx pixels, zeros where nothing moved in (built by slicing)."""
    out, (h, w) = torch.zeros_like(img), img.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_translation_moves_content_by_whole_pixels_and_pads_zeros():
    n, c, res = 64, 2, 16
    img = torch.arange(1.0, c * res * res + 1).view(c, res, res)  # every pixel distinct and nonzero
    out = translation(img.expand(n, c, res, res), _rng(3))
    shifts = set()
    for i in range(n):  # checking only: the centre pixel's value says where it came from
        src = int(out[i, 0, res // 2, res // 2].item()) - 1
        dy, dx = res // 2 - src // res, res // 2 - src % res
        assert abs(dy) <= res // 8 and abs(dx) <= res // 8
        assert torch.equal(out[i], _shifted(img, dy, dx))
        shifts.add((dy, dx))
    assert len(shifts) > 10  # each sample draws its own shift


@pytest.mark.parametrize("res", [8, 16, 28])
def test_cutout_zeros_exactly_a_half_size_square_per_sample(res):
    n = 32
    out = cutout(torch.ones(n, 3, res, res), _rng(4))
    holes = out == 0
    assert torch.equal(holes[:, :1].expand_as(holes), holes)  # the same hole in every channel
    assert holes[:, 0].sum((1, 2)).tolist() == [(res // 2) ** 2] * n
    for hole in holes[:, 0]:  # and it is one square: its bounding box is res/2 on each side
        r, c = hole.any(1).nonzero(), hole.any(0).nonzero()
        assert (
            len(r) == len(c) == res // 2 and r.max() - r.min() == c.max() - c.min() == res // 2 - 1
        )
    # positions differ per sample
    assert len({tuple(h.nonzero()[0].tolist()) for h in holes[:, 0]}) > 1


def test_color_changes_brightness_and_saturation_is_a_no_op_for_grey_images():
    x = _images(n=16)
    means = brightness(x, _rng(5)).mean((1, 2, 3)) - x.mean((1, 2, 3))
    assert means.abs().max() <= 0.5 and means.std() > 0.05  # one U[-0.5, 0.5] shift per image
    assert not torch.allclose(diff_augment(x, "color", _rng(5)).mean((1, 2, 3)), x.mean((1, 2, 3)))
    grey = _images(c=1)
    assert torch.equal(saturation(grey, _rng(6)), grey)


@pytest.mark.parametrize("policy", ["colour", "color,flip", "translation,Cutout"])
def test_unknown_policy_names_are_refused(policy):
    with pytest.raises(ConfigError, match="unknown DiffAugment policy"):
        diff_augment(_images(), policy, _rng())


def test_points_are_refused():
    with pytest.raises(ValueError, match="NCHW"):
        diff_augment(torch.randn(8, 2), "translation", _rng())


def test_under_torchrun_each_rank_augments_its_slice_as_one_process_would():
    """Ranks draw the global batch's offsets and factors and keep theirs (`shard`): rank 1 must
    not repeat rank 0's augmentations."""
    x = torch.rand(8, 3, 16, 16)
    policy = "color,translation,cutout"
    whole = diff_augment(x, policy, torch.Generator().manual_seed(4))
    parts = [
        diff_augment(x[r * 4 : (r + 1) * 4], policy, torch.Generator().manual_seed(4), shard=(r, 2))
        for r in range(2)
    ]
    assert torch.allclose(torch.cat(parts), whole, atol=1e-6)
    unsharded = diff_augment(x[4:], policy, torch.Generator().manual_seed(4))
    assert not torch.allclose(unsharded, whole[4:], atol=1e-3)
