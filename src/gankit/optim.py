"""Adam with its fused kernel called directly.

For the small networks GANs often train, `torch.optim.Adam(fused=True)` spends about a fifth of its
step outside the kernel: regathering the state of every parameter, grouping the tensors by device
and dtype, checking options that cannot change. `FusedAdam` makes the same kernel call (the same
numbers) from lists built in one loop, with channels-last weights as flat views (the kernel would
copy them to contiguous tensors and back), and takes torch.optim's own path wherever that does
more: the first step (which creates the state), a GradScaler's fp16 step, compiled code, and
every option the short path does not cover.
"""

from __future__ import annotations

import torch


class FusedAdam(torch.optim.Adam):
    """torch.optim.Adam(fused=True) with a shorter path for the common step; the optimizer's hooks
    (gankit's gradient all-reduce under torchrun) run as for any optimizer."""

    def __init__(self, params, **kwargs):
        super().__init__(params, fused=True, **kwargs)

    def step(self, closure=None):
        tensors = (
            None if closure is not None or torch.compiler.is_compiling() else self._kernel_inputs()
        )
        if tensors is None:
            return adam_step(self, closure)
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            torch._foreach_add_(tensors[4], 1)
            torch._fused_adam_(
                *tensors[:4],
                [],
                tensors[4],
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )
        return None

    def _kernel_inputs(self) -> tuple[list[torch.Tensor], ...] | None:
        """(params, grads, first moments, second moments, step counts) for the kernel, or None where
        torch.optim's path must run."""
        if (
            len(self.param_groups) != 1
            or getattr(self, "grad_scale", None) is not None
            or getattr(self, "found_inf", None) is not None
        ):
            return None
        group = self.param_groups[0]
        if (
            group["amsgrad"]
            or group["maximize"]
            or group["capturable"]
            or group["differentiable"]
            or group.get("decoupled_weight_decay")
            or isinstance(group["lr"], torch.Tensor)
        ):
            return None
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        device = dtype = None
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = self.state.get(p)
            mixed = device is not None and (p.device != device or p.dtype != dtype)
            if not state or grad.is_sparse or p.is_complex() or mixed:
                return None
            device, dtype = p.device, p.dtype
            tensors = (p, grad, state["exp_avg"], state["exp_avg_sq"])
            # a channels-last weight: the update is elementwise, see _flat
            if not p.is_contiguous():
                tensors = _flat(tensors)
                if tensors is None:
                    return None
            for out, t in zip((params, grads, exp_avgs, exp_avg_sqs), tensors, strict=True):
                out.append(t)
            steps.append(state["step"])
        return (params, grads, exp_avgs, exp_avg_sqs, steps) if params else None


def _flat(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
    """1-D views of channels-last tensors laid out alike (a weight, its gradient and moments), or
    None. The CPU kernel would copy each to a contiguous tensor and the results back, which costs
    more than the update itself (docs/results/speed.md). Elementwise, the memory order makes no
    difference."""
    p = tensors[0]
    if p.dim() not in (4, 5):
        return None
    layout = torch.channels_last if p.dim() == 4 else torch.channels_last_3d
    if not p.is_contiguous(memory_format=layout) or any(
        t.stride() != p.stride() for t in tensors[1:]
    ):
        return None
    return tuple(t.as_strided((t.numel(),), (1,), t.storage_offset()) for t in tensors)


def adam_step(optimizer: torch.optim.Adam, closure=None):
    """torch.optim.Adam's step without the wrapper that runs the step hooks (the caller's step ran
    them): torch.optim wraps a class's step in it once, at the class's first instance."""
    step = torch.optim.Adam.step
    return (step.__wrapped__ if getattr(step, "hooked", False) else step)(optimizer, closure)
