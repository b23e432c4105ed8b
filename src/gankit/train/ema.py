"""Exponential moving average of network weights (Karras et al.; Yazici et al. 2019 for GANs)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class EMA:
    """Keeps averaged copies of some nets. Float buffers (batch-norm statistics) are averaged
    too, so an averaged G normalizes with statistics that match its averaged weights; spectral
    norm's power-iteration vectors (`_u`, `_v`) are copied, since an average of unit vectors is not
    one, and so are the buffers a module names in `copied_buffers` (the style-based G's tracked
    average w: the averaged G truncates towards G's own, as StyleGAN2 does)."""

    def __init__(
        self,
        nets: dict[str, nn.Module],
        names: tuple[str, ...],
        decay: float,
        start: int = 0,
        rampup: float | None = None,
    ):
        self.decay, self.start, self.rampup = decay, start, rampup
        self._half_life = math.log(0.5) / math.log(decay)  # in steps: 693 for 0.999
        self.nets = {n: copy.deepcopy(nets[n]).requires_grad_(False).eval() for n in names}
        self._sources = {n: nets[n] for n in names}
        # parameters are paired once (updated in place from here on: optimizer steps,
        # load_state_dict, broadcasts); regathering them each step cost more than the averaging.
        # Buffers are looked up by name at each update: gankit's spectral norm replaces its vectors
        self._params: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        self._buffers: list[
            tuple[dict, dict, str, bool]
        ] = []  # the modules' buffer dicts, name, averaged
        for n in names:
            self._pair(self.nets[n], nets[n])

    def _pair(self, avg: nn.Module, src: nn.Module) -> None:
        self._params[0].extend(avg.parameters())
        self._params[1].extend(src.parameters())
        for a, s in zip(avg.modules(), src.modules(), strict=True):
            copied = getattr(a, "copied_buffers", ())  # figures a module tracks itself (w_avg)
            for name, buffer in a.named_buffers(recurse=False):
                average = (
                    buffer.is_floating_point()
                    and not name.endswith(("_u", "_v"))
                    and name not in copied
                )
                self._buffers.append((a._buffers, s._buffers, name, average))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Called after optimizer step `step` (0-based); copies outright before `start`."""
        averaged, sources = list(self._params[0]), list(self._params[1])
        for a, s, name, average in self._buffers:
            if average:
                averaged.append(a[name])
                sources.append(s[name])
            else:
                a[name].copy_(s[name])
        torch._foreach_lerp_(averaged, sources, 1.0 if step < self.start else 1.0 - self.at(step))

    def at(self, step: int) -> float:
        """The decay of step `step`. With `rampup` (StyleGAN2's ema_rampup), the average's
        half-life is `rampup` times the steps trained, up to the half-life of `decay`: an early
        average forgets the first steps' noise, a long run averages as without it."""
        if self.rampup is None:
            return self.decay
        return 0.5 ** (1.0 / min(self._half_life, self.rampup * (step + 1)))

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {n: m.state_dict() for n, m in self.nets.items()}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        for n, m in self.nets.items():
            m.load_state_dict(state[n])
