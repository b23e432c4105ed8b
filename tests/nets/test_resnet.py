import copy

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn
from torch.nn.utils import parametrize

from gankit.errors import ConfigError
from gankit.nets import (
    ConditionalBatchNorm2d,
    ResNetDiscriminator,
    ResNetGenerator,
    SelfAttention,
    apply_spectral_norm,
)

# one attention_res for both nets, as the recipe passes model.attention_res: G's stages output
# b..R, D's blocks R/2..b (at 8 x 8 only b = 4 is common: after G's linear)
ATTN = {8: 4, 28: 14, 32: 8}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _labels(n, classes=10, seed=0):
    return torch.randint(0, classes, (n,), generator=_gen(seed))


def _wrapped(net):
    return [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]


def _sigma(m):
    """Largest singular value of the 2D matrix spectral norm divides by (dim 1
    first for transposed convs)."""
    w = m.weight.detach()
    w = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w
    return torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("resolution", [8, 28, 32])
@pytest.mark.parametrize("classes", [0, 10])
@pytest.mark.parametrize("attention", [False, True])
def test_shapes_at_every_small_size(resolution, classes, attention):
    torch.manual_seed(0)
    attn = ATTN[resolution] if attention else None
    g = ResNetGenerator(16, 8, resolution, 1, classes, attention_res=attn)
    d = ResNetDiscriminator(
        8, resolution, 1, classes, attention_res=attn, minibatch_std=2 * attention
    )
    y = _labels(4) if classes else None
    x = g(torch.randn(4, 16, generator=_gen()), y)
    assert x.shape == (4, 1, resolution, resolution)
    assert x.abs().max() <= 1
    assert d(x, y).shape == (4,)
    assert (g.attn is not None) == (d.attn is not None) == attention
    assert any(isinstance(m, ConditionalBatchNorm2d) for m in g.modules()) == bool(classes)


def test_three_channels_and_unsupported_sizes():
    g, d = ResNetGenerator(8, 8, 16, 3), ResNetDiscriminator(8, 16, 3)
    assert d(g(torch.randn(2, 8))).shape == (2,)
    with pytest.raises(ConfigError, match="resolution 30"):
        ResNetGenerator(8, 8, 30, 1)
    with pytest.raises(ConfigError, match="choose from: 7, 14, 28"):
        ResNetGenerator(8, 8, 28, 1, attention_res=56)
    with pytest.raises(ConfigError, match="choose from: 7, 14"):
        ResNetDiscriminator(8, 28, 1, attention_res=28)


def test_channel_plan_follows_dcgan():
    """28 = 7 * 2^2: G 7x7x2w -> 14x14xw -> 28x28xw; D 28 -> 14x14xw -> 7x7x2w -> 7x7x2w."""
    g, d = ResNetGenerator(16, 8, 28, 1), ResNetDiscriminator(8, 28, 1)
    assert g.linear.out_features == 7 * 7 * 16
    assert [(b.conv1.in_channels, b.conv2.out_channels) for b in g.blocks] == [(16, 8), (8, 8)]
    assert [(b.conv1.in_channels, b.conv2.out_channels, b.down) for b in [*d.blocks, d.last]] == [
        (1, 8, True),
        (8, 16, True),
        (16, 16, False),
    ]
    assert isinstance(d.last.skip, nn.Identity)  # same shape: identity shortcut


def test_labels_required_exactly_when_conditional():
    g, d = ResNetGenerator(8, 8, 8, 1, num_classes=10), ResNetDiscriminator(8, 8, 1)
    with pytest.raises(ValueError, match="num_classes=10.*pass labels y"):
        g(torch.randn(2, 8))
    with pytest.raises(ValueError, match="unconditional"):
        d(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="one label per sample"):
        g(torch.randn(2, 8), torch.zeros(3, dtype=torch.long))


def _power_iterations(d, x, y, n=10):
    d.train()
    with torch.no_grad():
        for _ in range(n):  # each training forward pass is one power iteration
            d(x, y)
    d.eval()


def test_spectral_norm_keeps_every_weight_at_unit_norm_while_training():
    torch.manual_seed(0)
    d = ResNetDiscriminator(8, 28, 1, num_classes=10, attention_res=14, minibatch_std=4)
    wrapped = _wrapped(d)
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    # 3 + 3 blocks, 3 last (mbstd: 1x1 shortcut), 3 attn, lin, emb
    assert wrapped == layers and len(wrapped) == 14
    x, y = torch.randn(4, 1, 28, 28, generator=_gen()), _labels(4)
    opt = torch.optim.Adam(d.parameters(), 1e-3, betas=(0.0, 0.9))
    # real optimizer steps move the raw weights away from where u, v were computed
    for _ in range(3):
        opt.zero_grad()
        d(x, y).square().mean().backward()
        opt.step()
    _power_iterations(d, x, y)
    assert [_sigma(m) for m in wrapped] == pytest.approx([1.0] * len(wrapped), abs=0.05)
    # a jump in every raw weight (a rank-one spike 4x its norm): the stale u, v under-estimate
    # sigma, a few training passes bring the largest singular value back to 1
    g = _gen(1)
    with torch.no_grad():
        for m in wrapped:
            w = m.parametrizations.weight.original.view(len(m.parametrizations.weight.original), -1)
            a, b = torch.randn(len(w), 1, generator=g), torch.randn(1, w.shape[1], generator=g)
            w.add_(a @ b * (4 * torch.linalg.matrix_norm(w, ord=2) / (a.norm() * b.norm())))
    assert min(_sigma(m) for m in wrapped) > 1.3
    _power_iterations(d, x, y)
    assert [_sigma(m) for m in wrapped] == pytest.approx([1.0] * len(wrapped), abs=1e-3)
    assert not _wrapped(ResNetDiscriminator(8, 28, 1, spectral_norm=False))


def test_apply_spectral_norm_every_layer_type_once_and_not_conditional_gains():
    torch.manual_seed(0)
    net = nn.ModuleList(
        [
            nn.Conv2d(3, 8, 3),
            nn.ConvTranspose2d(8, 4, 4),
            nn.Linear(5, 7),
            nn.Embedding(10, 6),
            ConditionalBatchNorm2d(4, 10),
        ]
    )
    assert apply_spectral_norm(net) is net
    assert _wrapped(net) == list(net[:4])
    assert len(_wrapped(apply_spectral_norm(net))) == 4  # a second call wraps nothing twice
    assert [_sigma(m) for m in net[:4]] == pytest.approx([1.0] * 4, abs=1e-3)
    assert torch.equal(net[4].gain.weight, torch.ones(10, 4))


def test_projection_discriminator_and_conditional_generator_use_the_label():
    torch.manual_seed(0)
    g = ResNetGenerator(8, 8, 8, 1, num_classes=10).eval()
    d = ResNetDiscriminator(8, 8, 1, num_classes=10).eval()
    # class-conditional gains start at 1 and biases at 0: perturb them like training would
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.gain.weight.add_(0.1 * torch.randn_like(m.gain.weight))
    z, x = torch.randn(4, 8), torch.randn(4, 1, 8, 8)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 3)
    assert not torch.allclose(d(x, y0), d(x, y1), atol=1e-4)
    assert not torch.allclose(g(z, y0), g(z, y1), atol=1e-4)
    # the label enters D only through <embed(y), features>, exactly the projection form
    h = None

    def grab(module, inputs, output):
        nonlocal h
        h = torch.relu(output).sum((2, 3))

    d.last.register_forward_hook(grab)
    diff = d(x, y1) - d(x, y0)
    assert torch.allclose(diff, (h * (d.embed(y1) - d.embed(y0))).sum(1), atol=1e-5)


def test_self_attention_starts_as_identity_and_learns_gamma():
    torch.manual_seed(0)
    attn, x = SelfAttention(4), torch.randn(2, 4, 5, 3)  # 4 // 8 = 0 -> at least 1 channel
    assert attn.f.out_channels == attn.g.out_channels == 1 and attn.h.out_channels == 4
    assert torch.equal(attn(x), x)
    (attn(x) * torch.randn_like(x)).sum().backward()
    assert attn.gamma.grad is not None and attn.gamma.grad.abs() > 0
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    y = attn(x)
    # by hand: o_j = sum_i softmax_i(f(x_j) . g(x_i)) h(x_i)
    q, k, v = (m(x).flatten(2) for m in (attn.f, attn.g, attn.h))
    w = torch.softmax(torch.einsum("ncj,nci->nji", q, k), -1)
    assert torch.allclose(y, x + torch.einsum("nji,nci->ncj", w, v).view_as(x), atol=1e-5)
    # the whole net trains through it: the gradient reaches gamma inside D
    d = ResNetDiscriminator(8, 8, 1, attention_res=4)
    d(torch.randn(2, 1, 8, 8)).sum().backward()
    assert d.attn.gamma.grad.abs() > 0


def test_state_dict_round_trip_with_spectral_norm():
    """u, v of the power iteration are buffers: through safetensors into a fresh D built the same
    way, eval outputs are identical and training continues bit for bit (resume)."""
    torch.manual_seed(0)
    args = dict(width=8, resolution=28, channels=1, num_classes=10, attention_res=14)
    d = ResNetDiscriminator(**args)
    x, y = torch.randn(8, 1, 28, 28, generator=_gen()), _labels(8)
    opt = torch.optim.SGD(d.parameters(), 0.1)
    for _ in range(3):
        opt.zero_grad()
        d(x, y).mean().backward()
        opt.step()
    state = d.state_dict()
    assert any(k.endswith("_u") for k in state) and any(k.endswith("_v") for k in state)
    torch.manual_seed(1)
    fresh = ResNetDiscriminator(**args)
    fresh.load_state_dict(st_load(st_save(state)))
    d.eval(), fresh.eval()
    assert torch.equal(d(x, y), fresh(x, y))
    d.train(), fresh.train()
    assert torch.equal(d(x, y), fresh(x, y))  # one more power iteration each, from the same u
    assert torch.equal(d(x, y), fresh(x, y))
    twin = copy.deepcopy(d)  # EMA keeps deep copies of nets
    assert torch.equal(twin(x, y), d(x, y))


def test_generator_state_dict_round_trip_keeps_conditional_batch_norm():
    torch.manual_seed(0)
    g = ResNetGenerator(8, 8, 28, 1, num_classes=10, attention_res=28)
    z, y = torch.randn(8, 8, generator=_gen()), _labels(8)
    g(z, y)  # update running statistics
    fresh = ResNetGenerator(8, 8, 28, 1, num_classes=10, attention_res=28)
    fresh.load_state_dict(st_load(st_save(g.state_dict())))
    assert torch.equal(g.eval()(z, y), fresh.eval()(z, y))


def test_discriminator_supports_gradient_penalties():
    """R1 / WGAN-GP differentiate D's input gradient: spectral norm, attention and projection must
    all be twice differentiable."""
    torch.manual_seed(0)
    d = ResNetDiscriminator(8, 8, 1, num_classes=10, attention_res=4)
    with torch.no_grad():
        d.attn.gamma.fill_(0.5)
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(d(x, _labels(4)).sum(), x, create_graph=True)
    grad.square().sum().backward()
    # real and fake in one graph: two power iterations update u, v in place before one backward
    (d(x, _labels(4)) - d(torch.randn(4, 1, 8, 8), _labels(4, seed=1))).mean().backward()
    assert (
        d.attn.gamma.grad.abs() > 0
        and d.blocks[0].conv1.parametrizations.weight.original.grad.abs().sum() > 0
    )
