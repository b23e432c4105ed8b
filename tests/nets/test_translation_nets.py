"""The translation networks: the U-Net's depth, skip connections and dropout, the PatchGAN's map
size and receptive field for 32 to 256 pixel inputs, and CycleGAN's ResNet-block generators and
unconditional PatchGANs."""

import pytest
import torch

from gankit.nets.translation import (
    PATCHES,
    CycleDiscriminators,
    CycleGenerators,
    PatchDiscriminator,
    ResnetGenerator,
    UNetGenerator,
    doubling_layers,
    patch_output_side,
    receptive_field,
    unet_depth,
)
from gankit.shard import RankDropout


@pytest.mark.parametrize(("side", "depth"), [(32, 5), (64, 6), (128, 7), (256, 8), (48, 4)])
def test_the_unet_halves_down_to_one_pixel_or_an_odd_side(side, depth):
    assert unet_depth(side) == depth
    G = UNetGenerator(3, 3, side, width=2).eval()
    x = torch.rand(1, 3, side, side) * 2 - 1
    out = G(x)
    assert out.shape == x.shape and out.abs().max() <= 1  # tanh
    assert len(G.down) == len(G.up) == depth


def test_every_decoder_block_but_the_innermost_reads_its_encoder_map():
    G = UNetGenerator(3, 3, 64, width=4)
    widths = [G.down[0][0].out_channels] + [b[1].out_channels for b in list(G.down)[1:]]
    ins = [block[1].in_channels for block in G.up]
    assert ins[0] == widths[-1]  # the innermost reads the bottleneck alone
    assert ins[1:] == [2 * w for w in reversed(widths[:-1])]  # the others: [below, skip]


def test_the_skips_carry_the_image_past_a_silenced_bottleneck():
    torch.manual_seed(0)
    G = UNetGenerator(3, 3, 32, width=4).eval()
    G.down[-1].register_forward_hook(lambda module, args, out: torch.zeros_like(out))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = G(x)
    assert not torch.allclose(out[0], out[1], atol=1e-3)  # the inputs still tell apart
    x.requires_grad_(True)
    G(x)[0, :, 5, 5].sum().backward()
    assert x.grad[0, :, 5, 5].abs().sum() > 0


def test_dropout_sits_in_three_decoder_blocks_and_only_while_training():
    G = UNetGenerator(3, 3, 32, width=2, dropout=0.5)
    dropped = [i for i, block in enumerate(G.up) if any(isinstance(m, RankDropout) for m in block)]
    assert dropped == [1, 2, 3]
    x = torch.rand(2, 3, 32, 32)
    G.eval()
    assert torch.equal(G(x), G(x))
    G.train()
    torch.manual_seed(1)
    first = G(x)
    assert not torch.equal(first, G(x))
    assert not any(isinstance(m, RankDropout) for m in UNetGenerator(3, 3, 32, 2, 0.0).modules())


@pytest.mark.parametrize(("side", "map_side"), [(32, 2), (64, 6), (128, 14), (256, 30)])
def test_the_70_pixel_patchgan_maps_each_size(side, map_side):
    D = PatchDiscriminator(6, width=2, patch=70)
    x = torch.rand(1, 3, side, side)
    assert D(x, x).shape == (1, 1, map_side, map_side)
    assert patch_output_side(side, 70) == map_side


@pytest.mark.parametrize("patch", [16, 34, 70])
def test_one_logit_sees_exactly_its_receptive_field(patch):
    """Through the convolutions: instance norm's statistics (left out here) span the image."""
    torch.manual_seed(0)
    D = PatchDiscriminator(2, width=2, patch=patch).eval()
    for i, layer in enumerate(D.net):
        if isinstance(layer, torch.nn.InstanceNorm2d):
            D.net[i] = torch.nn.Identity()
    x = torch.rand(1, 1, 128, 128, requires_grad=True)
    out = D(x, torch.rand(1, 1, 128, 128))
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero().flatten()
    layers = PATCHES.index(str(patch)) + 1
    assert int(rows.max() - rows.min()) + 1 == patch == receptive_field(layers)


def test_too_small_images_and_unknown_patches_are_refused():
    assert patch_output_side(16, 70) == 0 and patch_output_side(16, 16) == 6
    with pytest.raises(ValueError, match="choose from: 16, 34, 70, 142, 286"):
        PatchDiscriminator(6, patch=50)
    with pytest.raises(ValueError, match="divisible by 4"):
        UNetGenerator(3, 3, 30)


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("side", [16, 32, 64])
def test_the_resnet_generator_keeps_the_size_and_spans_minus_one_to_one(side, upsample):
    g = ResnetGenerator(3, 3, width=4, blocks=2, upsample=upsample)
    y = g(torch.randn(2, 3, side, side) * 3)
    assert y.shape == (2, 3, side, side) and y.abs().max() <= 1
    blocks = [m for m in g.net if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == 2 and blocks[0].body[1].in_channels == 16  # 4 x width inside
    transposed = [m for m in g.net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(transposed) == (2 if upsample == "transpose" else 0)


@pytest.mark.parametrize(("upsample", "uneven"), [("transpose", True), ("resize", False)])
def test_only_the_transposed_doubling_turns_a_flat_map_into_a_checkerboard(upsample, uneven):
    """Equal weights on a flat map: a stride-2 transposed 3x3 convolution sums 1, 2 or 4 taps
    into alternate pixels (the checkerboard); a nearest doubling and a 3x3 convolution sums nine
    everywhere, the reflection-padded border included."""
    doubling = torch.nn.Sequential(*doubling_layers(2, 1, upsample))
    for m in doubling:
        if hasattr(m, "weight"):
            torch.nn.init.ones_(m.weight)
    y = doubling(torch.ones(1, 2, 8, 8))[0, 0]
    assert y.shape == (16, 16)
    inner = y[1:-1, 1:-1]
    assert (inner.max() - inner.min() > 1) == uneven
    if not uneven:
        assert torch.equal(y, torch.full((16, 16), 18.0))  # 9 taps x 2 channels
    with pytest.raises(ValueError, match="upsample must be one of transpose, resize"):
        ResnetGenerator(3, 3, upsample="bilinear")


def test_a_residual_block_with_silenced_convolutions_passes_its_input_through():
    g = ResnetGenerator(3, 3, width=4, blocks=1)
    block = g.net[10]
    torch.nn.init.zeros_(block.body[-1].weight)  # the last instance norm's scale
    torch.nn.init.zeros_(block.body[-1].bias)
    x = torch.randn(1, 16, 8, 8)
    assert torch.equal(block(x), x)


def test_cyclegan_has_a_generator_and_an_unconditional_patchgan_per_domain():
    gens, ds = CycleGenerators(3, width=4, blocks=1), CycleDiscriminators(3, width=4, patch=70)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(gens(x), gens.ab(x)) and not torch.equal(gens.ab(x), gens.ba(x))
    side = patch_output_side(64, 70)
    assert ds.a(x).shape == ds.b(x).shape == (2, 1, side, side)
    assert ds.a.net[0].in_channels == 3  # judges one image, not a pair
