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
    assert (
        all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in acts)
        and len(acts) == 2
    )
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
        assert not any(
            isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in net.modules()
        )
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
    # no batch statistics: samples are independent
    assert torch.allclose(d(x)[:2], d(x[:2]), atol=1e-6)


def test_unconditional_state_dict_keys_are_unchanged():
    """Checkpoints and bit-exact resume depend on these names: a change here breaks old runs."""
    assert list(MLPGenerator(4, [8], (2,)).state_dict()) == [
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    ]
    assert list(MLPDiscriminator((2,), [8]).state_dict()) == list(
        MLPGenerator(4, [8], (2,)).state_dict()
    )
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(DCGANGenerator(4, 2, 8, 1).state_dict()) == [
        "net.0.weight",
        *[f"net.1.{k}" for k in bn],
        "net.3.weight",
        "net.3.bias",
    ]
    assert list(DCGANDiscriminator(2, 16, 1).state_dict()) == [
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        *[f"net.3.{k}" for k in bn],
        "net.5.weight",
        "net.5.bias",
    ]


def _cond_nets(num_classes=10, res=16, channels=1):
    return {
        "mlp": (
            MLPGenerator(8, [16], (channels, res, res), num_classes=num_classes),
            MLPDiscriminator((channels, res, res), [16], num_classes=num_classes),
        ),
        "dcgan": (
            DCGANGenerator(8, 4, res, channels, num_classes=num_classes),
            DCGANDiscriminator(4, res, channels, num_classes=num_classes),
        ),
    }


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_conditional_nets_take_labels_and_their_output_depends_on_them(arch):
    torch.manual_seed(0)
    g, d = _cond_nets(channels=3)[arch]
    g.eval()  # batch norm on running statistics: each sample independent of the others
    d.eval()
    z, y = torch.randn(4, 8), torch.tensor([0, 3, 9, 3])
    x = g(z, y)
    assert x.shape == (4, 3, 16, 16) and d(x, y).shape == (4,)
    other = (y + 1) % 10
    assert not torch.allclose(g(z, other), x)
    assert not torch.allclose(d(x, other), d(x, y))
    assert torch.allclose(g(z[:2], y[:2]), x[:2], atol=1e-6)  # a label changes only its own sample


def test_conditional_layers():
    nets = _cond_nets(num_classes=10, res=16, channels=3)
    assert _linear_sizes(nets["mlp"][0])[0] == (8 + 10, 16)  # z and one-hot y
    assert _linear_sizes(nets["mlp"][1])[0] == (3 * 16 * 16 + 10, 16)
    g, d = nets["dcgan"]
    # one-hot label channels
    assert g.net[0].in_channels == 8 + 10 and d.net[0].in_channels == 3 + 10
    # still DCGAN's rules
    assert not any(isinstance(m, nn.Linear) for m in [*g.modules(), *d.modules()])


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_labels_are_required_by_conditional_and_refused_by_unconditional_nets(arch):
    g, d = _cond_nets()[arch]
    z, x, y = torch.randn(2, 8), torch.randn(2, 1, 16, 16), torch.tensor([1, 2])
    for call in (lambda: g(z), lambda: d(x)):
        with pytest.raises(ValueError, match="num_classes=10.*pass labels y"):
            call()
    g0, d0 = _cond_nets(num_classes=0)[arch]
    for call in (lambda: g0(z, y), lambda: d0(x, y)):
        with pytest.raises(ValueError, match="unconditional"):
            call()


def test_dcgan_projection_d_adds_exactly_the_label_inner_product():
    torch.manual_seed(0)
    D = DCGANDiscriminator(8, 28, 1, norm="none", num_classes=10, projection=True)
    assert D.net[0].in_channels == 1  # no label channels: the label acts at the end
    x = torch.randn(3, 1, 28, 28)
    y0, y1 = torch.tensor([0, 0, 0]), torch.tensor([4, 5, 6])
    features = D.net[:-1](x).sum((2, 3))
    expected = ((D.embed(y1) - D.embed(y0)) * features).sum(1)
    torch.testing.assert_close(D(x, y1) - D(x, y0), expected)
