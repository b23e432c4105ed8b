import pytest
import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator


def _linear_sizes(module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_seed_mlp_is_exactly_the_seed_architecture():
    g, d = MLPGenerator(100, [256, 512], (1, 28, 28)), MLPDiscriminator((1, 28, 28), [512, 256])
    assert _linear_sizes(g) == [(100, 256), (256, 512), (512, 784)]
    assert _linear_sizes(d) == [(784, 512), (512, 256), (256, 1)]
    assert [type(m) for m in g.net if not isinstance(m, nn.Linear)] == [nn.ReLU, nn.ReLU, nn.Tanh]
    acts = [m for m in d.net if not isinstance(m, nn.Linear)]
    assert all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in acts) and len(acts) == 2
    out = g(torch.randn(3, 100))
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1
    assert d(out).shape == (3,)


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_builds_every_supported_size(resolution, channels):
    g = DCGANGenerator(16, 8, resolution, channels)
    d = DCGANDiscriminator(8, resolution, channels)
    x = g(torch.randn(2, 16))
    assert x.shape == (2, channels, resolution, resolution)
    assert d(x).shape == (2,)
    for net in (g, d):  # DCGAN's rules: no pooling, no fully connected hidden layers
        assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in net.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert isinstance(g.net[-1], nn.Tanh)


@pytest.mark.parametrize("resolution", [4, 30, 100, 9])
def test_dcgan_refuses_sizes_it_cannot_build(resolution):
    with pytest.raises(ConfigError, match=f"resolution {resolution}"):
        DCGANGenerator(16, 8, resolution, 1)


def test_minibatch_std_sees_a_batch_without_variety():
    from gankit.nets.dcgan import MinibatchStd

    layer = MinibatchStd(group_size=4)
    same = torch.ones(8, 3, 2, 2)
    out = layer(same)
    assert out.shape == (8, 4, 2, 2) and out[:, 3].max() < 1e-3
    varied = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    expected = varied.view(4, 2, 3, 2, 2).var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3))
    assert torch.allclose(layer(varied)[:2, 3, 0, 0], expected, atol=1e-6)
    d = DCGANDiscriminator(8, 28, 1, minibatch_std=4)
    assert d(torch.randn(8, 1, 28, 28)).shape == (8,)


def test_dcgan_discriminator_without_batch_norm():
    d = DCGANDiscriminator(8, 32, 3, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(d(x)[:2], d(x[:2]), atol=1e-6)  # no batch statistics: samples are independent
