"""The one trainer and what it shares across recipes: EMA, checkpoints, health."""

from .trainer import RunResult, Trainer, build_model

__all__ = ["Trainer", "RunResult", "build_model"]
