"""Pix2Pix (Isola et al. 2017): a U-Net G learns to translate an input image into its paired
target, against a PatchGAN D conditioned on the input, with an L1 pull towards the target.

Loss: D minimises half the GAN loss (binary cross-entropy on logits) of (input, target) as real
and (input, G(input)) as fake; G the non-saturating loss plus `model.l1` (lambda, 100) times the
mean absolute distance of G(input) to the target. Adam 2e-4, betas (0.5, 0.999). The data are
pairs (`data/pairs.py`): each image holds the input's channels, then the target's, so `data.flip`
and `data.jitter` treat both halves alike. G's dropout masks come from the saved noise stream
(RankDropout), so a resumed run continues bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..data.base import Dataset, to_float
from ..errors import ConfigError
from ..nets.translation import (
    PATCHES,
    PatchDiscriminator,
    UNetGenerator,
    patch_output_side,
)
from ..shard import ShardedRecipe, rank_draw, seeded_global_rng
from .base import NetSpec, make_optimizer
from .gan import grad_norm, output_stats

if TYPE_CHECKING:
    from ..config import Config

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's recipe (U-Net G with dropout, 70x70 PatchGAN, lambda 100, Adam 2e-4 / 0.5,
    # mirroring) at width 16 and batch 16, so a 2-core CPU trains 64 px pairs in minutes; its
    # random jitter (data.jitter=true) slowed the first CPU minutes on the emoji
    # (docs/results/pix2pix_emoji.md).
    "pix2pix": {
        "recipe": "pix2pix",
        "model": {"arch": "unet", "width": 16, "patch": 70, "g_dropout": 0.5, "l1": 100.0},
        "optim": {"batch_size": 16, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "data": {"source": "paired", "jitter": False, "flip": True},
        "train": {"ema": None, "log_every": 50, "sample_every": 250, "checkpoint_every": 500},
    },
}
#: the paper's jitter: 256 px images enlarged to 286, then cropped back
JITTER_SCALE = 286 / 256
#: pairs shown in a sample grid, two (input | output | target) triplets a row
GRID_PAIRS = 12


def check_pix2pix_options(cfg: Config) -> None:
    """Pairs in, the options the paper's recipe has, none of the GAN options it lacks."""
    m = cfg.model
    if cfg.data.source != "paired":
        raise ConfigError(
            "pix2pix learns from pairs: --data paired --data-dir DIR (unpaired collections "
            "need a CycleGAN)"
        )
    if not 0.0 <= m.g_dropout < 1.0:
        raise ConfigError(f"model.g_dropout must be in [0, 1), got {m.g_dropout}")
    if m.l1 < 0:
        raise ConfigError(f"model.l1 is a weight and cannot be negative, got {m.l1}")
    check_translation_options(cfg)


def check_translation_options(cfg: Config) -> None:
    """The rules pix2pix and CycleGAN share: a PatchGAN receptive field that exists, and none of
    the GAN options neither paper has."""
    m, t = cfg.model, cfg.train
    if str(m.patch) not in PATCHES:
        raise ConfigError(
            f"model.patch is the PatchGAN's receptive field: choose from {', '.join(PATCHES)}, "
            f"got {m.patch}"
        )
    unsupported = {
        "model.conditional": m.conditional,
        "model.pack": m.pack != 1,
        "optim.n_critic": cfg.optim.n_critic != 1,
        "train.eval_every": t.eval_every,
        "train.health_classifier": t.health_classifier,
    }
    given = [name for name, value in unsupported.items() if value]
    if given:
        raise ConfigError(f"{cfg.recipe} does not take {given[0]} (the paper's recipe has none)")


def random_jitter(
    x: torch.Tensor, rng: torch.Generator, shard: tuple[int, int] = (0, 1)
) -> torch.Tensor:
    """Each image enlarged by JITTER_SCALE and cropped back at a place drawn from `rng`: a pair's
    halves (its channels) move alike."""
    n, _, h, w = x.shape
    big_h, big_w = round(h * JITTER_SCALE), round(w * JITTER_SCALE)
    big = F.interpolate(x, size=(big_h, big_w), mode="bilinear", align_corners=False)
    high = torch.tensor([big_h - h + 1, big_w - w + 1])
    offsets = rank_draw(shard, n, lambda m: (torch.rand(m, 2, generator=rng) * high).long())
    offsets = offsets.to(x.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device))[:, None, :]
    crops = big[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]  # n, h, w, C
    return crops.permute(0, 3, 1, 2).contiguous()


def refuse_oversized_patch(side: int, patch: int) -> None:
    """A PatchGAN whose patch exceeds the images has no output: refused with the sizes that fit."""
    if patch_output_side(side, patch) < 1:
        smaller = [p for p in PATCHES if patch_output_side(side, int(p)) >= 1]
        raise ConfigError(
            f"a {patch}-pixel PatchGAN sees past {side}-pixel images: choose model.patch "
            f"from {', '.join(smaller) or 'none (the images are too small)'}"
        )


class TranslationRecipe:
    """What the translation recipes share: images in, G's weights averaged when EMA is on, one
    batch a step, no labels, fixed rows of the data as the grids' inputs, and no samples."""

    trains_on = "images"
    translates = True
    options: dict[str, type] = {}
    ema_nets = ("G",)
    batches_per_step = 1
    cfg: Config

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        raise ConfigError(
            f"a {self.cfg.recipe} model translates images and draws none: use gankit translate "
            "RUN INPUT -o OUTPUT_DIR (and gankit eval RUN --pairs DIR for its scores)"
        )

    def labels(self, n: int) -> torch.Tensor | None:
        return None

    def grid_inputs(self, data: Dataset) -> torch.Tensor:
        """GRID_PAIRS rows spread evenly over the data: the fixed inputs of every sample grid."""
        index = torch.linspace(0, len(data) - 1, min(GRID_PAIRS, len(data))).round().long()
        return to_float(data.x[index])


class Pix2PixRecipe(TranslationRecipe, ShardedRecipe):
    """G translates the first half of a pair's channels into the second; D judges pairs."""

    archs = ("unet",)
    #: the model options only the translation recipes read, this one's (config refuses the rest)
    model_options = ("patch", "l1", "g_dropout")
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_pix2pix_options(cfg)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        planes, height, width = sample_shape
        if planes % 2 or height != width:
            raise ConfigError(
                f"pix2pix reads square image pairs (input and target channels), got {sample_shape}"
            )
        m = cfg.model
        refuse_oversized_patch(height, m.patch)
        self.cfg, self.channels, self.num_classes = cfg, planes // 2, 0
        self.sampling_spec = NetSpec(
            "G",
            UNetGenerator,
            {
                "in_channels": self.channels,
                "out_channels": self.channels,
                "resolution": height,
                "width": m.width,
                "dropout": m.g_dropout,
            },
            f"translations in [-1, 1] (tanh) of {height}x{height} input images in [-1, 1] "
            f"({cfg.data.direction})",
        )
        self.nets: dict[str, nn.Module] = {
            "G": self.sampling_spec.build(),
            "D": PatchDiscriminator(planes, m.width, m.patch),
        }
        o = cfg.optim
        self.optimizers = {
            "G": make_optimizer(self.nets["G"].parameters(), o.lr_g, cfg, fused=True),
            "D": make_optimizer(self.nets["D"].parameters(), o.lr_d, cfg, fused=True),
        }
        #: D's outputs are logits (the binary cross-entropy of the paper)
        self.output_kind = "logit"
        #: the directions this model translates (`gankit translate --direction`): the one it
        #: was trained in
        self.directions = (cfg.data.direction,)

    # ---- sampling ----------------------------------------------------------------------------
    def generate(self, latents, labels=None, nets=None):
        """The translations of the inputs of pairs (the trainer's grid inputs)."""
        return (nets or self.nets)["G"](latents[:, : self.channels])

    def translate(
        self, x: torch.Tensor, direction: str, nets: dict[str, nn.Module] | None = None
    ) -> torch.Tensor:
        """Images of the input domain ([-1, 1]) translated in `direction`."""
        if direction not in self.directions:
            raise ConfigError(
                f"this pix2pix model translates {self.directions[0]} only, not {direction} "
                "(train another with data.direction)"
            )
        return (nets or self.nets)["G"](x)

    def grid_panels(self, pairs: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, int]:
        """input | output | target of each pair, two triplets a row."""
        c = self.channels
        pairs = pairs.to(outputs.device, outputs.dtype)
        triplets = torch.stack([pairs[:, :c], outputs, pairs[:, c:]], 1)
        return triplets.flatten(0, 1), 6 if len(pairs) > 1 else 3

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, x, y, rng, want_stats, step=0):
        if self.cfg.data.jitter:
            x = random_jitter(x, rng, self.shard)
        source, target = x[:, : self.channels], x[:, self.channels :]
        G, D = self.nets["G"], self.nets["D"]
        # RankDropout draws from the global RNG: seed it from the saved stream
        seed = int(torch.randint(2**62, (1,), generator=rng))
        with seeded_global_rng(seed, x.device):
            fake = G(source)
        real_out, fake_out = D(source, target), D(source, fake.detach())
        loss_d = 0.5 * losses.d_loss_bce(real_out, fake_out)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        stats = {"loss_d": loss_d.detach()}
        if want_stats:
            stats["grad_norm_d"] = grad_norm(D)
            stats.update(output_stats(real_out.detach(), fake_out.detach(), self.output_kind))
        self.optimizers["D"].step()
        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        adversarial = losses.g_loss_non_saturating(D(source, fake))
        l1 = (fake - target).abs().mean()
        loss_g = adversarial + self.cfg.model.l1 * l1
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        D.requires_grad_(True)
        stats.update(loss_g=loss_g.detach(), l1=l1.detach())
        if want_stats:
            stats["grad_norm_g"] = grad_norm(G)
        self.optimizers["G"].step()
        return stats
