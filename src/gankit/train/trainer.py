"""The one trainer: every recipe runs through this loop.

It owns what all model families share: seeds and RNG streams, batching from the in-memory
dataset, EMA, the wall-clock budget, logging to `metrics.jsonl`, health verdicts, sample grids,
checkpoints (periodic, on Ctrl-C, never after NaN) and exact resume; and the speed and scale
machinery: the device, AMP, `torch.compile`, and data parallelism under torchrun (`distributed`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .. import config as config_mod
from ..config import Config
from ..data import MEMORY, Dataset, load_dataset, load_heldout, load_reference
from ..data.base import flip_batch, to_float
from ..errors import CheckpointError, ConfigError, GankitError
from ..export import grid_image, save_png
from ..files import append_line, atomic_write, remove_stale_temp_files
from ..recipes import Recipe, build_recipe
from ..recipes.base import generate_in_chunks
from . import checkpoint as ckpt
from . import distributed
from . import resume as resume_rules
from .compiler import compile_failure, compile_layout, compile_recipe, raised_by_compiler
from .ema import EMA
from .health import DIVERGED, HealthMonitor, pairwise_diversity
from .log_line import format_line
from .runlock import RunLock
from .runtime import run_settings, set_threads
from .tensorboard import TensorBoardLog, summary_writer_class

GRID_SIZE = 64
#: batches of training and of held-out images D judges at each log step (`data.holdout`)
HELDOUT_PROBE_BATCHES = 4


@dataclass
class RunResult:
    run_dir: Path
    step: int
    status: str  # completed | interrupted | diverged
    checkpoint: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


def build_model(cfg: Config, sample_shape: tuple[int, ...], num_classes: int) -> Recipe:
    """Networks initialised from the config's seed, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        return build_recipe(cfg, sample_shape, num_classes)


class BatchSampler:
    """Epoch-wise random permutations derived from (seed, epoch): stateless, so resuming at step
    s needs nothing but s, and any rank or restart sees the same order."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        weights: torch.Tensor | None = None,
        schedule: Any = None,
        repeat: int = 1,
    ):
        if batch_size > n:
            raise GankitError(f"batch size {batch_size} exceeds the {n} samples of the data set")
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, torch.device(device)
        self.weights = weights
        #: a recipe's batch size per step (`size(step)`, `images_before(step)`): the steps then
        #: read the epochs' permutations end to end, `repeat` x its batch a step
        self.schedule, self.repeat = schedule, repeat
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            # drawn on the CPU (the same order on every device), moved once an epoch
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen).to(self.device)
        return self._perm

    def _scheduled(self, step: int) -> torch.Tensor:
        """The positions images_before(step) onwards, size(step) of them (both x `repeat`), in
        the endless sequence of epoch permutations."""
        start = self.repeat * self.schedule.images_before(step)
        count = self.repeat * self.schedule.size(step)
        parts = []
        while count > 0:
            epoch, pos = divmod(start, self.n)
            take = min(count, self.n - pos)
            parts.append(self._permutation(epoch)[pos : pos + take])
            start, count = start + take, count - take
        return torch.cat(parts)

    def indices(self, step: int) -> torch.Tensor:
        if (
            self.weights is not None
        ):  # weighted draws with replacement, from (seed, step): still stateless
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            return torch.multinomial(
                self.weights, self.batch_size, replacement=True, generator=gen
            ).to(self.device)
        if self.schedule is not None:
            return self._scheduled(step)
        epoch, pos = divmod(step, self.per_epoch)
        return self._permutation(epoch)[pos * self.batch_size : (pos + 1) * self.batch_size]


class _StopRequest:
    """Turns the first Ctrl-C/SIGTERM into a request honoured at the next step boundary, so the
    saved checkpoint is never of a half-done step; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def _finite(tensors: list[torch.Tensor]) -> bool:
    return bool(torch.stack(torch._foreach_norm(tensors)).isfinite().all()) if tensors else True


def data_fingerprint(data: Dataset) -> torch.Tensor:
    """The row count and CRC-32 checksums of the bytes of the rows, labels and draw weights: the
    ranks must all hold the same data set in the same order, and a checksum reads it without a
    copy."""
    sums = [
        -1 if t is None else zlib.crc32(t.detach().cpu().contiguous().numpy())
        for t in (data.x, data.y, data.row_weights)
    ]
    return torch.tensor([len(data.x), *sums], dtype=torch.int64)


class Trainer:
    def __init__(
        self,
        cfg: Config,
        run_dir: str | Path,
        resume: bool = False,
        download: bool = False,
        progress: bool | None = None,
        echo: Callable[[str], None] | None = None,
        data: Dataset | None = None,
        recipe: Recipe | None = None,
    ):
        self.cfg = config_mod.validate(cfg)
        if not isinstance(run_dir, (str, os.PathLike)) or not str(run_dir):
            raise ConfigError(f"the run folder must be a path, got {run_dir!r}")
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        #: one writer per run directory: rank 0 holds it from here to the end of `run` (or `close`)
        self._lock = RunLock(self.run_dir)
        self.progress = progress
        self._echo = echo or (lambda line: print(line, file=sys.stderr))
        self._bar: tqdm | None = None
        self.group, self.device = distributed.join_from_env(cfg.train.device)
        try:
            self._build(cfg, resume, download, data, recipe)
        except BaseException:
            self.group.close()  # a refused run must not leave the other ranks waiting in the group
            self._lock.release(undo=True)
            raise

    def _build(
        self, cfg: Config, resume: bool, download: bool, data: Dataset | None, recipe: Recipe | None
    ) -> None:
        t = cfg.train
        if t.tensorboard:
            summary_writer_class()  # refused here, before the run folder is touched
        #: the run's TensorBoard events while `run` runs (rank 0, train.tensorboard)
        self._tensorboard: TensorBoardLog | None = None
        resume_from = self._check_run_dir(resume)
        set_threads(t.threads)
        self.data = data if data is not None else load_dataset(cfg.data, t.seed, download)
        # a caller with data of its own may build the recipe for it (a table's column layout)
        self.recipe = (
            recipe
            if recipe is not None
            else build_model(cfg, self.data.sample_shape, self.data.num_classes)
        )
        #: the plain modules (checkpoints, EMA, grids); `recipe.nets` may hold compiled wrappers
        #: of them
        self.nets = dict(self.recipe.nets)
        layout_ok, self._compile_options = compile_layout(self.device, t.compile)
        self.channels_last = t.channels_last and self.data.is_image and layout_ok
        for net in self.nets.values():
            net.to(
                self.device,
                memory_format=torch.channels_last if self.channels_last else torch.preserve_format,
            )
        self.ema = (
            EMA(self.nets, self.recipe.ema_nets, t.ema, t.ema_start, t.ema_rampup)
            if t.ema
            else None
        )
        #: a recipe may choose each step's batch size (progressive growing: one per stage)
        schedule = getattr(self.recipe, "batch_schedule", None)
        batch_size = cfg.optim.batch_size if schedule is None else schedule.largest
        per_step = self.recipe.batches_per_step * batch_size
        if per_step * self.group.world > len(self.data):
            raise ConfigError(
                f"a step reads optim.batch_size x optim.n_critic x processes = "
                f"{per_step * self.group.world} samples, more than the {len(self.data)} of "
                f"{self.data.name}"
            )
        # the data set lives on the device once; each step is one index into it
        self.x_device = self.data.x.to(self.device)
        self.y_device = self.data.y.to(self.device) if self.data.y is not None else None
        self.sampler = BatchSampler(
            len(self.data),
            per_step * self.group.world,
            t.seed,
            self.device,
            self.data.row_weights,
            schedule,
            self.recipe.batches_per_step * self.group.world,
        )
        if self.group.active:
            self._shard_recipe()
        self.base_lrs = {
            name: [g["lr"] for g in opt.param_groups]
            for name, opt in self.recipe.optimizers.items()
        }
        self.noise_rng = torch.Generator().manual_seed(t.seed + 1)
        # a translation recipe shows fixed pairs of the data in its grids, the others fixed noise
        self.fixed_latents = (
            self.recipe.grid_inputs(self.data)
            if hasattr(self.recipe, "grid_inputs")
            else self.recipe.latents(GRID_SIZE, torch.Generator().manual_seed(t.seed + 2))
        )
        self.health = HealthMonitor(
            output_kind=self.recipe.output_kind, finite_data=cfg.data.source != "toy2d"
        )
        self.step, self.elapsed = 0, 0.0
        self.last_checkpoint: Path | None = None
        self.evaluator = self._build_evaluator() if t.eval_every else None
        self.class_probe = self._build_class_probe() if t.health_classifier else None
        if cfg.data.source == "toy2d" and not t.health_classifier:
            self.class_probe = self._build_mode_probe()
        self.heldout_probe = self._build_heldout_probe() if data is None else None
        self.grad_scaler = self._make_grad_scaler() if t.amp == "fp16" else None
        if resume_from is not None:
            self._restore(*resume_from)
        if self.group.active:
            self._join_ranks()
        #: the recipe's training step, compiled (train.compile=step)
        self._compiled_step = None
        if t.compile:
            self._compiled_step = compile_recipe(
                self.recipe, self.nets, t.compile, self._compile_options
            )
        #: called on rank 0 with `done` once each log step's line, grid and evaluation are written
        #: (False) and when the run ends (True): what watches the run folder (the HTML report)
        self.output_hooks: list[Callable[[bool], None]] = []
        #: cuDNN's deterministic kernels on CUDA, as exact resume needs; a benchmark may set it
        #: False to measure what they cost (runs then drift apart on CUDA)
        self.deterministic_cudnn = True

    # ---- device, AMP, compile, ranks ---------------------------------------------------------
    def _shard_recipe(self) -> None:
        """Every rank draws from the same noise stream; a recipe with `shard` takes its rank's slice
        of each global draw, so K ranks see the noise one process of K x the batch would."""
        if not hasattr(self.recipe, "shard"):
            raise ConfigError(
                f"recipe '{self.cfg.recipe}' cannot train under torchrun yet (it has no `shard`)"
            )
        self.recipe.shard = (self.group.rank, self.group.world)  # type: ignore[attr-defined]

    def _join_ranks(self) -> None:
        """Same weights on every rank from the start (rank 0's), gradients averaged before every
        optimizer step, float buffers (batch-norm statistics) re-broadcast after every step."""
        if not distributed.same_on_every_rank(data_fingerprint(self.data), self.device):
            raise ConfigError(
                f"the processes hold different data ({self.data.name}): under torchrun every rank "
                "must read the same data set (same files, same options)"
            )
        nets = [*self.nets.values(), *(self.ema.nets.values() if self.ema else [])]
        distributed.broadcast_modules(nets)
        if self.grad_scaler is None:  # under fp16 the AveragingGradScaler averages
            for opt in self.recipe.optimizers.values():
                distributed.average_gradients_before_step(opt, self.group.world)

    def _make_grad_scaler(self) -> torch.amp.GradScaler:
        if not hasattr(self.recipe, "grad_scaler"):
            raise ConfigError(
                f"recipe '{self.cfg.recipe}' does not support train.amp=fp16: use bf16"
            )
        self.recipe.grad_scaler = (  # type: ignore[attr-defined]
            distributed.AveragingGradScaler(self.device.type, self.group.world)
            if self.group.active
            else torch.amp.GradScaler(self.device.type)
        )
        return self.recipe.grad_scaler  # type: ignore[attr-defined]

    def _autocast(self):
        amp = self.cfg.train.amp
        if amp == "none":
            return nullcontext()
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16
        )

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor | None, want_stats: bool = False
    ) -> dict[str, torch.Tensor]:
        """One step of the recipe on a batch (`batch`), as the loop runs it: under the run's
        autocast, compiled when the run compiles its step, with the fp16 scaler's update and, under
        torchrun, the ranks' buffers made equal after. Returns the recipe's figures (tensors). It
        leaves `step`, the EMA and the logs alone: `run` and `train_steps` advance them."""
        try:
            with self._autocast():
                step_fn = self._compiled_step or self.recipe.train_step
                stats = step_fn(x, y, self.noise_rng, want_stats=want_stats, step=self.step)
        except Exception as e:
            if self.cfg.train.compile and raised_by_compiler(e):
                raise compile_failure(e) from None
            raise
        if self.grad_scaler is not None:
            self.grad_scaler.update()
        if self.group.active:  # collected anew: spectral norm replaces its vectors at every call
            distributed.broadcast_tensors(distributed.float_buffers(self.nets.values()))
        return stats

    def _any_rank(self, flag: bool | torch.Tensor) -> bool:
        return distributed.any_rank(flag, self.device) if self.group.active else bool(flag)

    def close(self) -> None:
        """Leave the process group if this trainer joined it (torchrun runs); let the run
        directory's lock go."""
        self.group.close()
        self._lock.release()

    # ---- run directory and checkpoints -------------------------------------------------------
    def _check_run_dir(self, resume: bool) -> tuple[Path, dict[str, Any]] | None:
        """Lock the run directory (rank 0, the one writer), then check it holds what was asked for:
        a run to resume, or no earlier run."""
        if resume:
            if self.group.is_main and self.run_dir.is_dir():
                self._lock_run_dir()
            if ckpt.list_checkpoints(self.ckpt_dir):
                return ckpt.load_latest(self.run_dir)
            if not (self.run_dir / "config.yaml").is_file():
                raise CheckpointError(f"nothing to resume: no checkpoint in {self.ckpt_dir}")
            # a run stopped before its first checkpoint (killed, say) has nothing to lose: start it
            # over
            if self.group.is_main:
                warnings.warn(
                    f"no checkpoint in {self.ckpt_dir} yet: the run starts over from step 0",
                    stacklevel=2,
                )
            return None
        if not self.group.is_main:
            return None  # rank 0 checks (and then writes) the run directory
        blocking = next((p for p in (self.run_dir, *self.run_dir.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise ConfigError(f"{blocking} is a file, not a folder: choose another --out")
        self._lock_run_dir()
        existing = ckpt.list_checkpoints(self.ckpt_dir)
        if existing:
            raise GankitError(
                f"{self.run_dir} already holds a run with checkpoints: "
                "pass --resume to continue it, or choose another --out"
            )
        leftovers = [n for n in ("config.yaml", "metrics.jsonl") if (self.run_dir / n).exists()]
        if leftovers:
            raise GankitError(
                f"{self.run_dir} already holds {' and '.join(leftovers)} (a run without a "
                "checkpoint?): pass --resume to start it over, choose another --out, or remove them"
            )
        return None

    def _lock_run_dir(self) -> None:
        """Take the lock (a second run on the folder is refused here), then delete what writes of a
        killed run left half-done: with the lock held, no other run is writing them."""
        self._lock.acquire()
        for folder in (self.run_dir, self.ckpt_dir, self.run_dir / "samples"):
            remove_stale_temp_files(folder)

    def _state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "data": {
                "name": self.data.name,
                "sample_shape": list(self.data.sample_shape),
                "num_classes": self.data.num_classes,
            },
            "nets": {n: m.state_dict() for n, m in self.nets.items()},
            "optimizers": {n: o.state_dict() for n, o in self.recipe.optimizers.items()},
            "ema": self.ema.state_dict() if self.ema else None,
            "rng": {"noise": self.noise_rng.get_state()},
            "fixed_latents": self.fixed_latents,
            "health": self.health.state_dict(),
            "grad_scaler": self.grad_scaler.state_dict() if self.grad_scaler else None,
            "recipe": self.recipe.extra_state() if hasattr(self.recipe, "extra_state") else None,
        }

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        # options added since the checkpoint was written read as their defaults (the behaviour
        # it had)
        resume_rules.check_config_unchanged(
            config_mod.from_dict(state.get("config")), self.cfg, self.run_dir
        )
        try:
            for n, m in self.nets.items():
                m.load_state_dict(state["nets"][n])
            for n, o in self.recipe.optimizers.items():
                resume_rules.load_optimizer_state(o, state["optimizers"][n])
            if self.ema:
                self.ema.load_state_dict(state["ema"])
            self.noise_rng.set_state(state["rng"]["noise"])
            if self.grad_scaler is not None and state.get("grad_scaler"):
                self.grad_scaler.load_state_dict(state["grad_scaler"])
            self.fixed_latents = resume_rules.like(
                state["fixed_latents"], self.fixed_latents, "fixed_latents"
            )
            if not isinstance(state["health"].get("history"), list):
                raise TypeError("health history is not a list")
            self.health.load_state_dict(state["health"])
            if hasattr(self.recipe, "load_extra_state"):
                self.recipe.load_extra_state(state.get("recipe") or {})
            self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        except (KeyError, IndexError, RuntimeError, ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(
                f"checkpoint {path} does not match this run's config: {str(e).splitlines()[0]}"
            ) from None
        self.last_checkpoint = path

    def save_checkpoint(self) -> Path | None:
        """Rank 0 writes (from CPU copies, loadable on any device); other ranks only check."""
        weights = [
            t for m in self.nets.values() for t in m.state_dict().values() if t.is_floating_point()
        ]
        if not _finite(weights):
            raise FloatingPointError("weights are not finite")
        if not self.group.is_main:
            return None
        try:
            path = ckpt.save(ckpt.checkpoint_path(self.ckpt_dir, self.step), self._state())
        except (
            CheckpointError
        ) as e:  # training stops: a run that cannot keep its progress must not go on
            kept = (
                f"--resume continues from {self.last_checkpoint.name}"
                if self.last_checkpoint
                else "no checkpoint was written yet"
            )
            raise CheckpointError(f"{e}: training stopped at step {self.step}; {kept}") from None
        ckpt.prune(self.ckpt_dir, path, self.cfg.train.keep_checkpoints)
        self.last_checkpoint = path
        return path

    # ---- outputs -----------------------------------------------------------------------------
    def echo(self, line: str) -> None:
        if self._bar is not None and not self._bar.disable:
            self._bar.write(line, file=sys.stderr)
        else:
            self._echo(line)

    def sampling_nets(self) -> dict[str, torch.nn.Module]:
        return {**self.nets, **(self.ema.nets if self.ema else {})}

    @torch.no_grad()
    def save_grid(self) -> Path:
        samples, nrow = self.sample(self.fixed_latents), None
        if hasattr(self.recipe, "grid_panels"):  # input | output | target, say
            samples, nrow = self.recipe.grid_panels(self.fixed_latents, samples)
        path = save_png(samples, self.run_dir / "samples" / f"step_{self.step:07d}.png", nrow)
        if self._tensorboard is not None:
            self._tensorboard.image(grid_image(samples, nrow), self.step)
        return path

    def _log(
        self, stats: dict[str, torch.Tensor], real: torch.Tensor, images_per_s: float
    ) -> dict[str, Any]:
        fake = stats.pop("_samples", None)
        values = {k: float(v) for k, v in stats.items()}
        if fake is not None:
            real_div = pairwise_diversity(real[: len(fake)])
            values["diversity"] = (
                pairwise_diversity(fake) / real_div if real_div > 0 else float("nan")
            )
        if self.class_probe:
            values.update(self.class_probe())
        if self.heldout_probe:
            values.update(self.heldout_probe())
        verdict, remedy = self.health.observe(values, self.step)
        record = {
            "step": self.step,
            "time_s": round(self.elapsed, 3),
            **values,
            "img_per_s": round(images_per_s, 1),
            "verdict": verdict,
        }
        if remedy:
            record["remedy"] = remedy
        self._write_record(record)
        self.echo(format_line(record))
        return record

    def _write_record(self, record: dict[str, Any]) -> None:
        """A line of metrics.jsonl, and its figures as TensorBoard scalars when asked for."""
        append_line(self.run_dir / "metrics.jsonl", json.dumps(record))
        if self._tensorboard is not None:
            self._tensorboard.log(record)

    def _trim_metrics(self) -> None:
        """On resume, drop log lines written after the checkpoint (they will be written again)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= self.step:
                    keep.append(line)
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut short by a crash
        atomic_write(path, "".join(line + "\n" for line in keep).encode())

    def _build_class_probe(self) -> Callable[[], dict[str, float]]:
        """Class histogram of 256 samples from fixed latents: collapse the distance ratio misses."""
        from ..metrics.classifier import check_features, load_classifier, predict

        path = self.cfg.train.health_classifier
        classifier = load_classifier(path)  # type: ignore[arg-type]
        if warning := check_features(classifier.trained_on, self.cfg.data, self.data, str(path)):
            warnings.warn(f"train.health_classifier: {warning}", stacklevel=2)
        latents = self.recipe.latents(256, torch.Generator().manual_seed(self.cfg.train.seed + 4))

        def run() -> dict[str, float]:
            logits, _ = predict(classifier, self.sample(latents))
            counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1])
            return {
                "top_class_share": float(counts.max()) / len(latents),
                "classes_seen": float((counts > 0).sum()),
            }

        return run

    def _build_mode_probe(self) -> Callable[[], dict[str, float]]:
        """Where the mixture's modes are known (toy2d), count them on 2,500 samples of fixed
        latents as the benchmark counts them: the modes reached, the share of high-quality samples,
        and the largest mode's share of those, the collapse a pairwise distance misses when G
        piles most samples on one mode and spreads a few over the others."""
        from ..metrics.modes import mixture, mode_coverage_2d

        centers, std = mixture(self.cfg.data.toy)
        latents = self.recipe.latents(2500, torch.Generator().manual_seed(self.cfg.train.seed + 4))

        def run() -> dict[str, float]:
            cov = mode_coverage_2d(self.sample(latents).flatten(1), centers, std)
            counts = torch.tensor(cov["per_mode_counts"], dtype=torch.float64)
            values = {
                "modes_seen": float(cov["modes_captured"]),
                "modes_total": float(len(centers)),
                "modes_share": cov["modes_captured"] / len(centers),
                "hq_share": cov["high_quality_share"],
            }
            if counts.sum() > 0:
                values["top_mode_share"] = float(counts.max() / counts.sum())
            return values

        return run

    def _build_heldout_probe(self) -> Callable[[], dict[str, float]] | None:
        """E[sign(D(x))] on fixed training images and on the held-out ones (`data.holdout`), and
        their gap: a D that memorises its training set calls them real and the others not. None
        when the recipe's D has no such reading or fewer than a batch of images is held out."""
        batch = self.cfg.optim.batch_size
        kind = getattr(self.recipe, "output_kind", "none")
        if not self.cfg.data.holdout or kind not in ("logit", "score", "margin"):
            return None
        if not hasattr(self.recipe, "real_sign_mean") or self.cfg.data.holdout < batch:
            return None
        most = HELDOUT_PROBE_BATCHES * batch
        n_train = min(len(self.data), most) // batch * batch
        n_held = min(self.cfg.data.holdout, most) // batch * batch
        held = load_heldout(self.cfg.data, self.cfg.train.seed)
        fixed = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(0))
        fixed = fixed[:n_train]
        train_x = to_float(self.data.x[fixed]).to(self.device)
        train_y = self.data.y[fixed].to(self.device) if self.data.y is not None else None
        held_x = to_float(held.x[:n_held]).to(self.device)
        held_y = held.y[:n_held].to(self.device) if held.y is not None else None

        def run() -> dict[str, float]:
            seen = self.recipe.real_sign_mean(train_x, train_y, batch)  # type: ignore[attr-defined]
            unseen = self.recipe.real_sign_mean(held_x, held_y, batch)  # type: ignore[attr-defined]
            return {"sign_train": seen, "sign_heldout": unseen, "heldout_gap": seen - unseen}

        return run

    def _build_evaluator(self) -> Callable[[], dict[str, Any]]:
        """FID (and friends) of the sampling weights against the training data (or, with
        `train.eval_reference=full`, the whole set it was drawn from), reference cached."""
        from ..metrics.classifier import check_features
        from ..metrics.evaluate import evaluate, parse_metrics
        from ..metrics.extractors import load_extractor

        t = self.cfg.train
        metrics = parse_metrics(t.eval_metrics)
        extractor = load_extractor(t.eval_features)  # type: ignore[arg-type]
        real = self.data
        if t.eval_reference != "train":
            if self.cfg.data.source == MEMORY:
                raise ConfigError(
                    "train.eval_reference=full needs a named source: images handed to "
                    "gankit.train(data=...) are the whole reference already"
                )
            real = load_reference(self.cfg.data, t.eval_reference, t.seed)
        warning = check_features(extractor.trained_on, self.cfg.data, real, extractor.spec)
        latents = self.recipe.latents(t.eval_samples, torch.Generator().manual_seed(t.seed + 3))

        @torch.no_grad()
        def run() -> dict[str, Any]:
            samples = self.sample(latents)
            figures = evaluate(extractor, real, samples, metrics, t.seed)
            return {**figures, "features_warning": warning} if warning else figures

        return run

    @torch.no_grad()
    def sample(self, latents: torch.Tensor, weights: str = "ema") -> torch.Tensor:
        """Samples of `latents` (`recipe.latents(n, rng)`) from the sampling weights (EMA when on;
        `weights="raw"`: the networks as trained) in eval mode, in chunks, back on the CPU as
        floats: what the grids and evaluations show."""
        nets = self.sampling_nets() if weights == "ema" else dict(self.nets)
        modes = {n: m.training for n, m in nets.items()}
        for m in nets.values():
            m.eval()
        try:
            return generate_in_chunks(self.recipe, latents.to(self.device), nets=nets).float().cpu()
        finally:
            for n, m in nets.items():
                m.train(modes[n])

    def _evaluate(self) -> None:
        assert self.evaluator is not None
        start = time.monotonic()
        results = self.evaluator()
        record = {
            "step": self.step,
            "eval": {k: v for k, v in results.items() if not isinstance(v, list)},
            "eval_seconds": round(time.monotonic() - start, 2),
        }
        self._write_record(record)
        self.echo(
            f"eval step {self.step}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in record["eval"].items() if isinstance(v, float))
            + (" (! low-accuracy features)" if "features_warning" in results else "")
        )

    # ---- the loop ----------------------------------------------------------------------------
    def _should_continue(self, deadline: float | None, stop: _StopRequest | None = None) -> bool:
        steps = self.cfg.train.steps
        if steps is not None and self.step >= steps:
            return False
        if self.group.active:  # budget and Ctrl-C are agreed by all ranks at log steps
            return not self._ranks_stop
        return (deadline is None or time.monotonic() < deadline) and not (
            stop is not None and stop.requested
        )

    def _agree_on_stopping(self, deadline: float | None, stop: _StopRequest) -> None:
        """Under torchrun: every rank leaves the loop at the same step (a log step) when any rank's
        budget ran out or any rank was interrupted."""
        out_of_time = deadline is not None and time.monotonic() >= deadline
        interrupted, out_of_time = distributed.any_rank_each(
            [stop.requested, out_of_time], self.device
        )
        self._ranks_interrupted = interrupted
        self._ranks_stop = interrupted or out_of_time

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's batch of `step` (images, labels or None), as the loop trains on it: one index
        into the data already on the device, in the run's memory layout."""
        index = distributed.rank_slice(
            self.sampler.indices(step),
            self.recipe.batches_per_step,
            self.group.rank,
            self.group.world,
        )
        x = to_float(self.x_device[index])
        if self.cfg.data.flip:
            x = flip_batch(x, self.cfg.train.seed, step, self.group.rank)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (self.y_device[index] if self.y_device is not None else None)

    def run(self) -> RunResult:
        """Train to the step or time budget. Rank 0 holds the run directory's lock until the run
        ends, then lets it go (a later trainer in this process may resume the run)."""
        try:
            if self.group.is_main:
                self._lock.acquire()  # again, for a second `run` of this trainer
            return self._run()
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
            self._lock.release()

    def train_steps(self, n: int) -> RunResult:
        """Train `n` more steps as a run of its own (logs, grids, evaluations and the last
        checkpoint as configured), whatever the budget was: `train.steps` becomes `step + n` and
        `train.minutes` None. Experiments time or evaluate a run chunk by chunk with it."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"train_steps needs a whole number of steps of at least 1, got {n!r}")
        self.cfg.train.steps, self.cfg.train.minutes = self.step + n, None
        return self.run()

    def _run(self) -> RunResult:
        t = self.cfg.train
        main = self.group.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._trim_metrics()
            atomic_write(self.run_dir / "config.yaml", self.cfg.to_yaml().encode())
            if t.tensorboard:
                self._tensorboard = TensorBoardLog(self.run_dir, self.step)
        stop = _StopRequest()
        deadline = time.monotonic() + 60 * t.minutes if t.minutes else None
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self._ranks_stop = self._ranks_interrupted = False
        status = "completed"
        interval_start, interval_images = time.monotonic(), 0
        with (
            stop.installed(),
            run_settings(self.device, self.deterministic_cudnn),
            self._progress_bar() as bar,
        ):
            self._bar = bar
            while self._should_continue(deadline, stop):
                step_start = time.monotonic()
                if self.cfg.optim.lr_decay == "linear":
                    self._decay_lr()
                x, y = self.batch(self.step)
                log_now = (self.step + 1) % t.log_every == 0
                stats = self.train_step(x, y, want_stats=log_now)
                bad |= ~torch.isfinite(
                    torch.stack([v for k, v in stats.items() if k.startswith("loss")])
                ).all()
                if self.ema:
                    self.ema.update(self.step)
                self.step += 1
                self.elapsed += time.monotonic() - step_start
                interval_images += len(x)
                bar.update(1 if t.steps else 0)
                boundary = log_now or any(
                    self.step % every == 0
                    for every in (t.checkpoint_every, t.sample_every, t.eval_every or 0)
                    if every
                )
                if boundary and self._any_rank(bad):
                    status = "diverged"
                    break
                if log_now:
                    now = time.monotonic()
                    if self.group.active:
                        stats = distributed.mean_over_ranks(stats, self.device)
                    if main:  # images/s of the whole run (all ranks): K x this rank's
                        self._log(
                            stats,
                            x,
                            self.group.world * interval_images / max(now - interval_start, 1e-9),
                        )
                    interval_start, interval_images = now, 0
                    if not t.steps and deadline:
                        bar.n = min(bar.total, round(t.minutes * 60 - (deadline - now)))
                        bar.refresh()
                    if self.group.active:
                        self._agree_on_stopping(deadline, stop)
                if main and self.step % t.sample_every == 0 and self.data.grids:
                    self.save_grid()
                if main and self.evaluator and self.step % t.eval_every == 0:
                    self._evaluate()
                if main and log_now:
                    self._outputs_written(done=False)
                if self.step % t.checkpoint_every == 0 and not self._checkpoint_if_finite():
                    status = "diverged"
                    break
            if status == "completed" and self._any_rank(bad):
                status = "diverged"
            if status == "completed" and (stop.requested or self._ranks_interrupted):
                status = "interrupted"
            if status != "diverged" and (
                self.step % t.checkpoint_every != 0 or self.last_checkpoint is None
            ):
                if not self._checkpoint_if_finite():
                    status = "diverged"
            if status == "diverged":
                self.health.observe({"loss_d": float("nan")})
                if main:
                    self.echo(
                        f"step {self.step}: {DIVERGED}: a loss or weight became NaN/Inf. "
                        "Training stopped; "
                        f"last good checkpoint: {self.last_checkpoint or 'none'}"
                    )
            elif main:
                if self.step % t.sample_every != 0 and self.data.grids:
                    self.save_grid()
                if self.evaluator and self.step % t.eval_every != 0:
                    self._evaluate()
            if main:
                self._outputs_written(done=True)
            self._bar = None
        if self.group.active:
            torch.distributed.barrier()  # no rank leaves while rank 0 still writes
        summary = {
            **self.health.summary(),
            "steps": self.step,
            "train_seconds": round(self.elapsed, 1),
        }
        return RunResult(self.run_dir, self.step, status, self.last_checkpoint, summary)

    def _outputs_written(self, done: bool) -> None:
        for hook in self.output_hooks:
            hook(done)

    def _decay_lr(self) -> None:
        """Linear decay to 0 at the last step (as CycleGAN and many toy-mixture setups train). A
        function of the step, so resume continues it exactly."""
        keep = 1.0 - self.step / self.cfg.train.steps
        for name, opt in self.recipe.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs[name], strict=True):
                group["lr"] = base * keep

    def _checkpoint_if_finite(self) -> bool:
        """Save a checkpoint unless the weights are NaN/Inf (then keep the last good one)."""
        try:
            self.save_checkpoint()
        except FloatingPointError:
            return False
        return True

    @contextmanager
    def _progress_bar(self) -> Iterator[tqdm]:
        t = self.cfg.train
        total = (t.steps - self.step) if t.steps else round(t.minutes * 60)
        disable = None if self.progress is None else not self.progress
        disable = True if not self.group.is_main else disable
        bar = tqdm(
            total=total,
            unit="step" if t.steps else "s",
            disable=disable,
            dynamic_ncols=True,
            leave=False,
            file=sys.stderr,
        )
        try:
            yield bar
        finally:
            bar.close()
