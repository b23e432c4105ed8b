"""What torch.compile must not trace, in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


def outside_compiled_code(fn: F) -> F:
    """Run `fn` eagerly even where torch.compile traces its caller (train.compile=step): for code
    Dynamo or AOTAutograd cannot handle (a double backward, a flat all-reduce, a custom backward
    with a scratch buffer). Disabled only when traced: `torch.compiler.disable` as a plain decorator
    would import torch._dynamo with gankit and double the CLI's start-up time."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if torch.compiler.is_compiling():
            return torch.compiler.disable(fn)(*args, **kwargs)
        return fn(*args, **kwargs)

    return run  # type: ignore[return-value]
