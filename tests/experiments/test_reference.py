"""The PyTorch-examples DCGAN as `gankit bench mnist|fashion-mnist|cifar10` races it: its networks
at 28, 32 and 64 px and its training loop on real images."""

import pytest
import torch
from torch import nn

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import ConfigError
from gankit.experiments.reference import (
    PerItemImages,
    default_width,
    example_discriminator,
    example_generator,
    plan,
    reference_loop,
    reference_samples,
)


@pytest.mark.parametrize(
    ("resolution", "first", "layers", "width"), [(28, 7, 2, 32), (32, 4, 3, 64), (64, 4, 4, 64)]
)
def test_the_example_networks_build_each_size(resolution, first, layers, width):
    assert plan(resolution) == (first, layers) and default_width(resolution) == width
    G = example_generator(3, resolution, width)
    D = example_discriminator(3, resolution, width)
    images = G(torch.randn(5, 100))
    assert images.shape == (5, 3, resolution, resolution) and images.abs().max() <= 1.0
    assert D(images).shape == (5, 1)
    # the example's widths: G starts at width x 2^(layers-1) channels, D ends there
    assert G[1].out_channels == width * 2 ** (layers - 1)
    assert [m for m in D if isinstance(m, nn.Conv2d)][-1].in_channels == width * 2 ** (layers - 1)
    # weights_init: convolutions N(0, 0.02), batch-norm scales N(1, 0.02)
    conv = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv.std().item() - 0.02) < 0.002
    bn = torch.cat([m.weight for m in D.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01


def test_sizes_the_example_cannot_build_are_refused():
    with pytest.raises(ConfigError, match="not 48 px"):
        plan(48)
    with pytest.raises(ConfigError, match="not 8 px"):
        plan(8)


def test_per_item_images_are_what_totensor_and_normalize_give():
    x = torch.tensor([[[[0, 255], [51, 128]]]], dtype=torch.uint8)
    item, label = PerItemImages(x)[0]
    expected = torch.tensor([[[-1.0, 1.0], [-0.6, 128 / 127.5 - 1.0]]])
    assert label == 0 and torch.allclose(item, expected, atol=1e-6)


def test_the_loop_trains_on_real_images_and_repeats_from_its_seed(mnist_dir):
    images = load_dataset(DataConfig(source="mnist", dir=str(mnist_dir))).x[:640]

    def trained(seed: int) -> torch.Tensor:
        ref, run = reference_loop(images, seed, torch.device("cpu"))
        before = [p.detach().clone() for p in ref.G.parameters()]
        assert run(3) == 3 * 64
        assert any(not torch.equal(a, b) for a, b in zip(before, ref.G.parameters(), strict=True))
        return reference_samples(
            ref.G, torch.randn(70, 100, generator=torch.Generator()), ref.device
        )

    a, b, other = trained(0), trained(0), trained(1)
    assert a.shape == (70, 1, 28, 28) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, other)
