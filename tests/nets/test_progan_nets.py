"""The progressive networks: equalised learning rate, pixel norm, minibatch stddev, and fading in
(alpha 0 is the previous stage upsampled, alpha 1 the new stage alone), in G and D."""

import math

import torch
import torch.nn.functional as F

from gankit.nets.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    ProGANDiscriminator,
    ProGANGenerator,
    feature_maps,
    minibatch_stddev,
    pixel_norm,
    stage_resolutions,
)


def test_equalized_layers_scale_unit_weights_by_he_constant_at_run_time():
    torch.manual_seed(0)
    linear = EqualizedLinear(50, 7)
    assert linear.scale == math.sqrt(2) / math.sqrt(50)
    x = torch.randn(3, 50)
    assert torch.allclose(linear(x), x @ (linear.weight * math.sqrt(2 / 50)).T)
    conv = EqualizedConv2d(6, 4, 3, gain=1.0)
    assert conv.scale == 1.0 / math.sqrt(6 * 9)
    y = torch.randn(2, 6, 5, 5)
    assert torch.allclose(conv(y), F.conv2d(y, conv.weight / math.sqrt(54), padding=1))
    # stored N(0, 1): Adam moves every layer at the same rate whatever its fan-in
    big = EqualizedConv2d(256, 256, 3)
    assert abs(float(big.weight.detach().std()) - 1.0) < 0.01 and float(big.bias.abs().max()) == 0.0


def test_pixel_norm_gives_each_pixel_unit_rms_features():
    x = torch.randn(2, 16, 3, 3) * 5
    rms = pixel_norm(x).pow(2).mean(dim=1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-5)


def test_minibatch_stddev_adds_one_channel_with_the_groups_std():
    x = torch.randn(8, 3, 4, 4)
    out = minibatch_stddev(x, 4)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    # groups are samples i, i + 2, i + 4, i + 6 (the paper's reshape): two groups of four
    for first in (0, 1):
        group = x[first::2]
        expected = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[first::2, 3], expected.expand(4, 4, 4), atol=1e-6)
    whole = minibatch_stddev(x[:6], 4)  # 4 does not divide 6: one group of all six
    expected = (x[:6].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(whole[:, 3], expected.expand(6, 4, 4), atol=1e-6)


def test_stage_sides_and_channels():
    assert stage_resolutions(32) == [4, 8, 16, 32]
    assert [feature_maps(s, 16384, 512) for s in (4, 32, 64, 1024)] == [512, 512, 256, 16]
    assert [feature_maps(s, 256, 32) for s in (4, 8, 16, 32)] == [32, 32, 16, 8]


def test_generator_fades_from_the_previous_stage_upsampled_to_the_new_stage():
    torch.manual_seed(0)
    G = ProGANGenerator(16, 32, 3, 256, 32)
    z = torch.randn(5, 16)
    G.set_phase(1, 1, 1)
    previous = G.synthesize(z)
    assert previous.shape == (5, 3, 8, 8)
    G.set_phase(2, 0, 100)
    assert G.phase == (2, 0.0)
    assert torch.equal(G.synthesize(z), F.interpolate(previous, scale_factor=2, mode="nearest"))
    G.set_phase(2, 1, 1)
    new = G.synthesize(z)
    G.set_phase(2, 100, 100)
    assert torch.equal(G.synthesize(z), new)
    G.set_phase(2, 25, 100)
    quarter = G.synthesize(z)
    expected = 0.75 * F.interpolate(previous, scale_factor=2, mode="nearest") + 0.25 * new
    assert torch.allclose(quarter, expected, atol=1e-5)
    full = G(z)  # sampling: the stage's images upsampled to the data's side
    assert full.shape == (5, 3, 32, 32)
    assert torch.equal(full[:, :, ::2, ::2], quarter)


def test_discriminator_fades_from_fromrgb_of_the_downscaled_image_to_the_new_block():
    torch.manual_seed(0)
    D = ProGANDiscriminator(32, 1, 256, 32, mbstd_group=4)
    x = torch.randn(8, 1, 16, 16)
    D.set_phase(1, 1, 1)
    previous = D(F.avg_pool2d(x, 2))
    D.set_phase(2, 0, 10)
    assert torch.equal(D(x), previous)
    D.set_phase(2, 1, 1)
    new = D(x)
    D.set_phase(2, 10, 10)
    assert torch.equal(D(x), new) and new.shape == (8,)
    assert not torch.equal(new, previous)


def test_the_phase_is_in_the_state_dict_as_integers():
    G = ProGANGenerator(8, 16, 1, 64, 16)
    G.set_phase(1, 3, 8)
    state = G.state_dict()
    assert [int(state[k]) for k in ("stage", "fade_done", "fade_total")] == [1, 3, 8]
    assert all(state[k].dtype == torch.int64 for k in ("stage", "fade_done", "fade_total"))
    again = ProGANGenerator(8, 16, 1, 64, 16)
    again.load_state_dict(state)
    assert again.phase == (1, 3 / 8)
