"""gankit: train, diagnose and evaluate generative adversarial networks.

import gankit
run = gankit.train("dcgan", out="runs/demo", train={"steps": 500})
images = gankit.load(run.run_dir).sample(64)      # [-1, 1], N x C x H x W
gankit.write_report(run.run_dir)                  # RUN/report.html: curves, verdicts, grids
gankit.translate("runs/p2p", "photos/", "out/")   # an image-to-image model over a folder
"""

from .api import Generator, evaluate, load, make_config, train
from .config import Config
from .errors import CheckpointError, ConfigError, DataError, DivergedError, GankitError
from .report import write_report
from .translation import evaluate_translation, translate

__version__ = "0.1.0"
__all__ = [
    "train",
    "load",
    "evaluate",
    "make_config",
    "write_report",
    "translate",
    "evaluate_translation",
    "Generator",
    "Config",
    "GankitError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "DivergedError",
    "__version__",
]
