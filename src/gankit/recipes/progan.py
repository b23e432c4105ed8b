"""Progressive growing of GANs (Karras et al. 2018) on the GAN recipe's step: training starts at
4x4 and doubles the side stage by stage up to the data's; each new stage fades its layers in
(alpha 0 -> 1 over `train.fade_images` images), then trains them faded in
(`train.stable_images`); the last stage trains on to the end of the budget.

The phase is a function of the step alone (`ProgressiveSchedule`), and the networks carry it as
buffers, so a checkpoint holds the stage and alpha and a resumed run continues at the same alpha,
bit for bit. Adam's state is reset at the start of every phase past 4x4, as the paper's code does
(`reset_opt_for_new_lod`). The batch size is chosen per stage (`optim.batch_sizes`): the trainer
asks the recipe's `batch_schedule` for each step's batch.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .. import losses
from ..errors import ConfigError
from ..nets.progan import (
    ProGANDiscriminator,
    ProGANGenerator,
    downscale,
    is_stage_resolution,
    stage_resolutions,
    upscale,
)
from .base import NetSpec
from .gan import GANRecipe

if TYPE_CHECKING:
    from ..config import Config


def check_progan_options(cfg: Config) -> None:
    """Progressive growing's rules (`check_gan_options` calls them for model.arch=progan)."""
    m, o, t = cfg.model, cfg.optim, cfg.train
    unread = {
        "model.conditional": m.conditional,
        "model.pack": m.pack != 1,
        "model.d_spectral_norm": m.d_spectral_norm,
        "model.g_spectral_norm": m.g_spectral_norm,
        "model.attention_res": m.attention_res is not None,
        "model.d_dropout": m.d_dropout != 0,
        "model.d_maxout": m.d_maxout != 0,
        "model.projection": m.projection,
        "optim.n_critic": o.n_critic != 1,
        "loss.ada": cfg.loss.ada,
    }
    given = [name for name, on in unread.items() if on]
    if given:
        raise ConfigError(
            f"{', '.join(given)} does not apply to progressive growing (model.arch=progan: one "
            "unconditional D step per G step, no packing, attention or spectral norm)"
        )
    if o.batch_sizes is not None and (not o.batch_sizes or min(o.batch_sizes) < 2):
        raise ConfigError("optim.batch_sizes must list batch sizes of at least 2 (or be null)")
    if t.fade_images < 0 or t.stable_images < 0:
        raise ConfigError("train.fade_images and train.stable_images cannot be negative")
    if cfg.loss.drift < 0 or m.fmap_base < 1:
        raise ConfigError("loss.drift cannot be negative and model.fmap_base must be at least 1")


@dataclass(frozen=True)
class Phase:
    """One fade-in or stabilisation: its stage, its steps and the images before it."""

    stage: int
    fading: bool
    first_step: int
    #: steps it lasts; None: to the end of training (the last stage's stabilisation)
    steps: int | None
    batch: int
    images_before: int
    #: images it is set to last (a fade-in: alpha reaches 1 after these)
    images: int


class ProgressiveSchedule:
    """The stage, alpha and batch size of every step, from the stage count, the images of a
    fade-in and of a stabilisation, and the batch of each stage: a pure function of the step, so
    resume needs nothing else. A phase lasts ceil(images / batch) steps; alpha is the share of the
    fade-in's images seen before the step (0 at its first step)."""

    def __init__(self, fade_images: int, stable_images: int, batches: list[int]):
        stages = len(batches)
        self.phases: list[Phase] = []
        step = images = 0
        for stage, batch in enumerate(batches):
            parts = ([(True, fade_images)] if stage else []) + [(False, stable_images)]
            for fading, length in parts:
                last = stage == stages - 1 and not fading
                steps = None if last else math.ceil(length / batch)
                if steps == 0:
                    continue
                self.phases.append(Phase(stage, fading, step, steps, batch, images, length))
                if steps is not None:
                    step, images = step + steps, images + steps * batch
        self._starts = [p.first_step for p in self.phases]
        #: the largest batch any step takes
        self.largest = max(p.batch for p in self.phases)

    def phase(self, step: int) -> Phase:
        return self.phases[bisect_right(self._starts, step) - 1]

    def fade(self, step: int) -> tuple[int, int]:
        """(images of the fade-in seen before `step`, images it lasts): alpha is their ratio, 1
        outside a fade-in."""
        p = self.phase(step)
        if not p.fading:
            return 1, 1
        return min((step - p.first_step) * p.batch, p.images), p.images

    def alpha(self, step: int) -> float:
        done, total = self.fade(step)
        return 1.0 if done >= total else done / total

    def size(self, step: int) -> int:
        """The batch of `step`."""
        return self.phase(step).batch

    def images_before(self, step: int) -> int:
        """Images all steps before `step` read: where its batch starts in the data's order."""
        p = self.phase(step)
        return p.images_before + (step - p.first_step) * p.batch


def progan_generator_spec(cfg: Config, sample_shape: tuple[int, ...]) -> NetSpec:
    """G's class and arguments, for square images of a side the stages reach."""
    if (
        len(sample_shape) != 3
        or sample_shape[-1] != sample_shape[-2]
        or (not is_stage_resolution(sample_shape[-1]) or sample_shape[-1] < 8)
    ):
        raise ConfigError(
            "progressive growing doubles a square side from 4x4 up to a power of two (8, 16, 32, "
            f"64, ...), not {'x'.join(map(str, sample_shape[1:]))}: set data.resolution "
            "(28 px MNIST: data.resolution=32)"
        )
    m = cfg.model
    kwargs = {
        "z_dim": m.z_dim,
        "resolution": sample_shape[-1],
        "channels": sample_shape[0],
        "fmap_base": m.fmap_base,
        "fmap_max": m.width,
    }
    outputs = "images of latents z ~ N(0, I) at the stage trained last, upsampled (nearest) to "
    outputs += "the data's side; linear outputs, clipped to [-1, 1] as samples"
    return NetSpec("G", ProGANGenerator, kwargs, outputs)


def progan_nets(cfg: Config, sample_shape: tuple[int, ...]) -> dict[str, torch.nn.Module]:
    """G (first, so its weights come first from the seed) and D."""
    m = cfg.model
    G = progan_generator_spec(cfg, sample_shape).build()
    side, channels = sample_shape[-1], sample_shape[0]
    return {"G": G, "D": ProGANDiscriminator(side, channels, m.fmap_base, m.width, m.minibatch_std)}


class ProGANRecipe(GANRecipe):
    """The GAN recipe's D and G updates, penalties and sampling on the progressive networks; the
    step sets the phase, scales the real batch to the stage's side and resets Adam at each new
    phase."""

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        o, t = cfg.optim, cfg.train
        super().__init__(cfg, sample_shape, 0)  # its nets and spec are the progressive ones
        side = sample_shape[-1]
        self.d_loss = with_drift(self.d_loss, cfg.loss.drift)
        self.joint_d = False  # minibatch stddev: D's output for a sample depends on its batch
        self.resolution = side
        #: the phase of every step; the trainer reads each step's batch size from it
        listed = o.batch_sizes or []
        batches = [
            listed[k] if k < len(listed) else o.batch_size
            for k in range(len(stage_resolutions(side)))
        ]
        self.batch_schedule = ProgressiveSchedule(t.fade_images, t.stable_images, batches)

    def set_phase(self, step: int) -> tuple[int, float]:
        """Both networks to `step`'s stage and alpha; Adam's moments dropped at the first step of
        every phase past the first (the paper's code resets them whenever the stage or the fading
        changes). Returns (stage, alpha)."""
        schedule = self.batch_schedule
        phase = schedule.phase(step)
        if step == phase.first_step and step > 0:
            for opt in self.optimizers.values():
                opt.state.clear()
        done, total = schedule.fade(step)
        for net in self.nets.values():
            net.set_phase(phase.stage, done, total)
        return phase.stage, schedule.alpha(step)

    def reals_at(self, x: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """Real images at the stage's side (average pooling); while a stage fades in, blended with
        the previous side upsampled by 1 - alpha, as G's output is (the paper's code)."""
        x = downscale(x, x.shape[-1] // (4 << stage))
        if stage > 0 and alpha < 1.0:
            x = torch.lerp(upscale(downscale(x)), x, alpha)
        return x

    def train_step(self, x, y, rng, want_stats, step=0):
        stage, alpha = self.set_phase(step)
        stats = super().train_step(self.reals_at(x, stage, alpha), None, rng, want_stats, step)
        if want_stats:
            stats["stage"] = torch.tensor(float(stage))
            stats["alpha"] = torch.tensor(alpha)
        return stats

    def _step(self, x, y, rng, want_stats, step):
        """One D update, then one G update on the same fakes (the GAN recipe's, at the stage's
        side); G's samples for the diversity figure go out upsampled to the data's side, as the
        real batch it is compared with is."""
        fake = self.nets["G"].synthesize(self._train_latents(len(x), rng, x.device))
        stats = self._d_step(x, None, fake.detach(), rng, step, want_stats)
        stats.update(self._g_step(x, None, fake, rng, want_stats))
        if want_stats:
            stats.update(self._signs_stats())
        if "_samples" in stats:
            stats["_samples"] = upscale(stats["_samples"], self.resolution // x.shape[-1])
        return stats


def with_drift(d_loss, drift: float):
    """D's loss plus drift x E[D(x)^2] on real data (the paper's epsilon_drift), or as it is."""
    if not drift:
        return d_loss
    return lambda real, fake: d_loss(real, fake) + drift * losses.drift_penalty(real)
