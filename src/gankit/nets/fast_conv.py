"""DCGAN's edge layers computed as matrix products on the CPU.

oneDNN runs three of the `dcgan` networks' convolutions far below the rate of their middle
layers (`python bench/edge_conv.py`): G's first layer (a 1 x 1 latent to a b x b map), G's last
layer (a transposed convolution to 1 or 3 image channels) and the input gradient of D's image
layer (the same scatter, needed in G's step); and for D's logit layer, a kernel as large as its
input, the fixed cost of each oneDNN call exceeds its arithmetic. Here G's first layer and D's
logit layer are one matmul each and a scatter is one matmul plus a few shifted adds; D's image
layer also runs its LeakyReLU, so that the activation's gradient can go to a buffer the layer
keeps. Same parameters, state_dict and function as `nn.ConvTranspose2d` / `nn.Conv2d`
(+ `nn.LeakyReLU`), to float rounding. On other devices, under autocast or torch.compile and for
other shapes they are those layers; `stock_kernels` switches a net back to PyTorch's own path,
which the speed bench's reference loop runs.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from ..compiling import outside_compiled_code

# Up to this many channels x kernel taps on the image side, a scatter beats oneDNN's kernel
# (1 or 3 image channels of a 4 x 4 kernel; measured in bench/edge_conv.py).
SCATTER_MAX_COLUMNS = 48


def _phase_scatter(x: torch.Tensor, weight: torch.Tensor, stride, padding) -> torch.Tensor:
    """conv_transpose2d(x, weight) without bias, for a kernel k = U * stride. Output pixel
    I * s + r takes tap u * s + r of input pixel I - u, so each of the output's s x s phases is a
    sum of U x U shifted blocks of one matmul's output (taps x input pixels). The sums run in a
    phase-major layout, where every add covers whole rows; one reshape interleaves the phases."""
    n, c, h, w = x.shape
    co, (kh, kw), (sh, sw), (ph, pw) = weight.shape[1], weight.shape[2:], stride, padding
    uh, uw = kh // sh, kw // sw
    # rows (u, v, co, r, q)
    taps = weight.reshape(c, co, uh, sh, uw, sw).permute(2, 4, 1, 3, 5, 0).reshape(-1, c)
    cols = (taps @ x.permute(0, 2, 3, 1).reshape(n * h * w, c).t()).view(
        uh, uw, co, sh, sw, n, h, w
    )
    phases = x.new_zeros(sh, sw, n, co, h + uh - 1, w + uw - 1)
    for u in range(uh):
        for v in range(uw):
            phases[:, :, :, :, u : u + h, v : v + w] += cols[u, v].permute(1, 2, 3, 0, 4, 5)
    height, width = (h + uh - 1) * sh, (w + uw - 1) * sw
    out = phases.permute(2, 3, 4, 0, 5, 1).reshape(n, co, height, width)
    return out[:, :, ph : height - ph, pw : width - pw]


class _Scatter(torch.autograd.Function):
    """A transposed convolution to few channels: forward by `_phase_scatter`; backward by the two
    directions oneDNN does well, conv2d (the input gradient) and the weight gradient. Built of
    differentiable ops, so double backward (gradient penalties) works."""

    @staticmethod
    def forward(ctx, x, weight, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return _phase_scatter(x, weight, stride, padding)

    @staticmethod
    @outside_compiled_code  # see _ConvLeakyReLU.backward
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = (
            F.conv2d(grad, weight, None, ctx.stride, ctx.padding)
            if ctx.needs_input_grad[0]
            else None
        )
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                ctx.stride,
                ctx.padding,
                [1, 1],
                True,
                [0, 0],
                1,
                [False, True, False],
            )[1]
        return grad_x, grad_w, None, None


def _plain(conv: nn.Module) -> bool:
    """No groups, dilation, output padding or padding modes: the layers the Functions here cover."""
    return (
        conv.groups == 1
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
        and getattr(conv, "output_padding", (0, 0)) == (0, 0)
    )


def _scatters(image_channels: int, kernel_size, stride, padding, image_size) -> bool:
    """Whether a scatter to `image_channels` beats oneDNN and `_Scatter` covers it: few columns,
    a kernel that is a multiple of the stride, an image size the stride divides exactly (so the
    scatter's output size is the image's)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    return (
        image_channels * kh * kw <= SCATTER_MAX_COLUMNS
        and kh % sh == 0
        and kw % sw == 0
        and image_size is not None
        and (image_size[0] + 2 * ph - kh) % sh == 0
        and (image_size[1] + 2 * pw - kw) % sw == 0
    )


def _eager_cpu(x: torch.Tensor) -> bool:
    """Where the Functions here pay: eager CPU code in float32. Under AMP autocast casts inside the
    stock layers, which the Functions would have to mirror in their backward; under torch.compile
    TorchInductor gets the stock convolutions (its code for the scatter's shifted adds ran the
    `dcgan` step at a third of the eager rate)."""
    return (
        x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


def _channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


class EdgeConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d that runs a 1 x 1 input (a projection) or a few output channels (a
    scatter) as a matmul on the CPU."""

    fast = True

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if not (
            self.fast and _eager_cpu(x) and x.dim() == 4 and output_size is None and _plain(self)
        ):
            return super().forward(x, output_size)
        if x.shape[2:] == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0):
            out = self._project(x)
        elif _scatters(
            self.out_channels, self.kernel_size, self.stride, self.padding, self._output_size(x)
        ):
            out = _Scatter.apply(x, self.weight, self.stride, self.padding)
        else:
            return super().forward(x, output_size)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def _output_size(self, x: torch.Tensor) -> tuple[int, int] | None:
        size = tuple(
            (i - 1) * s - 2 * p + k
            for i, s, p, k in zip(
                x.shape[2:], self.stride, self.padding, self.kernel_size, strict=True
            )
        )
        return size if min(size) > 0 else None

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """A 1 x 1 input: out[n, o, i, j] = sum_c x[n, c] w[c, o, i, j], one matmul laid out as
        the weight is (a channels-last weight gives a channels-last output, both for free)."""
        # read once: a parametrized weight (spectral norm) is recomputed per read
        weight = self.weight
        n, (c, o, kh, kw) = len(x), weight.shape
        z = x.reshape(n, c)
        if _channels_last(weight):
            return (
                (z @ weight.permute(0, 2, 3, 1).reshape(c, -1))
                .view(n, kh, kw, o)
                .permute(0, 3, 1, 2)
            )
        return (z @ weight.reshape(c, -1)).view(n, o, kh, kw)


class _ConvLeakyReLU(torch.autograd.Function):
    """leaky_relu(conv2d(x)) for D's image layer: the forward is oneDNN's conv2d; in the backward,
    the activation's gradient goes to a buffer the layer keeps (a fresh 3 MB tensor each step was
    slow to write), the input gradient is a `_Scatter` (oneDNN's is slow for few input channels)
    and the weight and bias gradients are PyTorch's convolution_backward. Under create_graph
    (gradient penalties) every tensor is fresh and every op differentiable."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, slope, scratch):
        out = F.leaky_relu_(F.conv2d(x, weight, bias, stride, padding), slope)
        ctx.save_for_backward(x, weight, out)
        ctx.stride, ctx.padding, ctx.slope, ctx.scratch, ctx.has_bias = (
            stride,
            padding,
            slope,
            scratch,
            bias is not None,
        )
        ctx.scatter_input = _scatters(
            weight.shape[1], weight.shape[2:], stride, padding, x.shape[2:]
        )
        return out

    # a compiled step's backward() can reach a graph recorded eagerly (a gradient penalty's D
    # pass): Dynamo would trace this backward, scratch buffer included
    @staticmethod
    @outside_compiled_code
    def backward(ctx, grad):
        x, weight, out = ctx.saved_tensors
        if torch.is_grad_enabled():
            grad = torch.ops.aten.leaky_relu_backward(grad, out, ctx.slope, True)
        else:
            grad = torch.ops.aten.leaky_relu_backward.grad_input(
                grad, out, ctx.slope, True, grad_input=ctx.scratch.like(out)
            )
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x and ctx.scatter_input:
            grad_x, need_x = _Scatter.apply(grad, weight, ctx.stride, ctx.padding), False
        if need_x or need_w or need_b:
            gx, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                [weight.shape[0]] if ctx.has_bias else None,
                ctx.stride,
                ctx.padding,
                [1, 1],
                False,
                [0, 0],
                1,
                [need_x, need_w, need_b],
            )
            grad_x = gx if need_x else grad_x
        return grad_x, grad_w, grad_b, None, None, None, None


class _Scratch:
    """One reusable tensor per thread, shape and layout, for a backward's temporaries that never
    escape. (Per thread: two threads' backward passes through one layer must not share one.)"""

    def __init__(self):
        self.tensors: dict[tuple, torch.Tensor] = {}

    def __getstate__(self) -> dict:
        return {"tensors": {}}  # copies and pickles of a layer start without buffers

    def like(self, t: torch.Tensor) -> torch.Tensor:
        """A tensor laid out as `t` (a dense one: the layer's output)."""
        key = (threading.get_ident(), t.shape, t.stride(), t.dtype, t.device)
        if key not in self.tensors:
            # D's step and G's step need two; more: the batch shape or thread changes
            if len(self.tensors) >= 4:
                self.tensors.clear()
            self.tensors[key] = torch.empty_strided(
                t.shape, t.stride(), dtype=t.dtype, device=t.device
            )
        return self.tensors[key]


class EdgeConv2d(nn.Conv2d):
    """nn.Conv2d at either end of D: on few input channels (the image layer), with D's LeakyReLU
    fused in when `negative_slope` is given, its backward on the CPU is `_ConvLeakyReLU`'s; with a
    kernel as large as its input (the logit layer), it is one matmul on the CPU."""

    fast = True

    def __init__(self, *args, negative_slope: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.negative_slope = negative_slope
        self._scratch = _Scratch()

    def extra_repr(self) -> str:
        slope = (
            ""
            if self.negative_slope is None
            else f", negative_slope={self.negative_slope} (fused LeakyReLU)"
        )
        return super().extra_repr() + slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = self.fast and _eager_cpu(x) and x.dim() == 4 and _plain(self)
        if fast and self.negative_slope is not None:
            return _ConvLeakyReLU.apply(
                x,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                self.negative_slope,
                self._scratch,
            )
        if fast and tuple(x.shape[2:]) == self.kernel_size and self.padding == (0, 0):
            return self._full(x)
        out = super().forward(x)
        return out if self.negative_slope is None else F.leaky_relu_(out, self.negative_slope)

    def _full(self, x: torch.Tensor) -> torch.Tensor:
        """A kernel as large as the input: out[n, o] = <x[n], w[o]> + b[o], one
        matmul over the flattened input, read in the order it is laid out
        (channels-last: a free view of x and w)."""
        # read once: a parametrized weight (spectral norm) is recomputed per read
        weight = self.weight
        n, o = len(x), weight.shape[0]
        if _channels_last(x):
            x, weight = x.permute(0, 2, 3, 1), weight.permute(0, 2, 3, 1)
        rows, w = x.reshape(n, weight[0].numel()), weight.reshape(o, -1).t()  # n may be 0
        out = rows @ w if self.bias is None else torch.addmm(self.bias, rows, w)
        return out.view(n, o, 1, 1)


def stock_kernels(module: nn.Module) -> nn.Module:
    """Runs every edge layer in `module` through PyTorch's own convolution again (in place)."""
    for m in module.modules():
        if isinstance(m, (EdgeConvTranspose2d, EdgeConv2d)):
            m.fast = False
    return module
