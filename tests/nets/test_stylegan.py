import pytest
import torch
import torch.nn.functional as F

from gankit.errors import ConfigError
from gankit.nets.stylegan import (
    StyleDiscriminator,
    StyleGenerator,
    built_size,
    modulated_conv2d,
)
from gankit.recipes.stylegan import cross
from gankit.train.ema import EMA


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _tiny_g(resolution=32, channels=1, **kwargs):
    torch.manual_seed(0)
    return StyleGenerator(16, 8, resolution, channels, mapping_layers=2, channel_max=32, **kwargs)


def test_demodulation_gives_unit_variance_per_output_channel_for_unit_variance_input():
    g = _gen()
    x = torch.randn(64, 16, 24, 24, generator=g)
    # weights and styles of very different scales per channel: demodulation must undo all of it
    weight = torch.randn(8, 16, 3, 3, generator=g) * torch.rand(8, 1, 1, 1, generator=g) * 10
    styles = torch.randn(64, 16, generator=g) * 3
    out = modulated_conv2d(x, weight, styles)[:, :, 1:-1, 1:-1]  # the zero padding aside
    variance = out.var(dim=(0, 2, 3))
    assert variance.shape == (8,)
    assert torch.all((variance - 1).abs() < 0.05), variance
    plain = modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1:-1, 1:-1]
    assert plain.var(dim=(0, 2, 3)).min() > 4  # without it the scales pass through


def test_modulated_conv_equals_the_papers_per_sample_weights():
    g = _gen(1)
    x, weight, styles = (
        torch.randn(3, 4, 6, 6, generator=g),
        torch.randn(5, 4, 3, 3, generator=g),
        torch.randn(3, 4, generator=g),
    )
    for n in range(3):
        w = weight * styles[n][None, :, None, None]
        w = w / (w.square().sum((1, 2, 3), keepdim=True) + 1e-8).sqrt()
        expected = F.conv2d(x[n : n + 1], w, padding=1)
        got = modulated_conv2d(x[n : n + 1], weight, styles[n : n + 1])
        assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("resolution", "channels", "built", "num_ws"),
    [(28, 1, 32, 8), (32, 3, 32, 8), (64, 3, 64, 10), (8, 1, 8, 4), (4, 4, 4, 2)],
)
def test_sizes_build_at_the_next_power_of_two(resolution, channels, built, num_ws):
    G = _tiny_g(resolution, channels)
    assert (G.size, G.num_ws) == (built, num_ws) == (built_size(resolution), num_ws)
    images = G(torch.randn(2, 16, generator=_gen()))
    assert images.shape == (2, channels, resolution, resolution)
    D = StyleDiscriminator(8, resolution, channels, minibatch_std=2, channel_max=32)
    assert D(images).shape == (2,)


def test_28_px_is_the_centre_of_the_32_px_synthesis():
    G = _tiny_g(28)
    ws = G.styles(G.mapping(torch.randn(3, 16, generator=_gen())))
    full = G.blocks  # the 32 px image the crop comes from
    x = image = None
    at = 0
    for block in full:
        n = len(block.layers)
        x, image = block(x, image, ws[:, at : at + n + 1], None)
        at += n
    assert image.shape[-1] == 32
    assert torch.equal(G.synthesis(ws), image[..., 2:30, 2:30])


def test_too_small_images_are_refused():
    with pytest.raises(ConfigError, match="at least 4 x 4"):
        built_size(3)


def test_truncation_at_psi_0_gives_the_average_ws_image_and_psi_1_changes_nothing():
    G = _tiny_g().eval()
    G.w_avg.copy_(torch.randn(16, generator=_gen(3)))
    z = torch.randn(5, 16, generator=_gen(4))
    average = G.synthesis(G.styles(G.w_avg[None]))
    truncated = G(z, truncation=0.0)
    # a batch of 5 and a batch of 1 may take different float32 kernels: 2e-6 apart here
    assert all(torch.allclose(image, average[0], atol=1e-5) for image in truncated)
    assert (G(z) - average).abs().amax() > 0.1  # without truncation the images are not that one
    assert torch.equal(G(z, truncation=1.0), G(z))
    half = G.truncate(G.mapping(z), 0.5)
    assert torch.allclose(half, (G.mapping(z) + G.w_avg) / 2, atol=1e-6)


def test_crossing_styles_takes_each_layer_from_one_w():
    G = _tiny_g()
    za, zb = torch.randn(2, 16, generator=_gen(5)), torch.randn(2, 16, generator=_gen(6))
    wa, wb = G.styles(G.mapping(za)), G.styles(G.mapping(zb))
    mixed = cross(wa, wb, 3)
    assert torch.equal(mixed[:, :3], wa[:, :3]) and torch.equal(mixed[:, 3:], wb[:, 3:])
    # crossing after the last layer is the source; at the first, the other
    assert torch.equal(G.synthesis(cross(wa, wb, G.num_ws)), G(za))
    assert torch.equal(G.synthesis(cross(wa, wb, 0)), G(zb))
    assert not torch.allclose(G.synthesis(cross(wa, wb, G.num_ws - 1)), G(za))


def test_sampling_noise_is_fixed_and_training_noise_changes_the_image():
    G = _tiny_g()
    ws = G.styles(G.mapping(torch.randn(2, 16, generator=_gen(7))))
    for layer in (lay for b in G.blocks for lay in b.layers):
        layer.noise_strength.data.fill_(0.5)
    assert torch.equal(G.synthesis(ws), G.synthesis(ws))
    noise = [torch.randn(2, *shape, generator=_gen(8)) for shape in G.noise_shapes()]
    assert len(noise) == G.num_ws - 1
    assert not torch.allclose(G.synthesis(ws, noise), G.synthesis(ws))


def test_the_ema_copies_the_tracked_average_w_and_averages_the_weights():
    G = _tiny_g()
    ema = EMA({"G": G}, ("G",), decay=0.5)
    G.track_w_avg(torch.ones(4, 16))
    with torch.no_grad():
        G.mapping_net.layers[0].weight.add_(1.0)
    ema.update(step=0)
    averaged = ema.nets["G"]
    assert torch.equal(averaged.w_avg, G.w_avg) and torch.allclose(
        G.w_avg, torch.full((16,), 0.005)
    )
    before = G.mapping_net.layers[0].weight - 1.0
    expected = (before + G.mapping_net.layers[0].weight) / 2
    assert torch.allclose(averaged.mapping_net.layers[0].weight, expected, atol=1e-6)


def test_generator_refuses_labels():
    with pytest.raises(ValueError, match="unconditional"):
        _tiny_g()(torch.randn(2, 16), torch.zeros(2, dtype=torch.long))
