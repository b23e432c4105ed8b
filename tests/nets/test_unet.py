"""The diffusion U-Net's options: width multipliers per resolution and AdaGN (scale and shift)
blocks; the default network keeps its layout, so older checkpoints still load."""
import pytest
import torch

from gankit.nets import UNet


def _params(net):
    return sum(p.numel() for p in net.parameters())


def _past_zero_init(net):
    """Each block's last conv starts at zero; move every weight a little, as training would."""
    torch.manual_seed(0)
    for p in net.parameters():
        p.data.add_(0.05 * torch.randn_like(p))


def test_default_layout_is_unchanged():
    net = UNet(1, 32, num_classes=10)
    assert _params(net) == 511_265  # ddpm-cond's U-Net before channel_mult / scale_shift existed
    assert net.mid1.conv1.out_channels == 64 and net.up2.conv1.in_channels == 128
    assert _params(UNet(1, 32, num_classes=10, mult=(1, 2, 2))) == 511_265


@pytest.mark.parametrize("size", [8, 28])
@pytest.mark.parametrize("scale_shift", [False, True])
def test_width_multipliers_and_scale_shift_keep_shapes(size, scale_shift):
    net = UNet(1, 8, num_classes=10, scale_shift=scale_shift, mult=(1, 2, 4))
    assert [net.down1.conv1.out_channels, net.down2.conv1.out_channels, net.mid1.conv1.out_channels] == [8, 16, 32]
    assert net.up2.conv1.in_channels == 32 + 16 and net.up1.conv1.in_channels == 16 + 8
    assert net.down1.emb.out_features == (16 if scale_shift else 8)
    _past_zero_init(net)
    x, t, y = torch.randn(3, 1, size, size), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 10])
    out = net(x, t, y)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert net.class_emb.weight.grad.abs().sum() > 0  # the label reaches the output


def test_scale_shift_reads_the_label_as_a_gain():
    net = UNet(1, 8, num_classes=10, scale_shift=True)
    _past_zero_init(net)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    assert not torch.allclose(net(x, t, torch.tensor([0, 0])), net(x, t, torch.tensor([7, 7])))


def test_bad_multipliers_are_refused():
    with pytest.raises(ValueError, match="three positive width multipliers"):
        UNet(1, 8, mult=(1, 2))
