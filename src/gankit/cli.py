"""The `gankit` command. Every user mistake ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import config as config_mod
from .errors import CheckpointError, ConfigError, DivergedError, GankitError
from .progress import shows

if TYPE_CHECKING:
    import torch

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 1, 130, 141


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """The subcommand named once, after the one `gankit: error:` prefix main() prints."""
        command = self.prog.removeprefix("gankit").strip()
        raise ConfigError(f"{command}: {message}" if command else message)


def number(text: str) -> float:
    """A float option. NaN passes every `x <= 0` check and infinity never ends a budget: refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def number_list(text: str) -> list[float]:
    """A comma list of positive finite numbers, e.g. CPU-minute marks `5,10`."""
    values = [number(part) for part in text.split(",") if part.strip()]
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 5,10, got {text!r}")
    return values


def name_list(text: str) -> list[str]:
    """A comma list of names, e.g. toy2d mixtures `ring,grid` (checked by the command)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def seed(text: str) -> int:
    """A seed in `config.SEED_RANGE` (negative allowed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    low, high = config_mod.SEED_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {text}")
    return value


def _add_device(p: argparse.ArgumentParser) -> None:
    """The device of a command that places a trained model: `auto`, as `train`'s default."""
    p.add_argument(
        "--device",
        default="auto",
        help="auto (default: CUDA when present, as train), cpu, cuda or cuda:N",
    )


def train_presets() -> list[str]:
    """The presets `gankit train` takes: those of the recipes that train on images (the table
    models' belong to `gankit tabular fit`)."""
    from .recipes import RECIPES

    return [name for r in RECIPES.values() if r.trains_on == "images" for name in r.presets]


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model", description="Train a model from a preset.")
    p.add_argument(
        "--preset",
        default=None,
        help=f"one of: {', '.join(train_presets())} (default dcgan; the table models train "
        "with `gankit tabular fit`)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="digits (default), mnist, fashion-mnist, cifar10, folder, toy2d, stacked-mnist, "
        "or paired / unpaired (image pairs for pix2pix)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder of the mnist, fashion-mnist or cifar10 files, or of images (or pairs)",
    )
    p.add_argument("--download", action="store_true", help="fetch MNIST into --data-dir if missing")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help="train for N optimizer steps")
    length.add_argument(
        "--minutes", type=number, default=None, help="train for a wall-clock budget"
    )
    p.add_argument("--out", default=None, help="run directory (default runs/PRESET-DATA)")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument(
        "--config",
        default=None,
        help="a config.yaml applied on top of the preset it names (else --preset, else dcgan)",
    )
    add_progress_flags(p)
    p.add_argument(
        "--report", action="store_true", help="rewrite RUN/report.html at every log step"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="e.g. optim.lr_g=1e-4 train.ema=null"
    )


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="sample a trained model to a PNG grid or .npz")
    p.add_argument("run", help="run directory or checkpoint file")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="PNG grid to write, or a folder (one that exists, or a path ending in /): one PNG "
        "a sample",
    )
    p.add_argument("--npz", default=None, help=".npz to write (uint8 under the key 'images')")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--nrow", type=int, default=None, help="images per grid row")
    labels = p.add_mutually_exclusive_group()
    labels.add_argument(
        "--label", type=int, default=None, help="conditional models: every sample of this class"
    )
    labels.add_argument(
        "--by-class",
        action="store_true",
        help="conditional models: one row per class, -n samples in all",
    )
    _add_device(p)
    _add_weights(p)
    _add_truncation(p)
    add_progress_flags(p)
    _add_sampler_options(p)


def _add_truncation(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--truncation",
        type=number,
        default=1.0,
        metavar="PSI",
        help="style-based models: w moved towards the average w by psi (1: none, 0: the average)",
    )


def _add_mix(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mix",
        help="a style-based model's style-mixing grid (PNG)",
        description="The StyleGAN paper's style-mixing figure: a top row of images, a left column "
        "of images, and in each cell the top row's image with the styles of --layers taken from "
        "the left column's.",
    )
    p.add_argument("run", help="run directory, checkpoint file or export folder")
    p.add_argument("-o", "--output", required=True, help="PNG grid to write")
    p.add_argument("--rows", type=int, default=3, help="images of the left column (default 3)")
    p.add_argument("--columns", type=int, default=5, help="images of the top row (default 5)")
    p.add_argument(
        "--layers",
        default="coarse",
        help="the styles the left column gives: coarse (4-8 px layers, default), middle "
        "(16-32 px), fine (64 px and up) or A:B (w indices)",
    )
    p.add_argument("--seed", type=seed, default=0)
    _add_device(p)
    _add_weights(p)
    _add_truncation(p)
    add_progress_flags(p)


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="a latent walk between two samples (GIF or PNG strip)",
        description="A walk between the two latents a seed draws, spherical in z, linear in w "
        "(style-based models); each end is the sample of its latent.",
    )
    p.add_argument("run", help="run directory, checkpoint file or export folder")
    p.add_argument(
        "-o", "--output", required=True, help="walk.gif (an animation) or walk.png (a strip)"
    )
    p.add_argument("--frames", type=int, default=16, help="images along the walk (default 16)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--space",
        choices=("auto", "z", "w"),
        default="auto",
        help="z or w (auto: w for style-based models, else z)",
    )
    p.add_argument("--label", type=int, default=None, help="conditional models: the class walked")
    _add_device(p)
    _add_weights(p)
    _add_truncation(p)
    add_progress_flags(p)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a run's sampling network as model.safetensors + config.json",
        description="Write the network a run samples with (its EMA weights when it kept them) "
        "to a new or empty folder: model.safetensors with the plain state_dict keys of its class, "
        "and config.json (the class, its arguments, the run's config). gankit.load(DIR) samples "
        "from it as from the run.",
    )
    p.add_argument("run", help="run directory or checkpoint file")
    p.add_argument("-o", "--output", required=True, help="folder to write (new or empty)")


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a run's config, step and last health verdict")
    p.add_argument("run", help="run directory or checkpoint file")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_options(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "options",
        help="list every key=value option with its default, type and meaning",
        description="List the key=value options the recipe of PRESET reads, each with the "
        "preset's value, its type and what it does.",
    )
    p.add_argument(
        "preset",
        nargs="?",
        default=None,
        help=f"one of the presets (default {config_mod.DEFAULT_PRESET})",
    )


def _add_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-classifier",
        help="train a feature network (a classifier) for FID and class counts on labelled images",
        description="Train a CNN sized to the images on a labelled source, report its held-out "
        "accuracy and write it, with what it was trained on, as .safetensors.",
    )
    p.add_argument(
        "--data",
        default="digits",
        help="digits (default, as train: embedded, no files), mnist, fashion-mnist, cifar10 or "
        "folder (classes from sub-folders, or a categories.json beside the images)",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--epochs", type=int, default=None, help="default 8 for grey images, 15 for colour ones"
    )
    p.add_argument(
        "--arch",
        choices=("vgg", "strided"),
        default="vgg",
        help="vgg (the default feature network) or strided, a second, different architecture "
        "for a second feature space",
    )
    p.add_argument(
        "--holdout",
        type=number,
        default=0.2,
        help="last share of the samples held out (default 0.2)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mirror a random half of each batch besides the shifts (default: for colour images)",
    )
    add_progress_flags(p)
    p.add_argument("-o", "--output", required=True, help="classifier .safetensors to write")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="data.key=value",
        help="data options, e.g. data.resolution=32 data.channels=1 data.split=test",
    )


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a trained model, or a set of images, against real data",
        description="Score a run's samples (or, with --samples, any images) against real data "
        "in a feature network's features.",
    )
    p.add_argument("run", nargs="?", default=None, help="run directory or checkpoint file")
    p.add_argument(
        "--samples",
        default=None,
        help="score these images instead of a run: a folder of images or an .npz of uint8 "
        "images (as `gankit sample RUN --npz FILE` writes); needs --data",
    )
    p.add_argument(
        "--features",
        "--classifier",
        dest="features",
        default=None,
        help="feature extractor: a classifier .safetensors from `gankit train-classifier`, "
        "'inception' (needs torch-fidelity), FILE.py:FACTORY returning a torch module, or "
        "'default' (the default: the data's own feature network, from the cache or trained "
        "once; a VAE without it prints its bound alone); toy2d runs are scored by mode coverage",
    )
    p.add_argument(
        "--classifier-epochs",
        type=int,
        default=None,
        help="epochs of the default feature network when it is trained (default 8 for grey "
        "images, 15 for colour ones)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="reference-feature cache (default: reference/ in $GANKIT_CACHE, else "
        "$XDG_CACHE_HOME/gankit, else ~/.cache/gankit)",
    )
    p.add_argument("--data", default=None, help="reference data (default: the run's own source)")
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--reference",
        default="train",
        choices=config_mod.REFERENCES,
        help="train (default): the images the run trained on; full: every image of its "
        "data.classes, before data.holdout and data.limit (the set a few-shot run's came from)",
    )
    p.add_argument(
        "--metrics",
        default=None,
        help="comma list of: fid,kid,is,pr,dc,classes,labels (default fid,kid,pr,dc,classes, "
        "and labels for conditional models: the share of samples the classifier reads as the "
        "class asked for, overall and per class, -n asked of the classes in turn)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="device that generates the samples: auto (default: CUDA when present, as train), "
        "cpu, cuda or cuda:N",
    )
    p.add_argument(
        "-n", type=int, default=10000, help="number of generated samples (default 10000)"
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument(
        "--pairs",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="translation models: L1, PSNR and SSIM of translations of the held-out pairs of "
        "this paired set (alone: the run's own data), beside the identity mapping's; with "
        "--features also their FID against the target domain's training images",
    )
    _add_weights(p)
    _add_truncation(p)
    add_progress_flags(p)
    _add_sampler_options(p)


def add_progress_flags(p: argparse.ArgumentParser, force: bool = False) -> None:
    """`--no-progress`, the one flag of every command that draws progress bars (drawn when
    stderr is a terminal, else not); `force`: also `--progress`, bars even into a log."""
    flags = p.add_mutually_exclusive_group()
    flags.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bars (drawn when stderr is a terminal)",
    )
    if force:
        flags.add_argument(
            "--progress",
            dest="progress",
            action="store_true",
            default=None,
            help="progress bars and their lines even when stderr is no terminal",
        )


def _add_sampler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sampler",
        default=None,
        help="diffusion models: ddpm (all timesteps) or ddim "
        "(default: the run's diffusion.sampler)",
    )
    p.add_argument(
        "--sampling-steps",
        type=int,
        default=None,
        help="diffusion models: ddim steps (default: the run's)",
    )
    p.add_argument(
        "--eta",
        type=number,
        default=None,
        help="diffusion models: ddim noise, 0 deterministic .. 1 DDPM-like",
    )
    p.add_argument(
        "--spacing",
        default=None,
        help="diffusion models: ddim step spacing, trailing | leading | "
        "linspace | quadratic (default: the run's)",
    )
    p.add_argument(
        "--guidance",
        type=number,
        default=None,
        help="conditional diffusion models: classifier-free guidance scale "
        "(1: none; default: the run's)",
    )


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train GAN, VAE and diffusion under one budget and measure them alike",
        description="Train each model on the same data for the same wall-clock budget, then "
        "print and write (Markdown and JSON) one table: FID, precision, recall, "
        "coverage, classes, training minutes, sampling images/s, parameters.",
    )
    p.add_argument(
        "--data", default="mnist", help="mnist (the only data the digit classifier measures)"
    )
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files")
    p.add_argument(
        "--budget-minutes",
        type=number,
        required=True,
        help="wall-clock training minutes per model (sampling comes on top: the whole "
        "command's estimate is printed before anything trains)",
    )
    p.add_argument(
        "--max-minutes",
        type=number,
        default=None,
        help="refuse up front when the estimated whole command (training and sampling) is "
        "longer, naming the options that fit",
    )
    p.add_argument(
        "--full-ddpm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sample diffusion models with DDPM over all their timesteps too (default; on a "
        "CPU this row can take longer than the training)",
    )
    p.add_argument(
        "--models", default="dcgan,vae,ddpm", help="comma list of presets (default dcgan,vae,ddpm)"
    )
    p.add_argument(
        "--out", default=None, help="folder for the runs and tables (default runs/compare-mnist)"
    )
    p.add_argument("--samples", type=int, default=2000, help="samples per fast row (default 2000)")
    p.add_argument(
        "--slow-samples",
        type=int,
        default=200,
        help="samples of DDPM-1000, and of every row for the like-with-like FID (default 200)",
    )
    p.add_argument(
        "--speed-batch", type=int, default=50, help="images per sampling batch (default 50)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads for training and sampling (default 1)"
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--classifier",
        default=None,
        help="digit classifier .safetensors (default: the MNIST files' feature network, as eval's: "
        "cached, or trained once)",
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    add_progress_flags(p, force=True)
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="options applied to every model"
    )


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run a published protocol end to end and print ours beside the papers' rows",
        description="Train PRESET on a benchmark protocol, evaluate it the papers' way and print "
        "the published results of the same protocol beside ours.",
    )
    p.add_argument(
        "protocol",
        help="toy2d (ring and grid), stacked-mnist; mnist, fashion-mnist, cifar10, folder "
        "(presets against the PyTorch-examples DCGAN loop at equal CPU time, in two feature "
        "spaces; folder: the images of --data-dir, read with the data.* options); "
        "speed or time-to-quality (gankit against a plain PyTorch loop)",
    )
    p.add_argument(
        "--preset",
        default=None,
        help=f"one of: {', '.join(train_presets())}; a comma list races several "
        "(mnist, fashion-mnist, cifar10, folder)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder of the data set's files (MNIST's for stacked-mnist and the speed benches)",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=int, default=None, help="training steps (default: the preset's)"
    )
    length.add_argument(
        "--minutes", type=number, default=None, help="wall-clock training budget per run"
    )
    length.add_argument(
        "--cpu-minutes",
        type=number_list,
        default=None,
        help="mnist, fashion-mnist, cifar10, folder: CPU minutes of training of each model at "
        "which all are scored (default 5,10); time-to-quality: the reference loop's budget "
        "(default 4)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="toy2d, stacked-mnist: train this many seeds, --seed on, and print each row and "
        "their mean ± standard deviation (default 1)",
    )
    p.add_argument(
        "--mixtures",
        type=name_list,
        default=None,
        help="toy2d: the mixtures to train, a comma list of ring, ring-veegan, grid (default: all "
        "three)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=10_000,
        help="mnist, fashion-mnist, cifar10, folder: samples scored per model (default 10,000)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="'LABEL PRESET key=value ...'",
        help="mnist, fashion-mnist, cifar10, folder: also race PRESET with these options, as LABEL "
        "(repeatable), e.g. --variant 'dcgan-no-bn-d dcgan model.d_norm=none'",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="mnist, fashion-mnist, cifar10, folder: processes the models are split among, each "
        "training and scoring its share (CPU time is counted per process; default 1)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        help="stacked-mnist: digit classifier .safetensors (default: the MNIST files' feature "
        "network, as eval's: cached, or trained on --data-dir once); mnist, fashion-mnist, "
        "cifar10, folder: VGG,STRIDED, the two feature networks (default: trained once per data "
        "set and cached; an unlabelled folder's on its categories.json)",
    )
    p.add_argument(
        "--out", default=None, help="folder for the runs (default runs/bench-PROTOCOL-PRESET)"
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    add_progress_flags(p, force=True)
    speed = p.add_argument_group("speed and time-to-quality")
    speed.add_argument(
        "--presets", default="seed-mlp,dcgan,hinge-resnet", help="speed: comma list of presets"
    )
    speed.add_argument(
        "--repeats", type=int, default=5, help="speed: interleaved timed repeats per side"
    )
    speed.add_argument(
        "--steps-per-repeat", type=int, default=100, help="speed: steps in one timed repeat"
    )
    p.add_argument(
        "--device",
        default=None,
        help="where the benchmark trains: cpu (the default, unlike train's auto: the tables "
        "are measured on a CPU), cuda, cuda:N or auto (for toy2d, stacked-mnist and mnist: "
        "train.device)",
    )
    p.add_argument(
        "--amp",
        default=None,
        help="none (the default), bf16 or fp16 (with a GradScaler): autocast "
        "of gankit's training (for toy2d, stacked-mnist and mnist: train.amp)",
    )
    speed.add_argument(
        "--eval-seconds",
        type=number,
        default=15.0,
        help="time-to-quality: CPU seconds of training between evaluations (default 15)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="options applied to every run")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="draw a run into one self-contained HTML page",
        description="Curves, health verdicts, sample grids (or a table's columns) and the "
        "config of a run, finished or still training, in one HTML file.",
    )
    p.add_argument("run", help="run directory")
    p.add_argument("-o", "--output", default=None, help="HTML file (default RUN/report.html)")


def _add_tabular(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tabular", help="synthetic tables: fit a CTGAN-class model or TVAE, sample, evaluate"
    )
    tab = p.add_subparsers(dest="tabular_command", required=True, parser_class=_Parser)
    f = tab.add_parser("fit", help="train a table model on a CSV file")
    f.add_argument("data", help="CSV file with a header row")
    f.add_argument("--model", default=None, help="ctgan (default) or tvae; on --resume, the run's")
    f.add_argument(
        "--target", default=None, help="the column to condition on and predict (e.g. a fraud flag)"
    )
    f.add_argument("--discrete", default=None, help="comma list of columns to treat as categorical")
    length = f.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=number, default=None, help="passes over the table (default 300)"
    )
    length.add_argument(
        "--minutes", type=number, default=None, help="train for a wall-clock budget"
    )
    f.add_argument("--out", default=None, help="run directory (default runs/tabular-FILE-MODEL)")
    f.add_argument("--seed", type=seed, default=None, help="default 0; on --resume, the run's")
    f.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    add_progress_flags(f)
    f.add_argument(
        "overrides", nargs="*", metavar="key=value", help="e.g. optim.lr_g=1e-4 train.threads=1"
    )
    s = tab.add_parser("sample", help="write synthetic rows to a CSV file")
    s.add_argument("run", help="run directory of `gankit tabular fit`")
    s.add_argument("-n", type=int, required=True, help="number of rows")
    s.add_argument("-o", "--output", required=True, help="CSV file to write")
    s.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="every row holds this category (by construction, not rejection)",
    )
    s.add_argument("--seed", type=seed, default=0)
    e = tab.add_parser("eval", help="fidelity, detection, utility and privacy of synthetic rows")
    e.add_argument("run", help="run directory of `gankit tabular fit`")
    e.add_argument("--real", required=True, help="real held-out rows (CSV), never seen in training")
    e.add_argument(
        "--train", default=None, help="the training CSV (default: the file the run was fitted on)"
    )
    e.add_argument(
        "-n",
        type=int,
        default=None,
        help="synthetic rows to draw (default: as many as the training rows)",
    )
    e.add_argument("--seed", type=seed, default=0)
    e.add_argument("--json", default=None, help="also write the results to this JSON file")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, diagnose and evaluate GANs.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_sample(sub)
    _add_mix(sub)
    _add_interpolate(sub)
    _add_export(sub)
    _add_info(sub)
    _add_options(sub)
    _add_classifier(sub)
    _add_eval(sub)
    _add_translate(sub)
    _add_bench(sub)
    _add_compare(sub)
    _add_tabular(sub)
    _add_report(sub)
    return parser


def _version() -> str:
    from . import __version__

    return f"gankit {__version__}"


def train_config(args: argparse.Namespace) -> config_mod.Config:
    """Preset (or saved run config on --resume, or --config), then flags, then key=value
    overrides, through `config.build`."""
    out = Path(args.out) if args.out else None
    file = args.config
    if args.resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN_DIR")
        if not (out / "config.yaml").is_file():
            raise ConfigError(f"nothing to resume: {out / 'config.yaml'} does not exist")
        file = out / "config.yaml"
    data = {"source": args.data} if args.data else {}
    if args.data_dir:
        data["dir"] = args.data_dir
    train = {}
    if args.steps is not None:
        train.update(steps=args.steps, minutes=None)
    if args.minutes is not None:
        train.update(minutes=args.minutes, steps=None)
    if args.seed is not None and not args.resume:
        train["seed"] = args.seed
    cfg = config_mod.build(args.preset, file, args.overrides, data=data, train=train)
    if args.preset and args.preset != cfg.preset:
        raise ConfigError(
            f"{out} was trained with preset '{cfg.preset}', not '{args.preset}'"
            if args.resume
            else f"{args.config} names preset '{cfg.preset}', not --preset '{args.preset}'"
        )
    if args.resume and args.seed is not None and args.seed != cfg.train.seed:
        raise ConfigError("--seed cannot change when resuming a run")
    if config_mod.recipe_class(cfg.recipe).trains_on == "tables":
        raise ConfigError(
            f"preset '{cfg.preset}' models tables: use gankit tabular fit TABLE.csv "
            f"--model {cfg.recipe} --out RUN"
        )
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from .train import Trainer

    cfg = train_config(args)
    out = args.out or f"runs/{cfg.preset}-{cfg.data.source}"
    trainer = Trainer(
        cfg,
        out,
        resume=args.resume,
        download=args.download,
        progress=args.progress,
    )
    if args.resume and trainer.group.is_main:
        print(f"resuming {out} at step {trainer.step}", file=sys.stderr)
    refresher = None
    if args.report:
        from .report import ReportRefresher

        refresher = ReportRefresher(out)
        trainer.output_hooks.append(refresher)
    try:
        result = trainer.run()
    finally:
        trainer.close()
    if not trainer.group.is_main:  # under torchrun, rank 0 reports for the run
        return EXIT_DIVERGED if result.status == "diverged" else 0
    return _report_run(result, out, refresher)


def _leave_group(code: int) -> NoReturn:
    """End a torchrun rank whose run is written without the interpreter's teardown: gloo's
    teardown at exit now and then aborts a rank that has finished (SIGABRT), and torchrun then
    reports the whole run as failed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report_run(result: Any, out: str, refresher: Any) -> int:
    """Print what the run left (status, health, checkpoint, grid, report) and its exit code."""
    from .train.health import summary_line

    s = result.summary
    grid = sorted((result.run_dir / "samples").glob("*.png"))
    print(
        f"{result.status}: {result.step} steps in {s['train_seconds']:.0f} s; "
        f"health: {summary_line(s)}"
    )
    if result.checkpoint:
        print(f"checkpoint: {result.checkpoint}")
    if grid:
        print(f"samples: {grid[-1]}")
    if refresher and not refresher.failed:
        print(f"report: {Path(out) / 'report.html'}")
    if result.status == "interrupted":
        print(f"interrupted: continue with  gankit train --out {out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_DIVERGED if result.status == "diverged" else 0


def sample_labels(num_classes: int, args: argparse.Namespace) -> torch.Tensor | None:
    """The labels `--label` / `--by-class` ask for, checked against what the model was trained
    on."""
    import torch

    if args.n < 1:
        raise ConfigError("-n must be at least 1")
    if args.label is None and not args.by_class:
        return None
    if not num_classes:
        raise ConfigError(
            "--label and --by-class need a conditional model "
            "(model.conditional=true, e.g. --preset cgan)"
        )
    if args.label is not None:
        if not 0 <= args.label < num_classes:
            raise ConfigError(
                f"--label {args.label} is not a class of this model (0..{num_classes - 1})"
            )
        return torch.full((args.n,), args.label, dtype=torch.long)
    per_class = args.n // num_classes
    if per_class < 1:
        raise ConfigError(f"--by-class needs -n of at least {num_classes} (one per class)")
    args.n = per_class * num_classes
    return torch.arange(num_classes).repeat_interleave(per_class)


def sampler_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `Generator.set_sampler` options that --sampler/--sampling-steps/--eta/--spacing/
    --guidance give (diffusion models only); empty when none is given."""
    options = {
        "sampler": args.sampler,
        "steps": args.sampling_steps,
        "eta": args.eta,
        "guidance": args.guidance,
        "spacing": args.spacing,
    }
    return options if any(v is not None for v in options.values()) else {}


def cmd_sample(args: argparse.Namespace) -> int:
    from .api import load
    from .export import save_npz, save_png, save_png_folder

    if not args.output and not args.npz:
        raise ConfigError("say where to write: -o grid.png and/or --npz samples.npz")
    model = load(args.run, device=args.device, weights=args.weights)
    if options := sampler_options(args):
        model.set_sampler(**options)
    labels, nrow = sample_labels(model.recipe.num_classes, args), args.nrow
    if args.by_class:
        nrow = nrow or args.n // model.num_classes
    samples = model.sample(
        args.n, labels=labels, seed=args.seed, progress=args.progress, truncation=args.truncation
    )
    if args.output and _is_folder(args.output):
        print(f"wrote {len(samples)} images to {save_png_folder(samples, args.output)}")
    elif args.output:
        print(f"wrote {save_png(samples, args.output, nrow)}")
    if args.npz:
        print(f"wrote {save_npz(samples, args.npz)}")
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from .api import load
    from .export import save_png

    _check_suffix(args.output, (".png",))
    model = load(args.run, device=args.device, weights=args.weights)
    tiles, per_row = model.mix(
        args.rows,
        args.columns,
        layers=args.layers,
        seed=args.seed,
        truncation=args.truncation,
        progress=args.progress,
    )
    print(f"wrote {save_png(tiles, args.output, per_row)}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .api import load
    from .export import save_gif, save_png

    gif = _check_suffix(args.output, (".gif", ".png")) == ".gif"
    model = load(args.run, device=args.device, weights=args.weights)
    frames = model.interpolate(
        args.frames,
        args.seed,
        space=args.space,
        truncation=args.truncation,
        label=args.label,
        progress=args.progress,
    )
    path = save_gif(frames, args.output) if gif else save_png(frames, args.output, len(frames))
    print(f"wrote {path}")
    return 0


def _check_suffix(output: str, suffixes: tuple[str, ...]) -> str:
    """The output's suffix, one of `suffixes`, checked before any model is loaded."""
    suffix = Path(output).suffix.lower()
    if suffix not in suffixes:
        raise ConfigError(f"-o {output}: give a {' or '.join(suffixes)} file name")
    return suffix


def _is_folder(output: str) -> bool:
    """`-o` names a folder (one PNG a sample) when it is one or ends in a slash."""
    return output.endswith("/") or Path(output).is_dir()


def cmd_export(args: argparse.Namespace) -> int:
    from .model_export import export_model

    print(f"wrote {export_model(args.run, args.output)}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .train import checkpoint as ckpt

    path, state = ckpt.load_latest(args.run)
    if not isinstance(state.get("config"), dict) or not isinstance(
        state.get("elapsed"), (int, float)
    ):
        raise CheckpointError(
            f"{path} holds no run configuration: not a checkpoint of `gankit train`"
        )
    last = (state.get("health", {}).get("history") or [{}])[-1]
    if args.json:
        info = {
            "checkpoint": str(path),
            "step": state.get("step"),
            "train_seconds": state.get("elapsed"),
            "data": state.get("data"),
            "ema": bool(state.get("ema")),
            "last_health": last,
            "config": family_sections(state["config"]),
        }
        print(json.dumps(info, indent=2))
        return 0
    import yaml

    info = {
        "checkpoint": str(path),
        "step": state.get("step"),
        "trained seconds": round(float(state["elapsed"]), 1),
        "data": state.get("data"),
        "EMA weights": bool(state.get("ema")),
        "last health": last.get("verdict", "none yet"),
        **({"remedy": last["remedy"]} if last.get("remedy") else {}),
        "config": family_sections(config_mod.from_dict(state["config"]).to_dict()),
    }
    print(yaml.safe_dump(info, sort_keys=False).rstrip())
    return 0


def family_sections(config: dict[str, Any]) -> dict[str, Any]:
    """A config without the sections its recipe never reads (a saved config lists every
    family's: a GAN's `diffusion` options say nothing about it)."""
    recipe = str(config.get("recipe"))
    return {
        key: value
        for key, value in config.items()
        if not isinstance(value, dict) or config_mod.reads(recipe, f"{key}.option=")
    }


def cmd_options(args: argparse.Namespace) -> int:
    from .options_doc import list_options

    docs = list_options(args.preset)
    cfg = config_mod.from_preset(args.preset or config_mod.DEFAULT_PRESET)
    print(f"# preset {cfg.preset} (recipe {cfg.recipe}): key=default  type  meaning")
    width = max(len(f"{d.key}={d.default}") for d in docs)
    types = max(len(d.type) for d in docs)
    for d in docs:
        print(f"{d.key}={d.default}".ljust(width), d.type.ljust(types), d.meaning)
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .data.subset import labelled
    from .metrics.classifier import (
        accuracy_warning,
        default_epochs,
        load_classifier,
        save_classifier,
        train_classifier,
    )

    if not 0.0 < args.holdout < 1.0:
        raise ConfigError("--holdout must be between 0 and 1")
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError("--epochs must be at least 1")
    data_cfg = classifier_data(args)
    data, classes = labelled(load_dataset(data_cfg), data_cfg)
    model, report = train_classifier(
        data,
        epochs=args.epochs or default_epochs(data),
        holdout=args.holdout,
        seed=args.seed,
        log=lambda line: print(line, file=sys.stderr),
        flip=args.flip,
        progress=args.progress,
        arch=args.arch,
    )
    path = save_classifier(
        model, report, args.output, data.name, source=data_cfg.source, classes=classes
    )
    shape = "x".join(map(str, data.sample_shape))
    print(
        f"held-out accuracy {report.holdout_accuracy:.4f} on {report.holdout_size} {data.name} "
        f"images ({shape}, {len(classes)} classes; trained on the other {report.train_size}); "
        f"wrote {path}"
    )
    if warning := accuracy_warning(load_classifier(path).trained_on):
        print(f"gankit: warning: {warning}", file=sys.stderr)
    return 0


#: the sources with class labels a classifier can learn
LABELLED_SOURCES = ("digits", "mnist", "fashion-mnist", "cifar10", "folder")


def classifier_data(args: argparse.Namespace) -> config_mod.DataConfig:
    """The data options of `train-classifier`: --data, --data-dir and `data.key=value`."""
    from .data.options import check_data_options

    if args.data not in LABELLED_SOURCES:
        raise ConfigError(
            f"train-classifier needs labelled images: --data {' | '.join(LABELLED_SOURCES)}, "
            f"not '{args.data}'"
        )
    others = [o for o in args.overrides if not o.startswith("data.")]
    if others:
        raise ConfigError(f"train-classifier takes data options only (data.key=value): {others[0]}")
    cfg = config_mod.from_preset(config_mod.DEFAULT_PRESET)
    cfg.data.source, cfg.data.dir = args.data, args.data_dir
    data = config_mod.apply_overrides(cfg, args.overrides).data
    if data.holdout or data.flip:
        raise ConfigError("train-classifier holds out with --holdout and flips with --flip")
    check_data_options(data, "mlp")  # the classifier reads any size
    return data


def _add_weights(p: argparse.ArgumentParser) -> None:
    from .api import WEIGHTS

    p.add_argument(
        "--weights",
        choices=WEIGHTS,
        default="ema",
        help="ema (default): the averaged weights when the run kept them; raw: the networks as "
        "trained (an EMA lags a short run)",
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from .api import evaluate

    if args.pairs is not None:
        return cmd_eval_pairs(args)
    from .metrics.evaluate import FEATURE_FIGURES

    results = evaluate(
        args.run,
        args.features,
        samples=args.samples,
        metrics=args.metrics,
        n=args.n,
        seed=args.seed,
        data=args.data,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
        sampling=sampler_options(args),
        classifier_epochs=args.classifier_epochs,
        progress=args.progress,
        reference=args.reference,
        weights=args.weights,
        truncation=args.truncation,
    )
    warning = results.get("features_warning")
    for key, value in results.items():
        line = f"{key:<16} {_eval_value(key, value)}"
        flagged = warning and key in FEATURE_FIGURES
        print(f"{line}  (! low-accuracy features)" if flagged else line)
    if args.json:
        from .files import atomic_write

        atomic_write(Path(args.json), (json.dumps(results, indent=2) + "\n").encode())
    return 0


def _eval_value(key: str, value: Any) -> str:
    """A figure as `gankit eval` prints it; Stacked MNIST's digit shares as percentages, a
    channel at a time."""
    if key == "digit_shares":
        return (
            " | ".join(
                f"channel {c}: " + " ".join(f"{100 * v:.1f}" for v in shares)
                for c, shares in enumerate(value)
            )
            + " (% of 0-9)"
        )
    return f"{value:.4f}" if isinstance(value, float) else str(value)


#: `gankit eval --pairs`'s columns: figure, width, decimals
PAIR_COLUMNS = (("l1", 7, 4), ("psnr", 7, 2), ("ssim", 7, 4), ("fid", 9, 3))


def _cell(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def cmd_eval_pairs(args: argparse.Namespace) -> int:
    """`gankit eval RUN --pairs [DIR]`: a translation model against the true targets."""
    from .translation import evaluate_translation

    if args.run is None or args.samples:
        raise ConfigError("--pairs scores a translation run: gankit eval RUN --pairs [DIR]")
    if args.weights != "ema":
        raise ConfigError("--weights does not apply to --pairs: it scores a translation run")
    if args.truncation != 1:
        raise ConfigError("--truncation does not apply to --pairs: it scores a translation run")
    if args.features == "default":
        raise ConfigError(
            "translation runs have no default feature network: --features names one for the FID"
        )
    results = evaluate_translation(
        args.run, args.pairs, args.device, args.progress, features=args.features
    )
    print(f"{results['pairs']} held-out pairs of {results['data']}")
    scored = "features" in results
    print(
        f"{'direction':<10} {'mapping':<9} {'L1':>7} {'PSNR':>7} {'SSIM':>7}"
        + (f" {'FID':>9}" if scored else "")
    )
    mappings = (("model", ""), ("identity", "identity_"))
    for direction in results["per_image"]:
        for mapping, prefix in mappings + ((("target", "target_"),) if scored else ()):
            cells = [
                _cell(results.get(f"{direction}_{prefix}{key}"), width, digits)
                for key, width, digits in PAIR_COLUMNS[: 4 if scored else 3]
            ]
            print(f"{direction:<10} {mapping:<9} " + " ".join(cells))
    if scored:
        print(
            f"FID in {results['features']} features, against the target domain's "
            f"{results[next(iter(results['per_image'])) + '_domain_images']} training images; "
            "target: the held-out true targets (the floor)"
        )
        if "features_warning" in results:
            print(f"! {results['features_warning']}")
    if args.json:
        from .files import atomic_write

        atomic_write(Path(args.json), (json.dumps(results, indent=2) + "\n").encode())
    return 0


def _add_translate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "translate",
        help="translate images with an image-to-image model (pix2pix)",
        description="Translate an image file, or every image under a folder, into OUTPUT_DIR: "
        "one PNG per input with its name. Images of another size are resized to the model's "
        "and back.",
    )
    p.add_argument("run", help="run directory, checkpoint file or export folder")
    p.add_argument("input", help="an image file or a folder of images (sub-folders kept)")
    p.add_argument("-o", "--output", required=True, help="folder to write the translations to")
    p.add_argument(
        "--direction",
        default=None,
        choices=("AtoB", "BtoA"),
        help="AtoB or BtoA (default: the model's only direction)",
    )
    _add_device(p)
    add_progress_flags(p)


def cmd_translate(args: argparse.Namespace) -> int:
    from .translation import translate

    written = translate(
        args.run, args.input, args.output, args.direction, args.device, args.progress
    )
    print(f"wrote {len(written)} images to {args.output}")
    return 0


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from .experiments.bench import write_json
    from .experiments.quality import format_time_to_quality, run_time_to_quality
    from .experiments.speed import format_speed, run_speed

    if args.repeats < 1 or args.steps_per_repeat < 1:
        raise ConfigError("--repeats and --steps-per-repeat must be at least 1")
    out = Path(args.out or f"runs/bench-{args.protocol}")
    if args.protocol == "speed":
        result = run_speed(
            args.data_dir,
            args.presets.split(","),
            steps=args.steps_per_repeat,
            repeats=args.repeats,
            device=args.device or "cpu",
            amp=args.amp or "none",
            overrides=args.overrides,
        )
        print(format_speed(result))
    else:
        if args.minutes is not None or args.steps is not None:
            raise ConfigError(
                "time-to-quality gives both sides the same CPU time: use --cpu-minutes (one "
                "number, default 4)"
            )
        if args.cpu_minutes and len(args.cpu_minutes) != 1:
            raise ConfigError("time-to-quality takes one budget: --cpu-minutes N")
        result = run_time_to_quality(
            args.preset or "dcgan",
            out,
            data_dir=args.data_dir,
            cpu_minutes=args.cpu_minutes[0] if args.cpu_minutes else 4.0,
            eval_cpu_seconds=args.eval_seconds,
            seed=args.seed,
            classifiers=args.classifier.split(",") if args.classifier else None,
            device=args.device or "cpu",
            overrides=[*args.overrides, *([f"train.amp={args.amp}"] if args.amp else [])],
            progress=args.progress,
            log=lambda line: print(line, file=sys.stderr),
        )
        print(format_time_to_quality(result))
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "bench.json")
    if args.json:
        write_json(result, Path(args.json))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments.compare import format_markdown, run_compare, write_outputs

    if args.data != "mnist":
        raise ConfigError(
            f"compare measures in the digit classifier's features: --data mnist, not '{args.data}'"
        )
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    out = Path(args.out or "runs/compare-mnist")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise ConfigError(f"--models names no model: '{args.models}'")
    for m in models:
        config_mod.from_preset(m)  # an unknown preset fails before anything trains
    result = run_compare(
        args.data_dir,
        args.budget_minutes,
        out,
        models=models,
        seed=args.seed,
        samples=args.samples,
        slow_samples=args.slow_samples,
        speed_batch=args.speed_batch,
        threads=args.threads,
        classifier=args.classifier,
        overrides=args.overrides,
        progress=args.progress,
        full_ddpm=args.full_ddpm,
        max_minutes=args.max_minutes,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(format_markdown(result))
    md, js = write_outputs(result, out)
    print(f"wrote {md} and {js}")
    if args.json:
        from .experiments.bench import write_json

        write_json(result, Path(args.json))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .experiments.bench import (
        RECOMMENDED,
        check_mixtures,
        format_report,
        run_bench,
        write_json,
    )

    if args.seeds != 1 and args.protocol not in RECOMMENDED:
        raise ConfigError(
            f"--seeds is an option of the toy2d and stacked-mnist benches, not of {args.protocol}"
        )
    check_mixtures(args.protocol, args.mixtures)  # before the benches that never read it
    if args.protocol in QUALITY_SOURCES:
        return cmd_bench_quality(args)
    if args.jobs != 1 or args.variant:
        raise ConfigError(
            "--jobs and --variant are options of the mnist, fashion-mnist, cifar10 and folder "
            f"benches, not of {args.protocol}"
        )
    if args.protocol in ("speed", "time-to-quality"):
        return cmd_bench_speed(args)
    if not args.preset and args.protocol in RECOMMENDED:
        # the recommended preset at its recommended length: the headline row of mode_coverage.md
        args.preset, recommended_steps = RECOMMENDED[args.protocol]
        if args.steps is None and args.minutes is None:
            args.steps = recommended_steps
    if not args.preset:
        raise ConfigError(f"the {args.protocol} benchmark needs --preset")

    out = Path(args.out or f"runs/bench-{args.protocol}-{args.preset}")
    overrides = [
        *args.overrides,
        *([f"train.device={args.device}"] if args.device else []),
        *([f"train.amp={args.amp}"] if args.amp else []),
    ]
    result = run_bench(
        args.protocol,
        args.preset,
        out,
        data_dir=args.data_dir,
        minutes=args.minutes,
        steps=args.steps,
        seed=args.seed,
        seeds=args.seeds,
        classifier=args.classifier,
        overrides=overrides,
        progress=args.progress,
        mixtures=args.mixtures,
    )
    print(format_report(result))
    write_json(result, out / "bench.json")
    if args.json:
        write_json(result, Path(args.json))
    return 0


#: `gankit bench` protocols that race presets against the reference DCGAN loop
QUALITY_SOURCES = ("mnist", "fashion-mnist", "cifar10", "folder")  # experiments.quality.SOURCES


def _variant(text: str) -> tuple[str, str, list[str]]:
    """`--variant 'LABEL PRESET key=value ...'` as (label, preset, overrides)."""
    words = text.split()
    if len(words) < 2 or any("=" not in w for w in words[2:]):
        raise ConfigError(
            f"--variant takes 'LABEL PRESET key=value ...' (e.g. 'no-ema dcgan train.ema=null'), "
            f"not '{text}'"
        )
    return words[0], words[1], words[2:]


def cmd_bench_quality(args: argparse.Namespace) -> int:
    from .experiments.bench import write_json
    from .experiments.quality import format_quality, run_quality

    if args.minutes is not None:
        raise ConfigError(
            f"the {args.protocol} bench gives each model the same CPU time: use --cpu-minutes "
            "(e.g. 5,10) or --steps"
        )
    presets = [p for p in (args.preset or "").split(",") if p] + [
        _variant(text) for text in args.variant
    ]
    out = Path(args.out or f"runs/bench-{args.protocol}")
    overrides = [*args.overrides, *([f"train.amp={args.amp}"] if args.amp else [])]
    result = run_quality(
        args.protocol,
        presets,
        out,
        data_dir=args.data_dir,
        cpu_minutes=None if args.steps else (args.cpu_minutes or [5.0, 10.0]),
        steps=args.steps,
        seed=args.seed,
        classifiers=args.classifier.split(",") if args.classifier else None,
        overrides=overrides,
        device=args.device or "cpu",
        progress=args.progress,
        # None: nothing to print (worker processes under --jobs print only when given a log)
        log=(lambda line: print(line, file=sys.stderr)) if shows(args.progress) else None,
        samples=args.samples,
        jobs=args.jobs,
    )
    print(format_quality(result))
    write_json(result, out / "bench.json")
    if args.json:
        write_json(result, Path(args.json))
    return 0


def cmd_tabular(args: argparse.Namespace) -> int:
    from . import tabular

    return {"fit": _tabular_fit, "sample": _tabular_sample, "eval": _tabular_eval}[
        args.tabular_command
    ](args, tabular)


def _tabular_fit(args: argparse.Namespace, tabular) -> int:  # noqa: ANN001
    from .train.distributed import is_main_process
    from .train.health import summary_line

    out = args.out or f"runs/tabular-{Path(args.data).stem}-{args.model or 'ctgan'}"
    discrete = [c.strip() for c in args.discrete.split(",") if c.strip()] if args.discrete else None
    model = tabular.fit(
        args.data,
        out,
        model=args.model,
        target=args.target,
        discrete=discrete,
        epochs=args.epochs,
        minutes=args.minutes,
        seed=args.seed,
        overrides=args.overrides,
        resume=args.resume,
        progress=args.progress,
    )
    result = model.result
    if not is_main_process():  # under torchrun, rank 0 reports for the run
        return EXIT_DIVERGED if result.status == "diverged" else 0
    s = result.summary
    kinds = ", ".join(f"{c} {k}" for c, k in model.metadata.items())
    print(
        f"{result.status}: {result.step} steps in {s['train_seconds']:.0f} s; "
        f"health: {summary_line(s)}"
    )
    print(f"columns: {kinds}")
    print(f"model: {out}")
    if result.status == "interrupted":
        print(
            f"interrupted: continue with  gankit tabular fit {args.data} --out {out} --resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_DIVERGED if result.status == "diverged" else 0


def _tabular_sample(args: argparse.Namespace, tabular) -> int:  # noqa: ANN001
    from .files import atomic_write

    where = tabular.parse_where(args.where)
    rows = tabular.load(args.run).sample(args.n, where=where or None, seed=args.seed)
    atomic_write(Path(args.output), rows.to_csv(index=False).encode())  # all rows or no file
    print(f"wrote {len(rows)} rows to {args.output}")
    return 0


def _tabular_eval(args: argparse.Namespace, tabular) -> int:  # noqa: ANN001
    from .data.table import read_table
    from .metrics.tabular import evaluate_tables

    model = tabular.load(args.run)
    train_path = args.train or model.source
    if train_path is None:
        raise ConfigError(
            "this model was fitted on a DataFrame: give its training rows with --train FILE.csv"
        )
    train, holdout = read_table(train_path), read_table(args.real)
    synthetic = model.sample(args.n or len(train), seed=args.seed)
    inputs = tabular.scoring_inputs(model, train, synthetic, holdout)
    text = json.dumps(evaluate_tables(**inputs, seed=args.seed), indent=1, default=str)
    if args.json:
        from .files import atomic_write

        atomic_write(Path(args.json), text.encode())
    print(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"wrote {write_report(args.run, args.output)}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "sample": cmd_sample,
    "mix": cmd_mix,
    "interpolate": cmd_interpolate,
    "export": cmd_export,
    "info": cmd_info,
    "options": cmd_options,
    "train-classifier": cmd_train_classifier,
    "eval": cmd_eval,
    "translate": cmd_translate,
    "bench": cmd_bench,
    "compare": cmd_compare,
    "tabular": cmd_tabular,
    "report": cmd_report,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """argparse, except that `key=value` overrides may follow the options of commands with a
    positional argument of their own (`gankit bench mnist --preset dcgan optim.lr_g=1e-4`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if (
        extra
        and hasattr(args, "overrides")
        and all("=" in a and not a.startswith("-") for a in extra)
    ):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        raise ConfigError(f"{args.command}: unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = lambda msg, category, *a, **k: f"gankit: warning: {msg}\n"
    from .train import runtime

    runtime.keep_freed_memory()  # the command owns its process
    # before the first parallel op, so every torch thread starts with it
    with runtime.flush_denormals():
        code = _run(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a torchrun rank, however its command ended
        _leave_group(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = parse_args(argv)
        return COMMANDS[args.command](args)
    except (
        DivergedError
    ) as e:  # a run that diverged with nothing to keep: the divergence's exit code
        print(f"gankit: error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except GankitError as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `gankit options | head`: the reader has gone, quietly, as `cat` does
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (
        OSError
    ) as e:  # a log, grid or output file that cannot be written (disk full, permissions)
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"gankit: error: {e.strerror or e}{where}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as e:  # torch's CPU allocator and CUDA raise RuntimeErrors
        if not _out_of_memory(e):
            raise
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        detail = (
            detail[detail.find("can't allocate memory") :]
            if "can't allocate memory" in detail
            else detail
        )
        print(
            "gankit: error: too large for memory "
            "(ask for fewer samples, a smaller batch or resolution): "
            f"{detail}",
            file=sys.stderr,
        )
        return EXIT_USAGE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of what is still buffered
    cannot fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _out_of_memory(e: BaseException) -> bool:
    """Torch's ways of saying a request is larger than memory (or than a tensor's size can be)."""
    return (
        isinstance(e, MemoryError)
        or type(e).__name__ == "OutOfMemoryError"
        or any(
            text in str(e)
            for text in ("can't allocate memory", "Storage size calculation overflowed")
        )
    )


if __name__ == "__main__":
    sys.exit(main())
