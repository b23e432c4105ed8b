import copy

import pytest
import torch
from torch import nn

from gankit import optim as optim_mod
from gankit.optim import FusedAdam


def _pair(weight_decay: float = 0.0, channels_last: bool = False, **kwargs):
    """The same little net twice, one under torch.optim's fused Adam, one under FusedAdam."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 3))
    if channels_last:  # the conv weight, as the trainer lays out image nets
        net = net.to(memory_format=torch.channels_last)
        assert not net[0].weight.is_contiguous()
    twin = copy.deepcopy(net)
    ref = torch.optim.Adam(
        net.parameters(),
        lr=1e-2,
        betas=(0.5, 0.99),
        weight_decay=weight_decay,
        fused=True,
        **kwargs,
    )
    ours = FusedAdam(
        twin.parameters(), lr=1e-2, betas=(0.5, 0.99), weight_decay=weight_decay, **kwargs
    )
    return (net, ref), (twin, ours)


def _grads(net: nn.Module, seed: int, skip_last: bool = False) -> None:
    g = torch.Generator().manual_seed(seed)
    for i, p in enumerate(net.parameters()):
        # laid out as the weight (channels-last ones too), as backward() leaves gradients
        p.grad = (
            None
            if skip_last and i >= 4
            else torch.empty_like(p).copy_(torch.randn(p.shape, generator=g))
        )


def _short_path_calls(opt: FusedAdam, monkeypatch) -> list[int]:
    calls: list[int] = []
    original = torch._fused_adam_

    def counting(*args, **kwargs):
        # every tensor handed over contiguous: the kernel would copy a channels-last one and back
        calls.append(int(all(t.is_contiguous() for tensors in args[:4] for t in tensors)))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "_fused_adam_", counting)
    monkeypatch.setattr(optim_mod, "adam_step", lambda self, closure=None: calls.append(0))
    return calls


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("channels_last", [False, True])
def test_steps_are_torch_optims_bit_for_bit(weight_decay, channels_last):
    """Learning-rate changes, parameters without a gradient, a checkpoint round trip; a
    channels-last weight (updated through flat views) included."""
    (net, ref), (twin, ours) = _pair(weight_decay, channels_last)
    for step in range(6):
        for m in (net, twin):
            _grads(m, seed=step, skip_last=step == 3)
        if step == 2:
            for opt in (ref, ours):
                opt.param_groups[0]["lr"] = 3e-3
        if step == 4:  # resume: state loaded into a new optimizer
            ours = FusedAdam(
                twin.parameters(), lr=3e-3, betas=(0.5, 0.99), weight_decay=weight_decay
            )
            ours.load_state_dict(copy.deepcopy(ref.state_dict()))
        ref.step()
        ours.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ref.state.values(), ours.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))


def test_short_path_runs_after_the_first_step_and_hooks_still_run(monkeypatch):
    _, (twin, ours) = _pair(channels_last=True)
    hooked: list[int] = []
    ours.register_step_pre_hook(lambda opt, args, kwargs: hooked.append(1))
    _grads(twin, seed=0)
    ours.step()  # creates the state: torch.optim's path
    assert not next(twin.parameters()).grad.is_contiguous()  # a channels-last weight's: flat views
    calls = _short_path_calls(ours, monkeypatch)
    ours.step()
    assert calls == [1] and len(hooked) == 2


@pytest.mark.parametrize("case", ["amsgrad", "grad_scaler", "closure", "two_groups"])
def test_other_options_take_torch_optims_path(case, monkeypatch):
    _, (twin, ours) = _pair(amsgrad=case == "amsgrad")
    if case == "two_groups":
        params = list(twin.parameters())
        ours = FusedAdam([{"params": params[:2]}, {"params": params[2:]}], lr=1e-2)
    _grads(twin, seed=0)
    ours.step()
    calls = _short_path_calls(ours, monkeypatch)
    if case == "grad_scaler":  # the fp16 GradScaler hands over its scale and inf flag this way
        ours.grad_scale, ours.found_inf = torch.ones(()), torch.zeros(())
    ours.step((lambda: None) if case == "closure" else None)
    assert calls == [0]


def test_grad_scaler_steps_skip_infs_as_torch_optims_do():
    """fp16's GradScaler through FusedAdam, end to end: a step with an inf gradient is skipped (no
    parameter or state changes), the others equal torch.optim's fused Adam bit for bit."""
    (net, ref), (twin, ours) = _pair()
    scalers = [torch.amp.GradScaler("cpu", init_scale=2.0**8) for _ in range(2)]
    for step in range(4):
        for m, opt, scaler in ((net, ref, scalers[0]), (twin, ours, scalers[1])):
            opt.zero_grad()
            scaler.scale(
                m(torch.randn(3, 2, 5, 5, generator=torch.Generator().manual_seed(step)))
                .square()
                .mean()
            ).backward()
            if step == 2:
                next(m.parameters()).grad.view(-1)[0] = float("inf")
            scaler.step(opt)
            scaler.update()
    assert ours.state[next(twin.parameters())]["step"].item() == 3  # four steps, one skipped
    assert scalers[0].get_scale() == scalers[1].get_scale() == 2.0**7
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ref.state.values(), ours.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
