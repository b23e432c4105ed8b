"""CycleGAN (Zhu et al. 2017): two generators learn to translate between two unpaired image
collections, G_AB from A to B and G_BA back, each against an unconditional PatchGAN of its
target domain, held together by cycle consistency (G_BA(G_AB(a)) ~ a, G_AB(G_BA(b)) ~ b).

Loss (the paper's): least squares for both Ds and both Gs; `model.cycle` (lambda, 10) times
the L1 cycle losses; `model.identity` (0.5) times lambda times the L1 identity losses
(G_AB(b) ~ b, G_BA(a) ~ a), which keep colours where nothing needs to change. Each D learns from
a history pool of `model.pool` (50) generated images rather than only the newest batch.
Adam 2e-4, betas (0.5, 0.999), constant for `optim.decay_start` steps, then linearly to 0
over `optim.decay_steps`. The pools are buffers of a module in `nets` and their draws come
from the trainer's saved noise stream, and the learning rate is a function of the step, so a
resumed run continues bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import losses
from ..errors import ConfigError
from ..nets.translation import UPSAMPLERS, CycleDiscriminators, CycleGenerators
from .base import NetSpec, make_optimizer
from .gan import grad_norm, output_stats
from .pix2pix import (
    TranslationRecipe,
    check_translation_options,
    random_jitter,
    refuse_oversized_patch,
)

if TYPE_CHECKING:
    from ..config import Config


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's recipe (ResNet-block Gs, 70x70 PatchGANs, least squares, lambda 10, identity
    # 0.5, pools of 50, Adam 2e-4 / 0.5, constant then linear decay) sized for a 2-core CPU at
    # 64 px: width 16 and 6 blocks (the paper's count below 256 px; the 16x16 map inside G at
    # 64 px is spanned by 6 blocks' twelve 3x3 convolutions), batch 4 (instance norm normalises
    # each image alone), the decay over the steps a shared 2-core CPU makes in minutes
    # (docs/translation.md#cyclegan).
    "cyclegan": {
        "recipe": "cyclegan",
        "model": {
            "arch": "resblocks",
            "width": 16,
            "blocks": 6,
            "patch": 70,
            "cycle": 10.0,
            "identity": 0.5,
            "pool": 50,
        },
        "optim": {
            "batch_size": 4,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "beta1": 0.5,
            "beta2": 0.999,
            "decay_start": 100,
            "decay_steps": 100,
        },
        "data": {"source": "unpaired", "jitter": False, "flip": True},
        "train": {"ema": None, "log_every": 50, "sample_every": 250, "checkpoint_every": 500},
    },
}


def check_cyclegan_options(cfg: Config) -> None:
    """Unpaired data in, both directions learnt, none of the GAN options the recipe lacks."""
    m, o = cfg.model, cfg.optim
    if cfg.data.source != "unpaired":
        raise ConfigError(
            "cyclegan learns from two unpaired collections: --data unpaired --data-dir DIR "
            "(pairs train a pix2pix model)"
        )
    if cfg.data.direction != "AtoB":
        raise ConfigError(
            "a CycleGAN learns both directions at once: data.direction does not apply "
            "(gankit translate --direction picks one)"
        )
    if m.blocks < 1:
        raise ConfigError(f"model.blocks must be at least 1, got {m.blocks}")
    if m.upsample not in UPSAMPLERS:
        raise ConfigError(
            f"unknown model.upsample '{m.upsample}' (choose from: {', '.join(UPSAMPLERS)})"
        )
    for key, value in {
        "model.cycle": m.cycle,
        "model.identity": m.identity,
        "model.pool": m.pool,
        "optim.decay_start": o.decay_start,
        "optim.decay_steps": o.decay_steps,
    }.items():
        if value < 0:
            raise ConfigError(f"{key} cannot be negative, got {value}")
    if o.lr_decay != "none":
        raise ConfigError(
            "cyclegan does not take optim.lr_decay: its learning rate decays by "
            "optim.decay_start and optim.decay_steps"
        )
    check_translation_options(cfg)


def lr_scale(step: int, decay_start: int, decay_steps: int) -> float:
    """The learning rate's share of its base at `step`: 1 for `decay_start` steps, then down in
    equal parts to 0 after `decay_steps` more (no decay when `decay_steps` is 0)."""
    if decay_steps == 0:
        return 1.0
    return 1.0 - min(max(step - decay_start, 0), decay_steps) / decay_steps


class ImagePool(nn.Module):
    """The last generated images a D has seen (Shrivastava et al. 2017), so D keeps learning
    against older G outputs too: until full, each new image is stored and passed on; once full,
    each is passed on, or with probability 0.5 swapped for a stored image drawn at random, which
    it replaces. Buffers (the images and how many are stored) so a checkpoint holds them."""

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("stored", torch.zeros((), dtype=torch.long))

    def query(self, fakes: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The images D judges for this batch of `fakes` (detached); draws come from `rng`, the
        same number whether the pool is full or not, so the stream stays in step on resume."""
        fakes = fakes.detach()
        size = len(self.images)
        if size == 0:
            return fakes
        swap = (torch.rand(len(fakes), generator=rng) < 0.5).tolist()
        slots = torch.randint(size, (len(fakes),), generator=rng).tolist()
        out = fakes.clone()
        stored = int(self.stored)
        for i in range(len(fakes)):
            if stored < size:
                self.images[stored] = fakes[i]
                stored += 1
            elif swap[i]:
                out[i] = self.images[slots[i]]
                self.images[slots[i]] = fakes[i]
        self.stored.fill_(stored)
        return out


class ImagePools(nn.Module):
    """One history pool per D: `a` of generated A images (for D_A), `b` of generated B images."""

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.a = ImagePool(size, shape)
        self.b = ImagePool(size, shape)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).abs().mean()


def least_squares_g(fake_out: torch.Tensor) -> torch.Tensor:
    """G's least-squares loss as the paper's code has it: the squared error of D's scores of
    generated images to the real label 1."""
    return (fake_out - 1).pow(2).mean()


class CycleGANRecipe(TranslationRecipe):
    """G_AB and G_BA (one network, `G`), D_A and D_B (`D`), their history pools (`pool`)."""

    archs = ("resblocks",)
    #: the model options only the translation recipes read, this one's (config refuses the rest)
    model_options = ("patch", "blocks", "cycle", "identity", "upsample", "pool")
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_cyclegan_options(cfg)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        planes, height, width = sample_shape
        if planes % 2 or height != width or height % 4:
            raise ConfigError(
                "cyclegan reads square images of a side divisible by 4 from both domains, got "
                f"{sample_shape} (channels of A, then of B)"
            )
        m = cfg.model
        refuse_oversized_patch(height, m.patch)
        self.cfg, self.channels, self.num_classes = cfg, planes // 2, 0
        self.sampling_spec = NetSpec(
            "G",
            CycleGenerators,
            {
                "channels": self.channels,
                "width": m.width,
                "blocks": m.blocks,
                "upsample": m.upsample,
            },
            f"translations in [-1, 1] (tanh) of {height}x{height} images in [-1, 1]: `ab` A to "
            "B, `ba` B to A",
        )
        self.nets: dict[str, nn.Module] = {
            "G": self.sampling_spec.build(),
            "D": CycleDiscriminators(self.channels, m.width, m.patch),
            "pool": ImagePools(m.pool, (self.channels, height, width)),
        }
        o = cfg.optim
        self.base_lrs = {"G": o.lr_g, "D": o.lr_d}
        self.optimizers = {
            name: make_optimizer(self.nets[name].parameters(), lr, cfg, fused=True)
            for name, lr in self.base_lrs.items()
        }
        #: D's outputs are least-squares scores
        self.output_kind = "score"
        #: both directions, one generator each (`gankit translate --direction`)
        self.directions = ("AtoB", "BtoA")

    # ---- sampling ----------------------------------------------------------------------------
    def generate(self, latents, labels=None, nets=None):
        """For rows (a | b) of the data: G_AB(a), G_BA(G_AB(a)), G_BA(b), G_AB(G_BA(b)) along
        channels (the trainer's grid outputs)."""
        G = (nets or self.nets)["G"]
        c = self.channels
        fake_b, fake_a = G.ab(latents[:, :c]), G.ba(latents[:, c:])
        return torch.cat([fake_b, G.ba(fake_b), fake_a, G.ab(fake_a)], 1)

    def translate(
        self, x: torch.Tensor, direction: str, nets: dict[str, nn.Module] | None = None
    ) -> torch.Tensor:
        """Images of the input domain ([-1, 1]) translated in `direction`."""
        if direction not in self.directions:
            raise ConfigError(f"unknown direction '{direction}' (choose from: AtoB, BtoA)")
        G = (nets or self.nets)["G"]
        return G.ab(x) if direction == "AtoB" else G.ba(x)

    def grid_panels(self, pairs: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Each row: a | G_AB(a) | G_BA(G_AB(a)), then b | G_BA(b) | G_AB(G_BA(b))
        (input | output | cycle in both directions)."""
        c = self.channels
        pairs = pairs.to(outputs.device, outputs.dtype)
        a, b = pairs[:, :c], pairs[:, c:]
        o = outputs.split(c, 1)
        return torch.stack([a, o[0], o[1], b, o[2], o[3]], 1).flatten(0, 1), 6

    # ---- training ----------------------------------------------------------------------------
    def set_learning_rates(self, step: int) -> float:
        """Both optimizers at their base rate times `lr_scale` of this step; returns the scale."""
        o = self.cfg.optim
        scale = lr_scale(step, o.decay_start, o.decay_steps)
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lrs[name] * scale
        return scale

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """G's loss and its parts (adversarial, cycle, identity), and the two translations."""
        G, D, m = self.nets["G"], self.nets["D"], self.cfg.model
        fake_b, fake_a = G.ab(real_a), G.ba(real_b)
        adversarial = least_squares_g(D.b(fake_b)) + least_squares_g(D.a(fake_a))
        cycle = l1(G.ba(fake_b), real_a) + l1(G.ab(fake_a), real_b)
        parts = {"adversarial": adversarial, "cycle": cycle}
        loss = adversarial + m.cycle * cycle
        if m.identity > 0:
            parts["identity"] = l1(G.ab(real_b), real_b) + l1(G.ba(real_a), real_a)
            loss = loss + m.cycle * m.identity * parts["identity"]
        return {"loss_g": loss, **parts}, fake_a, fake_b

    def train_step(self, x, y, rng, want_stats, step=0):
        scale = self.set_learning_rates(step)
        if self.cfg.data.jitter:
            x = random_jitter(x, rng)
        real_a, real_b = x[:, : self.channels], x[:, self.channels :]
        G, D, pools = self.nets["G"], self.nets["D"], self.nets["pool"]
        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        g_losses, fake_a, fake_b = self.generator_losses(real_a, real_b)
        self.optimizers["G"].zero_grad(set_to_none=True)
        g_losses["loss_g"].backward()
        D.requires_grad_(True)
        stats = {k: v.detach() for k, v in g_losses.items()}
        if want_stats:
            stats["grad_norm_g"] = grad_norm(G)
        self.optimizers["G"].step()
        real_outs = (D.a(real_a), D.b(real_b))
        fake_outs = (D.a(pools.a.query(fake_a, rng)), D.b(pools.b.query(fake_b, rng)))
        loss_d = losses.d_loss_lsgan(real_outs[0], fake_outs[0]) + losses.d_loss_lsgan(
            real_outs[1], fake_outs[1]
        )
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        stats["loss_d"] = loss_d.detach()
        if want_stats:
            stats["grad_norm_d"] = grad_norm(D)
            stats["lr_scale"] = torch.tensor(scale)
            real = torch.cat([o.detach().flatten() for o in real_outs])
            fake = torch.cat([o.detach().flatten() for o in fake_outs])
            stats.update(output_stats(real, fake, self.output_kind))
        self.optimizers["D"].step()
        return stats
