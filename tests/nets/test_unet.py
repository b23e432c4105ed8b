"""The diffusion U-Net's width multipliers per resolution; the default network keeps its layout,
so older checkpoints still load."""

import pytest
import torch

from gankit.nets import UNet


def _params(net):
    return sum(p.numel() for p in net.parameters())


def test_default_layout_is_unchanged():
    net = UNet(1, 32, num_classes=10)
    assert _params(net) == 511_265  # ddpm-cond's U-Net before channel_mult existed
    assert net.mid1.conv1.out_channels == 64 and net.up2.conv1.in_channels == 128
    assert _params(UNet(1, 32, num_classes=10, mult=(1, 2, 2))) == 511_265


@pytest.mark.parametrize("size", [8, 28])
def test_width_multipliers_keep_shapes(size):
    net = UNet(1, 8, num_classes=10, mult=(1, 2, 4))
    assert [
        net.down1.conv1.out_channels,
        net.down2.conv1.out_channels,
        net.mid1.conv1.out_channels,
    ] == [8, 16, 32]
    assert net.up2.conv1.in_channels == 32 + 16 and net.up1.conv1.in_channels == 16 + 8
    torch.manual_seed(0)
    for (
        p
    ) in net.parameters():  # each block's last conv starts at zero; move past it, as training would
        p.data.add_(0.05 * torch.randn_like(p))
    x, t, y = torch.randn(3, 1, size, size), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 10])
    out = net(x, t, y)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert net.class_emb.weight.grad.abs().sum() > 0  # the label reaches the output


def test_bad_multipliers_are_refused():
    with pytest.raises(ValueError, match="three positive width multipliers"):
        UNet(1, 8, mult=(1, 2))


def test_widths_that_eight_does_not_divide_build():
    """GroupNorm takes up to 8 groups that divide the channels: model.width=6 (12 channels at the
    middle) raised "num_channels (12) must be divisible by num_groups (8)"; the presets keep 8.
    (Odd widths are refused by the config: the time embedding needs an even width.)"""
    net = UNet(1, 6)
    assert net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2])).shape == (2, 1, 8, 8)
    groups = {
        m.num_channels: m.num_groups for m in net.modules() if isinstance(m, torch.nn.GroupNorm)
    }
    assert groups[6] == 6 and groups[12] == 6
    assert {m.num_groups for m in UNet(1, 32).modules() if isinstance(m, torch.nn.GroupNorm)} == {8}
