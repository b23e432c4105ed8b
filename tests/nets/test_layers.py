"""gankit's spectral norm: torch's numbers and checkpoint keys, and a net that compiles."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from gankit import config as config_mod
from gankit.nets.layers import spectral_norm
from gankit.train import build_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import tiny_config  # noqa: E402

LAYERS = {
    "linear": (lambda: nn.Linear(6, 5), lambda: torch.randn(4, 6)),
    "conv": (lambda: nn.Conv2d(2, 3, 3, 2, 1), lambda: torch.randn(4, 2, 8, 8)),
    "conv_transpose": (lambda: nn.ConvTranspose2d(3, 2, 4, 2, 1), lambda: torch.randn(4, 3, 4, 4)),
    "embedding": (lambda: nn.Embedding(10, 4), lambda: torch.tensor([1, 3, 3, 9])),
}


@pytest.mark.parametrize("kind", LAYERS)
def test_spectral_norm_gives_torchs_numbers_and_keys(kind):
    """Same random draws at construction, same power iteration per training call, same outputs,
    gradients and state_dict: checkpoints of either load into the other."""
    make, data = LAYERS[kind]
    torch.manual_seed(0)
    ours = spectral_norm(make())
    torch.manual_seed(0)
    theirs = torch_spectral_norm(make())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for _ in range(3):  # training: each call moves u and v
        x = data()
        out_ours, out_theirs = ours(x), theirs(x)
        torch.testing.assert_close(out_ours, out_theirs, rtol=0, atol=0)
        out_ours.square().sum().backward()
        out_theirs.square().sum().backward()
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    w = "parametrizations.weight.original"
    torch.testing.assert_close(
        ours.get_parameter(w).grad, theirs.get_parameter(w).grad, rtol=0, atol=0
    )
    ours.eval(), theirs.eval()
    u = ours.parametrizations.weight[0]._u.clone()
    x = data()
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert torch.equal(ours.parametrizations.weight[0]._u, u)  # evaluation leaves the vectors alone


def test_a_training_call_replaces_the_vectors_and_leaves_the_old_ones_alone():
    """What an earlier call saved for its backward must not change when the net is called again."""
    layer = spectral_norm(nn.Linear(6, 1))
    sn = layer.parametrizations.weight[0]
    u, v = sn._u, sn._v
    kept = u.clone(), v.clone()
    layer(torch.randn(3, 6))
    assert sn._u is not u and sn._v is not v
    assert torch.equal(u, kept[0]) and torch.equal(v, kept[1])
    assert "parametrizations.weight.0._u" in dict(layer.named_buffers())  # still a buffer


def test_compiled_spectral_norm_discriminator_trains():
    """With torch's parametrization TorchInductor saved D's `_u` for the backward of its first
    call, and the second call (D judges real, then fake) changed it in place: the backward failed
    ('modified by an inplace operation'). Here it runs, and gives the eager gradients."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported with this Python/PyTorch")
    cfg = config_mod.validate(tiny_config("hinge-resnet", steps=1))
    D = build_model(cfg, (1, 8, 8), 10).nets["D"]
    eager = build_model(cfg, (1, 8, 8), 10).nets["D"]
    eager.load_state_dict(D.state_dict())
    real, fake = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)).chunk(2)
    compiled = torch.compile(D)
    for net in (compiled, eager):
        (net(real, None).mean() - net(fake, None).mean()).backward()
    for (name, a), b in zip(D.named_parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)
