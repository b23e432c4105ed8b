"""gankit.compiling: code that compiled callers must run eagerly."""

import pytest
import torch
import torch._dynamo

from gankit.compiling import outside_compiled_code


def _input_grad_norm(x):
    """||d sum(x^3) / dx||^2, differentiable: a gradient penalty's shape."""
    (grad,) = torch.autograd.grad(x.pow(3).sum(), x, create_graph=True)
    return grad.pow(2).sum()


def test_a_double_backward_inside_a_compiled_caller_runs_eagerly():
    """AOTAutograd cannot differentiate twice; wrapped, the penalty-like call runs eagerly and its
    value and gradient are the eager ones. The wrapper changes nothing outside compiled code."""
    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported with this Python/PyTorch")
    x = torch.randn(5)
    wrapped = outside_compiled_code(_input_grad_norm)
    leaf = x.clone().requires_grad_(True)
    assert wrapped.__name__ == "_input_grad_norm" and torch.equal(
        wrapped(leaf), _input_grad_norm(leaf)
    )

    def step(fn, w):
        loss = fn(x * w)
        loss.backward()
        return loss

    eager_w = torch.ones(5, requires_grad=True)
    eager = step(_input_grad_norm, eager_w)
    torch._dynamo.reset()
    compiled_w = torch.ones(5, requires_grad=True)
    try:
        compiled = torch.compile(step, backend="aot_eager")(wrapped, compiled_w)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(compiled, eager)
    # the penalty reached the weights
    assert eager_w.grad is not None and eager_w.grad.abs().sum() > 0
    torch.testing.assert_close(compiled_w.grad, eager_w.grad)
