import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from gankit.nets.layers import spectral_norm as gankit_spectral_norm
from gankit.train.ema import EMA

# torch's spectral norm updates its vectors in place; gankit's replaces them at every call
SPECTRAL_NORMS = [torch_spectral_norm, gankit_spectral_norm]


def _net(sn=torch_spectral_norm) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(sn(nn.Conv2d(2, 3, 3)), nn.BatchNorm2d(3))


def _train(net: nn.Module, seed: int) -> None:
    """One change of every kind a step makes: weights in place, BN statistics, SN vectors."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g))
    net.train()(torch.randn(4, 2, 5, 5, generator=g))


@pytest.mark.parametrize("sn", SPECTRAL_NORMS)
def test_average_follows_the_formula_for_every_kind_of_tensor(sn):
    net = _net(sn)
    ema = EMA({"G": net, "D": nn.Linear(2, 2)}, ("G",), decay=0.9, start=1)
    expected = copy.deepcopy(net)
    for step in range(4):
        _train(net, seed=step)
        ema.update(step)
        weight = 1.0 if step < 1 else 0.1  # before `start` a copy, then the average
        with torch.no_grad():
            for (name, e), s in zip(
                expected.state_dict(keep_vars=True).items(),
                net.state_dict(keep_vars=True).values(),
                strict=True,
            ):
                if name.endswith(("_u", "_v", "num_batches_tracked")):
                    e.copy_(s)
                else:
                    e.lerp_(s, weight)
    avg = ema.nets["G"].state_dict()
    assert set(ema.nets) == {"G"}
    for name, value in expected.state_dict().items():
        torch.testing.assert_close(avg[name], value, rtol=0, atol=1e-6, msg=name)
    assert int(avg["1.num_batches_tracked"]) == 4
    assert not any(p.requires_grad for p in ema.nets["G"].parameters())


@pytest.mark.parametrize("sn", SPECTRAL_NORMS)
def test_tensors_loaded_in_place_after_creation_are_followed(sn):
    """Resume loads a checkpoint into the nets and the EMA after the EMA was built: the pairs made
    at construction must still be the tensors the nets use."""
    net, other = _net(sn), _net(sn)
    _train(other, seed=7)
    ema = EMA({"G": net}, ("G",), decay=0.5)
    net.load_state_dict(other.state_dict())
    ema.load_state_dict({"G": other.state_dict()})
    _train(net, seed=8)
    ema.update(10)
    for name, value in ema.nets["G"].state_dict().items():
        src, old = net.state_dict()[name], other.state_dict()[name]
        expected = src if name.endswith(("_u", "_v", "num_batches_tracked")) else old.lerp(src, 0.5)
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-6, msg=name)
