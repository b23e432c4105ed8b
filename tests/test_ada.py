import math

import pytest
import torch

from gankit.ada import OPS, ada_augment


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(n=16, channels=3, side=16, seed=1):
    return torch.rand(n, channels, side, side, generator=_rng(seed)) * 2 - 1


def _ramps(n=64, side=32):
    """Channel 0 is x, channel 1 is y (pixels from the image's centre), channel 2 zero: the slopes
    of the output read off the geometric map each image went through."""
    coords = torch.arange(side, dtype=torch.float32) - (side - 1) / 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([x, y, torch.zeros_like(x)]).expand(n, 3, side, side).clone()


def _slopes(out):
    """d(channel)/dx and d(channel)/dy at the centre, for channels 0 and 1: [N, 2, 2]."""
    c = out.shape[-1] // 2
    dx = (out[:, :2, c, c + 1] - out[:, :2, c, c - 1]) / 2
    dy = (out[:, :2, c + 1, c] - out[:, :2, c - 1, c]) / 2
    return torch.stack([dx, dy], dim=2)


def test_p_zero_is_the_identity_and_draws_alike():
    x = _images()
    rng_zero, rng_one = _rng(), _rng()
    assert torch.equal(ada_augment(x, 0.0, rng_zero), x)
    ada_augment(x, 1.0, rng_one)
    assert torch.equal(rng_zero.get_state(), rng_one.get_state())  # p does not change the draws


def test_same_seed_same_images_and_each_op_changes_every_image_at_p_one():
    x = _images()
    assert torch.equal(ada_augment(x, 0.5, _rng(3)), ada_augment(x, 0.5, _rng(3)))
    for op in ("scale", "rotate", "aniso", "brightness", "contrast", "cutout"):
        out = ada_augment(x, 1.0, _rng(), ops=(op,))
        assert (out - x).abs().flatten(1).amax(1).min() > 0, op


def test_xflip_mirrors_about_half_of_the_images():
    x = _images(n=64)
    out = ada_augment(x, 1.0, _rng(), ops=("xflip",))
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    flipped = (out - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | flipped).all()) and 16 < int(flipped.sum()) < 48


def test_rotate90_turns_each_image_by_a_quarter_turn_multiple():
    x = _images(n=64)
    out = ada_augment(x, 1.0, _rng(), ops=("rotate90",))
    turns = []
    for i in range(len(x)):
        errors = [(out[i] - torch.rot90(x[i], k, (1, 2))).abs().max() for k in range(4)]
        assert min(errors) < 1e-5
        turns.append(int(torch.stack(errors).argmin()))
    assert set(turns) == {0, 1, 2, 3}


def test_translate_moves_by_whole_pixels_up_to_an_eighth_of_the_side():
    x = _images(n=32, side=16)
    out = ada_augment(x, 1.0, _rng(), ops=("translate",))
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            # the interior: rows and columns that read inside the image
            if (out[i, :, 2:-2, 2:-2] - x[i, :, 2 - dy : 14 - dy, 2 - dx : 14 - dx]).abs().max()
            < 1e-5
        ]
        assert len(found) == 1


def test_scale_and_aniso_stretch_the_axes_by_their_factors():
    ramps = _ramps()
    iso = _slopes(ada_augment(ramps, 1.0, _rng(), ops=("scale",)))
    # out(x) = in(x / s): both axes slope 1/s, no shear
    assert torch.allclose(iso[:, 0, 0], iso[:, 1, 1], atol=1e-4)
    assert iso[:, 0, 1].abs().max() < 1e-4 and iso[:, 1, 0].abs().max() < 1e-4
    log_s = -torch.log2(iso[:, 0, 0])
    assert 0.1 < float(log_s.std()) < 0.35  # log2 s ~ N(0, 0.2^2)
    aniso = _slopes(ada_augment(ramps, 1.0, _rng(), ops=("aniso",)))
    assert torch.allclose(aniso[:, 0, 0] * aniso[:, 1, 1], torch.ones(64), atol=1e-3)
    assert (aniso[:, 0, 0] - 1).abs().max() > 0.1


def test_rotate_turns_by_an_arbitrary_angle():
    out = ada_augment(_ramps(), 1.0, _rng(), ops=("rotate",))
    s = _slopes(out).double()
    # the map from output to input is a rotation: orthonormal, determinant +1
    gram = s @ s.transpose(1, 2)
    assert torch.allclose(gram, torch.eye(2, dtype=torch.float64).expand_as(gram), atol=1e-3)
    assert torch.allclose(torch.linalg.det(s), torch.ones(64, dtype=torch.float64), atol=1e-3)
    angles = torch.atan2(s[:, 1, 0], s[:, 0, 0])
    assert float(angles.abs().max()) > math.pi / 2  # not only quarter turns or small ones


def test_brightness_adds_one_offset_and_contrast_scales_each_image():
    x = _images()
    bright = ada_augment(x, 1.0, _rng(), ops=("brightness",)) - x
    offsets = bright.flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-5)
    contrast = ada_augment(x, 1.0, _rng(), ops=("contrast",)) / x
    factors = contrast.flatten(1)
    assert torch.allclose(factors, factors[:, :1].expand_as(factors), atol=1e-3)
    assert float(factors[:, 0].min()) > 0


def test_hue_rotates_around_grey_and_saturation_scales_away_from_it():
    x = _images()
    grey = x.mean(1, keepdim=True)
    hue = ada_augment(x, 1.0, _rng(), ops=("hue",))
    assert torch.allclose(hue.mean(1, keepdim=True), grey, atol=1e-5)  # luma kept
    assert torch.allclose((hue - grey).norm(dim=1), (x - grey).norm(dim=1), atol=1e-4)
    assert (hue - x).abs().max() > 0.1
    sat = ada_augment(x, 1.0, _rng(), ops=("saturation",))
    assert torch.allclose(sat.mean(1, keepdim=True), grey, atol=1e-5)
    ratio = ((sat - grey).norm(dim=1) / (x - grey).norm(dim=1)).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-3)
    single = _images(channels=1)  # grey images: no hue, no saturation
    assert torch.allclose(ada_augment(single, 1.0, _rng(), ops=("hue", "saturation")), single)


def test_cutout_zeroes_one_square_of_half_the_side():
    ones = torch.ones(32, 1, 16, 16)
    out = ada_augment(ones, 1.0, _rng(), ops=("cutout",))
    for image in out[:, 0]:
        rows, cols = (image == 0).any(1), (image == 0).any(0)
        assert (image == 0).sum() == rows.sum() * cols.sum()  # a rectangle
        assert 1 <= rows.sum() <= 8 and 1 <= cols.sum() <= 8
    assert int((out == 0).flatten(1).sum(1).max()) == 64  # whole squares where inside


@pytest.mark.parametrize("op", OPS)
def test_gradients_pass_through_every_transformation(op):
    x = _images(n=8).requires_grad_(True)
    ada_augment(x, 1.0, _rng(), ops=(op,)).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="NCHW"):
        ada_augment(torch.zeros(4, 3), 0.5, _rng())
    with pytest.raises(ValueError, match="unknown ADA transformation"):
        ada_augment(_images(), 0.5, _rng(), ops=("blur",))
