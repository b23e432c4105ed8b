import copy
import math

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


def test_the_rampup_grows_the_half_life_with_the_steps_up_to_the_decays():
    net = nn.Linear(1, 1, bias=False)
    ema = EMA({"G": net}, ("G",), decay=0.999, rampup=0.05)
    assert ema.at(99) == pytest.approx(0.5 ** (1 / 5))  # half-life 0.05 x 100 steps
    assert ema.at(1999) == pytest.approx(0.5 ** (1 / 100))
    full = math.log(0.5) / math.log(0.999)  # 692.8 steps: reached at step 13,856
    assert ema.at(13_856) == pytest.approx(0.999) and ema.at(10**6) == pytest.approx(0.999)
    assert EMA({"G": net}, ("G",), decay=0.999).at(99) == 0.999  # no rampup: the decay
    assert all(ema.at(s) < ema.at(s + 1) for s in range(0, int(full / 0.05), 97))
    with torch.no_grad():
        net.weight.fill_(1.0)
        ema.nets["G"].weight.zero_()
    ema.update(99)
    assert ema.nets["G"].weight.item() == pytest.approx(1 - 0.5 ** (1 / 5))


def test_a_run_with_the_rampup_keeps_an_average_nearer_g_as_trained(tmp_path):
    """After 30 steps a 0.999 average still holds most of the initial G; with the rampup's
    half-life of 1.5 steps it follows G as trained."""
    from conftest import tiny_config

    from gankit import config
    from gankit.train import Trainer

    def distance(rampup: str) -> float:
        overrides = ["train.ema=0.999", "train.ema_start=0", f"train.ema_rampup={rampup}"]
        cfg = config.update(tiny_config("dcgan", steps=30), overrides)
        trainer = Trainer(cfg, tmp_path / rampup, progress=False)
        trainer.run()
        averaged, trained = trainer.ema.nets["G"].state_dict(), trainer.nets["G"].state_dict()
        return sum((averaged[k].float() - trained[k].float()).norm().item() for k in trained)

    assert distance("0.05") < 0.2 * distance("null")
