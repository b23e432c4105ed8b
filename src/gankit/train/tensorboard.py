"""TensorBoard event files of a run (`train.tensorboard=true`): the figures of every log line and
evaluation in metrics.jsonl, and the sample grids, under RUN/tensorboard/.

Written through `torch.utils.tensorboard`, which needs the `tensorboard` package (the optional
extra `pip install "gankit[tensorboard]"`); a run that asks for it without the package is refused
before it starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

FOLDER = "tensorboard"


def summary_writer_class() -> type:
    """`torch.utils.tensorboard.SummaryWriter`, or a one-line ConfigError saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "train.tensorboard=true needs the tensorboard package: "
            'pip install "gankit[tensorboard]"'
        ) from None
    return SummaryWriter


class TensorBoardLog:
    """The run's event files. A resumed run appends to the same folder; the events a first session
    wrote after the checkpoint it resumes from are hidden (TensorBoard's `purge_step`), as its
    metrics.jsonl lines are dropped."""

    def __init__(self, run_dir: Path, step: int):
        writer = summary_writer_class()
        self.writer = writer(log_dir=str(run_dir / FOLDER), purge_step=step + 1 if step else None)

    def log(self, record: dict[str, Any]) -> None:
        """A metrics.jsonl record: a log line's numbers under `train/`, an evaluation's under
        `eval/`."""
        step = record["step"]
        if "eval" in record:
            scalars = {f"eval/{k}": v for k, v in record["eval"].items()}
            scalars["eval/eval_seconds"] = record.get("eval_seconds")
        else:
            scalars = {f"train/{k}": v for k, v in record.items() if k != "step"}
        for tag, value in scalars.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def image(self, grid: np.ndarray, step: int) -> None:
        """A sample grid (H x W, or H x W x C uint8) as the image `samples` at `step`."""
        self.writer.add_image("samples", grid, step, dataformats="HW" if grid.ndim == 2 else "HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
