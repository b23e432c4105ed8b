"""`train.compile` for a run: the memory layout and TorchInductor options it allows, compiling the
recipe's networks or its whole step, and telling a failure of the compiler from one of the
recipe's own code (the first is one line saying to train without it, the second is left as is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError, GankitError

if TYPE_CHECKING:
    from ..recipes import Recipe


def compile_layout(device: torch.device, compile: bool | str) -> tuple[bool, dict[str, bool]]:
    """(whether channels_last may be used, TorchInductor options) for a run. On CUDA, Inductor's
    backward of a compiled convolution asserts a stride mismatch (PyTorch 2.11) whenever it meets
    a channels-last tensor, ours or one its own layout optimization made: there a compiled run
    keeps the contiguous layout and that optimization off."""
    if compile and device.type == "cuda":
        return False, {"layout_optimization": False}
    return True, {}


def compile_recipe(
    recipe: Recipe,
    nets: dict[str, torch.nn.Module],
    setting: bool | str,
    layout_options: dict[str, bool],
) -> Callable[..., Any] | None:
    """Compile the recipe's networks in place (`recipe.nets` gets the compiled wrappers of `nets`;
    checkpoints, EMA and grids keep the plain modules) and return None, or with `setting` "step"
    return its whole training step compiled: Dynamo then traces the losses, penalties and optimizer
    calls around the networks too, and splits the step where it cannot follow (each backward,
    PyTorch's fused Adam). A failure surfaces at the first step (`compile_failure` words it)."""
    try:
        import torch._dynamo

        supported = torch._dynamo.is_dynamo_supported()
    except Exception:  # noqa: BLE001 - any import problem means: no compile here
        supported = False
    if not supported:
        raise ConfigError(
            f"train.compile={str(setting).lower()}, but torch.compile is not available "
            "with this Python/PyTorch; set train.compile=false"
        )
    # Inductor's own random numbers differ from eager ones: with PyTorch's, a seed gives the same
    # dropout masks, Gumbel noise and diffusion noise compiled or not
    options = {"fallback_random": True, **layout_options}
    if setting == "step":
        return torch.compile(recipe.train_step, options=options)
    for name, net in nets.items():
        recipe.nets[name] = torch.compile(net, options=options)
    return None


def raised_by_compiler(e: BaseException) -> bool:
    """Whether torch.compile's machinery or the code it generated raised `e` (an assertion in
    TorchInductor's generated kernels is a plain AssertionError, and an error of a compiled
    backward comes from AOTAutograd's runtime, so the traceback decides)."""
    if type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
        return True
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        # every call into compiled code passes eval_frame.py's wrapper: an error of the recipe's own
        # code run by a compiled step (train.compile=step) has that frame and no other of these
        if "torchinductor" in name or (
            any(f"torch/{m}/" in name for m in ("_dynamo", "_inductor", "_functorch"))
            and not name.endswith("torch/_dynamo/eval_frame.py")
        ):
            return True
        tb = tb.tb_next
    return False


def compile_failure(e: BaseException) -> GankitError:
    """The one-line error a run stops with when the compiler failed (`raised_by_compiler`)."""
    return GankitError(
        f"train.compile: torch.compile failed ({compile_failure_line(e)}); "
        "train without it: train.compile=false"
    )


def compile_failure_line(e: BaseException) -> str:
    """The compiler's own error in one line: a backend's failure wraps it (its first line is only
    "backend='inductor' raised:")."""
    inner = getattr(e, "inner_exception", None) or e
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return f"{type(inner).__name__}: {first}"
