"""The matmul forms of DCGAN's edge layers compute what PyTorch's convolutions compute: outputs,
gradients and gradients of gradients (the penalties' double backward), in float64."""

import copy

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.nets import DCGANDiscriminator, DCGANGenerator
from gankit.nets.fast_conv import (
    EdgeConv2d,
    EdgeConvTranspose2d,
    _ConvLeakyReLU,
    _Scatter,
    _Scratch,
    stock_kernels,
)

CL = torch.channels_last


def _double(layer: nn.Module) -> nn.Module:
    """The layer in float64 with weights of a size that makes errors visible."""
    torch.manual_seed(0)
    layer = layer.double()
    for p in layer.parameters():
        nn.init.normal_(p, 0, 0.3)
    return layer


def _grads(out: torch.Tensor, *inputs: torch.Tensor, seed: int = 1) -> list[torch.Tensor]:
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return list(torch.autograd.grad(out, inputs, g))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_projection_is_conv_transpose_from_one_pixel(channels_last, bias):
    layer = _double(EdgeConvTranspose2d(10, 6, 7, 1, 0, bias=bias))
    if channels_last:
        layer = layer.to(memory_format=CL)
    z = torch.randn(5, 10, 1, 1, dtype=torch.float64, requires_grad=True)
    out = layer(z)
    ref = F.conv_transpose2d(z, layer.weight, layer.bias)
    assert out.grad_fn.name() != "ConvolutionBackward0"  # the matmul form ran
    assert out.is_contiguous(memory_format=CL) == channels_last
    torch.testing.assert_close(out, ref)
    params = [z, layer.weight] + ([layer.bias] if bias else [])
    for a, b in zip(_grads(out, *params), _grads(ref, *params), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("out_channels", [1, 3])
@pytest.mark.parametrize("size", [7, 14])
def test_scatter_is_conv_transpose_to_few_channels(out_channels, size):
    layer = _double(EdgeConvTranspose2d(8, out_channels, 4, 2, 1))
    x = torch.randn(3, 8, size, size, dtype=torch.float64).to(memory_format=CL).requires_grad_()
    out = layer(x)
    ref = F.conv_transpose2d(x, layer.weight, layer.bias, 2, 1)
    assert out.grad_fn.name() != "ConvolutionBackward0"
    assert out.shape == (3, out_channels, 2 * size, 2 * size)
    torch.testing.assert_close(out, ref)
    for a, b in zip(
        _grads(out, x, layer.weight, layer.bias),
        _grads(ref, x, layer.weight, layer.bias),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_scatter_has_second_derivatives():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    scatter = lambda x, w: _Scatter.apply(x, w, (2, 2), (1, 1))  # noqa: E731
    torch.testing.assert_close(scatter(x, w), F.conv_transpose2d(x, w, None, 2, 1))
    assert torch.autograd.gradcheck(scatter, (x, w))
    assert torch.autograd.gradgradcheck(scatter, (x, w))


@pytest.mark.parametrize("input_grad", [False, True])
@pytest.mark.parametrize("in_channels", [1, 11])
def test_image_layer_is_conv_then_leaky_relu(input_grad, in_channels):
    """D's step (no input gradient) and G's step (an input gradient: a scatter from 1 channel;
    PyTorch's from 11, a conditional D's image and one-hot maps)."""
    layer = _double(EdgeConv2d(in_channels, 6, 4, 2, 1, negative_slope=0.2))
    x = (
        torch.randn(4, in_channels, 12, 12, dtype=torch.float64)
        .to(memory_format=CL)
        .requires_grad_(input_grad)
    )
    params = ([x] if input_grad else []) + [layer.weight, layer.bias]
    for _ in range(2):  # the second backward reuses the layer's buffer
        out = layer(x)
        ref = F.leaky_relu(F.conv2d(x, layer.weight, layer.bias, 2, 1), 0.2)
        assert out.grad_fn.name() != "LeakyReluBackward1"
        torch.testing.assert_close(out, ref)
        for a, b in zip(_grads(out, *params), _grads(ref, *params), strict=True):
            torch.testing.assert_close(a, b)


def test_image_layer_has_second_derivatives():
    """What WGAN-GP and R1 need: the gradient of D's input gradient, with respect to everything."""
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    layer = lambda x, w, b: _ConvLeakyReLU.apply(x, w, b, (2, 2), (1, 1), 0.2, _Scratch())  # noqa: E731
    torch.testing.assert_close(layer(x, w, b), F.leaky_relu(F.conv2d(x, w, b, 2, 1), 0.2))
    assert torch.autograd.gradcheck(layer, (x, w, b))
    assert torch.autograd.gradgradcheck(layer, (x, w, b))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_logit_layer_is_one_matmul(channels_last, bias):
    """D's last layer, a kernel as large as its input: one matmul, in either layout of the input
    and the weight, with the gradients and second derivatives of the convolution."""
    layer = _double(EdgeConv2d(6, 2, 5, 1, 0, bias=bias))
    x = torch.randn(4, 6, 5, 5, dtype=torch.float64)
    if channels_last:
        layer, x = layer.to(memory_format=CL), x.to(memory_format=CL)
    x.requires_grad_()
    out = layer(x)
    ref = F.conv2d(x, layer.weight, layer.bias)
    # under the view
    assert out.grad_fn.next_functions[0][0].name() in (
        "MmBackward0",
        "AddmmBackward0",
    )
    assert out.shape == (4, 2, 1, 1)
    torch.testing.assert_close(out, ref)
    params = [x, layer.weight] + ([layer.bias] if bias else [])
    for a, b in zip(_grads(out, *params), _grads(ref, *params), strict=True):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradgradcheck(layer, (x,))
    mixed = layer(x.detach().contiguous())  # an input laid out unlike the weight
    torch.testing.assert_close(mixed, ref)
    assert layer(x[:0]).shape == (0, 2, 1, 1)  # an empty batch, as nn.Conv2d


def test_other_shapes_and_devices_fall_back_to_pytorch():
    wide = EdgeConvTranspose2d(8, 16, 4, 2, 1)  # 16 x 16 columns: oneDNN's kernel is good
    odd = EdgeConvTranspose2d(8, 1, 3, 2, 1)  # kernel not a multiple of the stride
    assert wide(torch.randn(2, 8, 5, 5)).grad_fn.name() == "ConvolutionBackward0"
    assert odd(torch.randn(2, 8, 5, 5)).grad_fn.name() == "ConvolutionBackward0"
    plain = EdgeConv2d(1, 4, 4, 2, 1)  # no fused activation, no input gradient
    assert plain(torch.randn(2, 1, 8, 8)).grad_fn.name() == "ConvolutionBackward0"
    logit = EdgeConv2d(4, 1, 4, 1, 0)
    # kernel smaller than input
    assert logit(torch.randn(2, 4, 5, 5)).grad_fn.name() == "ConvolutionBackward0"
    # padded
    assert (
        EdgeConv2d(4, 1, 4, 1, 1)(torch.randn(2, 4, 4, 4)).grad_fn.name() == "ConvolutionBackward0"
    )


def test_stock_kernels_runs_pytorchs_convolutions_with_the_same_result():
    torch.manual_seed(0)
    g, d = DCGANGenerator(16, 8, 28, 1), DCGANDiscriminator(8, 28, 1, norm="none")
    z = torch.randn(4, 16)
    fast_out = d(g(z))
    names = {n.name() for n in _graph(fast_out)}
    assert {"_ScatterBackward", "_ConvLeakyReLUBackward", "AddmmBackward0"} <= names
    stock_out = stock_kernels(d)(stock_kernels(g)(z))
    stock_names = {n.name() for n in _graph(stock_out)}
    assert not any(n.startswith("_") for n in stock_names) and "LeakyReluBackward1" in stock_names
    torch.testing.assert_close(fast_out, stock_out, rtol=1e-5, atol=1e-6)


def _graph(t: torch.Tensor):
    seen, todo = [], [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node not in seen:
            seen.append(node)
            todo += [f for f, _ in node.next_functions]
    return seen


def test_discriminator_keeps_its_checkpoint_keys_and_spectral_norm_steps_once():
    """The fused activation leaves an Identity in its place: the layer indices (state_dict keys)
    are those of the unfused net. A spectral-norm weight is read once per forward, so its power
    iteration advances as it does in nn.Conv2d."""
    d = DCGANDiscriminator(8, 28, 1, norm="none")
    assert list(d.state_dict()) == [
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
        "net.4.weight",
        "net.4.bias",
    ]
    torch.manual_seed(0)
    fast = spectral_norm(EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2))
    torch.manual_seed(0)
    stock = spectral_norm(nn.Conv2d(1, 4, 4, 2, 1))
    x = torch.randn(3, 1, 8, 8, requires_grad=True)
    for _ in range(3):
        torch.testing.assert_close(fast(x), F.leaky_relu(stock(x), 0.2))
    torch.testing.assert_close(
        fast.parametrizations.weight[0]._u, stock.parametrizations.weight[0]._u
    )


@pytest.mark.parametrize(
    "size,kernel,stride,padding",
    [
        ((5, 7), (4, 4), (2, 2), (1, 1)),  # non-square
        ((6, 4), (4, 2), (2, 1), (1, 0)),  # asymmetric kernel, stride and padding
        ((3, 5), (6, 4), (3, 2), (2, 1)),  # three taps a side one way, two the other
        ((4, 4), (3, 3), (2, 2), (1, 1)),  # kernel not a multiple of the stride: PyTorch's path
    ],
)
def test_scatter_shapes_beyond_dcgans(size, kernel, stride, padding):
    layer = _double(EdgeConvTranspose2d(5, 2, kernel, stride, padding))
    x = torch.randn(2, 5, *size, dtype=torch.float64).requires_grad_()
    out, ref = layer(x), F.conv_transpose2d(x, layer.weight, layer.bias, stride, padding)
    torch.testing.assert_close(out, ref)
    for a, b in zip(
        _grads(out, x, layer.weight, layer.bias),
        _grads(ref, x, layer.weight, layer.bias),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "size,kernel,stride,padding",
    [
        ((12, 10), (4, 4), (2, 2), (1, 1)),  # non-square, the scatter gives the input gradient
        # odd: the stride does not divide it, PyTorch's input gradient
        ((13, 13), (4, 4), (2, 2), (1, 1)),
        ((7, 9), (4, 4), (2, 2), (1, 1)),
        ((12, 9), (4, 4), (2, 2), (1, 1)),  # odd one way only
        ((9, 12), (4, 4), (2, 2), (1, 1)),
        ((8, 6), (4, 2), (2, 1), (1, 0)),  # asymmetric
    ],
)
def test_image_layer_shapes_beyond_dcgans(size, kernel, stride, padding):
    layer = _double(EdgeConv2d(1, 3, kernel, stride, padding, negative_slope=0.2))
    x = torch.randn(2, 1, *size, dtype=torch.float64).requires_grad_()
    out, ref = layer(x), F.leaky_relu(F.conv2d(x, layer.weight, layer.bias, stride, padding), 0.2)
    torch.testing.assert_close(out, ref)
    for a, b in zip(
        _grads(out, x, layer.weight, layer.bias),
        _grads(ref, x, layer.weight, layer.bias),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_image_layer_takes_broadcast_gradients():
    """out.sum() hands the layer a gradient with zero strides; the buffer follows the output."""
    layer = _double(EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2))
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(layer(x).sum(), [x, layer.weight])
    ref = torch.autograd.grad(
        F.leaky_relu(F.conv2d(x, layer.weight, layer.bias, 2, 1), 0.2).sum(), [x, layer.weight]
    )
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_gradients_of_one_backward_survive_the_next():
    """The kept buffer never escapes: what one backward returned is unchanged by a second."""
    layer = _double(EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2))
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    out = layer(x)
    kept = torch.autograd.grad(out, [x, layer.weight], torch.ones_like(out), retain_graph=True)
    kept_copy = [g.clone() for g in kept]
    again = torch.autograd.grad(out, [x, layer.weight], torch.randn_like(out))
    for a, b in zip(kept, kept_copy, strict=True):
        torch.testing.assert_close(a, b)
    assert not any(torch.equal(a, b) for a, b in zip(again, kept, strict=True))


def test_autocast_and_dilation_run_pytorchs_layers():
    proj = EdgeConvTranspose2d(5, 3, 4, 1, 0, bias=True)
    z = torch.randn(2, 5, 1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = proj(z)
        image = EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2)(
            torch.randn(2, 1, 8, 8, requires_grad=True)
        )
    assert out.dtype == torch.bfloat16 and out.grad_fn.name() == "ConvolutionBackward0"
    assert image.dtype == torch.bfloat16 and image.grad_fn.name() == "LeakyReluBackward1"
    dilated = EdgeConvTranspose2d(5, 3, 3, 1, 0, dilation=2, bias=False)
    torch.testing.assert_close(
        dilated(z), F.conv_transpose2d(z, dilated.weight, None, 1, 0, 0, 1, 2)
    )


def test_compiled_code_gets_pytorchs_layers(monkeypatch):
    """Under torch.compile the edge layers hand TorchInductor the stock convolutions (its code for
    the scatter's shifted adds ran the `dcgan` step at a third of the eager rate): with both
    Functions broken, a compiled pass still runs, forward and backward, and equals eager."""
    targets = []

    def recording_backend(gm, example_inputs):
        targets.extend(
            getattr(n.target, "__name__", str(n.target))
            for n in gm.graph.nodes
            if n.op == "call_function"
        )
        return gm.forward

    scatter, image = (
        EdgeConvTranspose2d(8, 1, 4, 2, 1),
        EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2),
    )
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    expected = image(scatter(x))
    (expected_grad,) = torch.autograd.grad(expected.sum(), x)

    def broken(*args, **kwargs):
        raise AssertionError("an edge layer's Function ran under torch.compile")

    monkeypatch.setattr(_Scatter, "apply", broken)
    monkeypatch.setattr(_ConvLeakyReLU, "apply", broken)
    with pytest.raises(AssertionError, match="Function ran"):
        image(scatter(x))  # eager: the Functions
    torch._dynamo.reset()
    try:
        out = torch.compile(lambda v: image(scatter(v)), backend=recording_backend)(x)
        (grad,) = torch.autograd.grad(out.sum(), x)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert "conv_transpose2d" in targets and "conv2d" in targets, targets


@pytest.mark.parametrize("conditional", ["none", "concat", "projection"])
def test_penalties_through_the_whole_discriminator_match_pytorchs(conditional):
    """R1 and WGAN-GP: D's parameter gradients of the penalties (a double backward through every
    layer) with the edge layers and with PyTorch's."""
    from gankit.losses import gradient_penalty, r1_penalty

    classes = 0 if conditional == "none" else 10
    torch.manual_seed(0)
    d = DCGANDiscriminator(
        8, 16, 1, norm="none", num_classes=classes, projection=conditional == "projection"
    ).double()
    stock = stock_kernels(copy.deepcopy(d))
    real, fake = torch.randn(2, 4, 1, 16, 16, dtype=torch.float64)
    y = torch.arange(4) if classes else None
    for penalty in (
        lambda fn: r1_penalty(fn, real),
        lambda fn: gradient_penalty(fn, real, fake, torch.Generator().manual_seed(3)),
    ):
        grads = [
            torch.autograd.grad(
                penalty(lambda v, net=net: net(v, y)), list(net.parameters()), allow_unused=True
            )
            for net in (d, stock)
        ]
        # every weight the input gradient passes through
        assert sum(g is not None for g in grads[0]) >= 4
        for a, b in zip(*grads, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b)


def test_buffers_are_per_thread_and_not_copied():
    """Two threads' backward passes through one layer never share a buffer; a copy of a layer
    (EMA, the bench's reference) starts without any."""
    import threading

    layer = EdgeConv2d(1, 4, 4, 2, 1, negative_slope=0.2)
    t = torch.empty(2, 4, 4, 4)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(layer._scratch.like(t)))
    thread.start()
    thread.join()
    mine = layer._scratch.like(t)
    assert mine.data_ptr() != seen[0].data_ptr() and layer._scratch.like(t) is mine
    assert copy.deepcopy(layer)._scratch.tensors == {}
