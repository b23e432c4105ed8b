"""The GAN family recipe: G and D, their Adam optimizers, one step (n_critic D updates, one G
update) and sampling.

Every stabilizer of the classic papers is one option composed here, not a copy of this step: the
loss pair (`losses.G_LOSSES`/`D_LOSSES`), a penalty on D (WGAN-GP, lazy R1) or weight clipping,
spectral norm and the architecture (`nets/`), PacGAN packing, DiffAugment or adaptive augmentation
(ADA) of D's inputs, class conditioning, n_critic and two learning rates (TTUR: `optim.lr_g` !=
`optim.lr_d`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import losses
from ..ada import ada_augment
from ..augment import diff_augment, parse_policy
from ..config import LossConfig
from ..errors import ConfigError
from ..nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
    StyleDiscriminator,
    StyleGenerator,
    apply_spectral_norm,
)
from ..shard import ShardedRecipe, rank_draw, seeded_global_rng
from .base import NetSpec, make_optimizer
from .stylegan import StyleTraining, check_style_options, generator_kwargs

if TYPE_CHECKING:
    from ..config import Config

PRESETS: dict[str, dict[str, Any]] = {
    # The seed paper's MLP GAN exactly: G 100-256-512-784 (ReLU, Tanh), D 784-512-256-1
    # (LeakyReLU 0.2, sigmoid folded into BCE), Adam 2e-4, batch 64.
    "seed-mlp": {
        "model": {"arch": "mlp", "z_dim": 100, "hidden": [256, 512]},
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.9, "beta2": 0.999},
        "train": {"ema": None},
    },
    # DCGAN (Radford et al. 2015) architecture and its batch norm in G and D, with width 32 (more
    # steps in the same CPU time than 64) and EMA of G: against the plain PyTorch DCGAN loop at
    # equal CPU time, a lower FID in both feature spaces on MNIST and Fashion-MNIST
    # (docs/results/image_quality.md; D without batch norm kept MNIST's rarest class commoner but
    # lost Fashion-MNIST's variety, docs/results/mnist_dcgan.md).
    "dcgan": {
        "model": {"arch": "dcgan", "z_dim": 100, "width": 32, "d_norm": "batch"},
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "train": {"ema": 0.999, "ema_start": 200},
    },
    # The paper presets below each change what their paper changed, on the dcgan preset's networks
    # (or the ResNet of SNGAN/SAGAN) so their rows in docs/results/mnist_presets.md compare like
    # with like.
    # Goodfellow et al. 2014 as the common PyTorch ports write it: MLP G 128-256-512-1024 with batch
    # norm, D 512-256, non-saturating loss, Adam 2e-4 / 0.5. Without G's batch norm, and with D as
    # wide as G (1024-512-256), D wins outright and G collapses to one pattern, with or without
    # dropout in D (docs/results/mnist_presets.md).
    "gan": {
        "model": {
            "arch": "mlp",
            "z_dim": 100,
            "hidden": [128, 256, 512, 1024],
            "d_hidden": [512, 256],
            "g_norm": "batch",
        },
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        "train": {"ema": None},
    },
    # Mirza & Osindero 2014: G and D both read the label (one-hot next to z; a label map next to
    # the image), on the dcgan networks.
    "cgan": {"base": "dcgan", "model": {"conditional": True}},
    # Mao et al. 2017: least-squares loss (a=0, b=1, c=1), Adam 2e-4 / 0.5.
    "lsgan": {"base": "dcgan", "loss": {"kind": "lsgan"}},
    # Arjovsky et al. 2017: Wasserstein critic with weights clipped to 0.01, 5 critic steps per G
    # step, RMSprop 5e-5; the DCGAN critic keeps its batch norm, as in the paper.
    "wgan": {
        "base": "dcgan",
        "model": {"d_norm": "batch"},
        "loss": {"kind": "wasserstein", "clip": 0.01},
        "optim": {"name": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5},
    },
    # Gulrajani et al. 2017, Algorithm 1: gradient penalty 10, no batch norm in the critic, 5 critic
    # steps, Adam 1e-4 with betas (0, 0.9).
    "wgan-gp": {
        "base": "dcgan",
        "model": {"d_norm": "none"},
        "loss": {"kind": "wasserstein", "gp": 10.0},
        "optim": {"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    },
    # Miyato et al. 2018: spectral norm on every D layer, hinge loss, their setting C for the
    # standard CNN (Adam 2e-4, betas 0.5 / 0.999, one D step). D keeps the dcgan preset's batch
    # norm after its spectrally normalised convolutions (the paper has none): without batch
    # statistics D let G drop part of Fashion-MNIST's and CIFAR-10's variety, and the plain DCGAN
    # loop won (docs/results/image_quality.md); the paper's D is model.d_norm=none.
    "sngan": {
        "base": "dcgan",
        "model": {"d_spectral_norm": True, "d_norm": "batch"},
        "loss": {"kind": "hinge"},
    },
    # The SNGAN/SAGAN ResNet with the hinge loss and spectral norm in D, Adam betas (0, 0.9).
    # Sized for a CPU budget: one D step per G step (SNGAN's ResNet used 5), width 16 (a fifth of
    # width 32's step time), learning rates 4e-4 (SNGAN's 2e-4 was behind the plain DCGAN loop
    # after 5 CPU minutes on MNIST) and batch 32 (twice the steps of batch 64 in a CPU budget:
    # batch 64 lost to the loop on Fashion-MNIST at 5 CPU minutes; docs/results/image_quality.md);
    # a GPU's budget affords model.width=64 and optim.batch_size=64 or more.
    "hinge-resnet": {
        "base": "dcgan",
        "model": {"arch": "resnet", "width": 16, "d_spectral_norm": True},
        "loss": {"kind": "hinge"},
        "optim": {"batch_size": 32, "lr_g": 4e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9},
    },
    # Zhang et al. 2019: the ResNet with self-attention at half the image size (14x14 of 28x28,
    # 16x16 of 32x32), spectral norm in G and D, hinge loss and TTUR (lr_d 4e-4 > lr_g 1e-4),
    # betas (0, 0.9); width 32 and batch 64, as its rows in docs/results/mnist_presets.md were
    # measured.
    "sagan": {
        "base": "hinge-resnet",
        "model": {"width": 32, "attention_res": "half", "g_spectral_norm": True},
        "optim": {"batch_size": 64, "lr_g": 1e-4, "lr_d": 4e-4},
    },
    # StyleGAN2 (Karras et al. 2020) at CPU size: mapping network, modulated convolutions with
    # demodulation, noise, style mixing 0.9, lazy R1 every 16 steps, EMA of G, the ResNet D with
    # minibatch stddev, Adam 2e-3 betas (0, 0.99). Sized as stylegan2-ada's configs for small
    # images: its "auto" config at 32 px on one GPU (a mapping network of 2 layers, batch 32,
    # minibatch-stddev group 4) with its "cifar" config's R1 gamma 0.01 and no path length
    # regularisation; width 16 at the image size, at most 128 channels (32 px: 16, 32, 64, 128),
    # a third of the step time of width 32 on a CPU.
    "stylegan": {
        "model": {
            "arch": "stylegan",
            "z_dim": 128,
            "width": 16,
            "minibatch_std": 4,
            "mapping_layers": 2,
            "channel_max": 128,
        },
        "loss": {"kind": "non-saturating", "r1": 0.01, "r1_every": 16},
        "optim": {"batch_size": 32, "lr_g": 2e-3, "lr_d": 2e-3, "beta1": 0.0, "beta2": 0.99},
        "train": {"ema": 0.999, "ema_start": 200},
    },
    # Karras et al. 2018 at CPU size: WGAN-GP (gradient penalty 10) with the drift term 0.001,
    # Adam 1e-3 with betas (0, 0.99), minibatch stddev in groups of 4. Sized for a CPU: EMA of G
    # 0.99 (the paper's 0.999 lags phases this short), at most 32 channels, min(256 / side, 32)
    # at each side (the paper's min(16384 / side, 512): model.width=512 model.fmap_base=16384),
    # 4,000 images a fade-in and a stabilisation (the paper's 800,000), batches of 32 up to 8 px,
    # then 16 (the paper's 16, then 14, 6, 3 from 256 px), latents of 128 (the paper's 512);
    # docs/progan.md lists the paper's values as overrides.
    "progan": {
        "model": {"arch": "progan", "z_dim": 128, "width": 32, "minibatch_std": 4},
        "loss": {"kind": "wasserstein", "gp": 10.0, "drift": 0.001},
        "optim": {
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "beta1": 0.0,
            "beta2": 0.99,
            "batch_size": 16,
            "batch_sizes": [32, 32],
        },
        "train": {"ema": 0.99},
    },
    # The same networks and schedule with the non-saturating loss and R1 (gamma 10) in place of
    # WGAN-GP and its drift term.
    "progan-r1": {
        "base": "progan",
        "loss": {"kind": "non-saturating", "gp": 0.0, "drift": 0.0, "r1": 10.0},
    },
    # PacGAN's 2D mixtures setup (Lin et al. 2018, its ALI-derived code): G an MLP of 4 x 400 ReLU
    # units with batch norm from z in R^2, D 3 layers of 200 maxout units of 5 pieces, Adam 1e-4
    # with beta1 0.8, batch 100, 100,000 training points. Packing is model.pack (PacGAN2-4: batch
    # 100 packs, optim.batch_size=100*k). The paper trains 400 epochs (400,000 steps).
    "pacgan-2d": {
        "model": {
            "arch": "mlp",
            "z_dim": 2,
            "hidden": [400, 400, 400, 400],
            "g_norm": "batch",
            "d_hidden": [200, 200, 200],
            "d_maxout": 5,
        },
        "loss": {"kind": "non-saturating"},
        "optim": {"batch_size": 100, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8, "beta2": 0.999},
        "train": {"ema": None},
        "data": {"toy_samples": 100_000},
    },
    # For every mode of a 2D mixture on a CPU budget: PacGAN's networks, G without batch norm (with
    # it, G's folds between the modes, where off-mode samples lie, stay wide), the relativistic
    # pairing loss with zero-centred penalties on real and generated points (R3GAN's RpGAN + R1 +
    # R2) at gamma 0.1, R3GAN's Adam (betas 0 and 0.99) at 2e-4, EMA of G and a linear decay of
    # both learning rates to 0 over its 20,000 steps (docs/results/mode_coverage.md measures each
    # change).
    "modes-2d": {
        "base": "pacgan-2d",
        "model": {"g_norm": "none"},
        "loss": {"kind": "rpgan", "r1": 0.1, "r2": 0.1},
        "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.99, "lr_decay": "linear"},
        "train": {"ema": 0.999, "steps": 20_000},
    },
    # For every Stacked MNIST mode on a CPU budget: the dcgan preset twice as wide (G 128/64
    # channels, D 64/128), G's learning rate twice D's (4e-4 against 2e-4), the papers' 128,000
    # training images, 32,000 steps (docs/results/mode_coverage.md measures each change).
    "modes-dcgan": {
        "base": "dcgan",
        "model": {"width": 64},
        "optim": {"lr_g": 4e-4},
        "train": {"steps": 32_000},
        "data": {"stacked_samples": 128_000},
    },
}


def penalty_share(final: float, step: int, steps: int | None) -> float:
    """The share of loss.r1 and loss.r2 that applies at `step`: a cosine from 1 at the first step
    to `final` at the last, as R3GAN schedules its gamma (strong penalties while G spreads over
    the modes, weak ones while it sharpens them); 1 when `final` is 1."""
    if final == 1 or not steps:
        return 1.0
    done = min(step / steps, 1.0)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * done))


def check_gan_options(cfg: Config) -> None:
    """The rules of a GAN's loss, penalties and D (the table GAN's too)."""
    m, loss = cfg.model, cfg.loss
    if loss.kind not in losses.KINDS:
        raise ConfigError(f"unknown loss '{loss.kind}' (choose from: {', '.join(losses.KINDS)})")
    if loss.gp < 0 or loss.r1 < 0 or loss.r2 < 0:
        raise ConfigError("loss.gp, loss.r1 and loss.r2 are penalty weights and cannot be negative")
    if loss.r1_every < 1 or cfg.optim.n_critic < 1:
        raise ConfigError("loss.r1_every and optim.n_critic must be at least 1")
    if not 0 < loss.penalty_final <= 1:
        raise ConfigError(
            f"loss.penalty_final is the share of loss.r1 and loss.r2 left at the last step: a "
            f"number in (0, 1] (1: constant), got {loss.penalty_final}"
        )
    if loss.penalty_final != 1 and not (loss.r1 or loss.r2):
        raise ConfigError("loss.penalty_final schedules loss.r1 and loss.r2: set one of them")
    if loss.penalty_final != 1 and cfg.train.steps is None:
        raise ConfigError("loss.penalty_final needs a step budget (--steps), not --minutes")
    if loss.clip is not None and loss.clip <= 0:
        raise ConfigError("loss.clip must be positive, or null to disable weight clipping")
    # StyleGAN2 takes R1, ProGAN the gradient penalty, through their minibatch stddev, as the
    # papers do (its groups' mixing is small)
    batch_statistics = (m.minibatch_std and m.arch not in ("stylegan", "progan")) or (
        m.arch == "dcgan" and m.d_norm == "batch"
    )
    if (loss.gp or loss.r1 or loss.r2) and batch_statistics:
        raise ConfigError(
            "loss.gp, loss.r1 and loss.r2 need per-sample gradients of D: use model.d_norm=none "
            "and model.minibatch_std=0 (batch statistics mix the samples)"
        )
    if m.minibatch_std and m.arch == "mlp":
        raise ConfigError("model.minibatch_std needs a convolutional D (dcgan, resnet)")
    if m.pack > 1 and m.conditional:
        raise ConfigError(
            "model.pack and model.conditional cannot be combined (a packed D input has several "
            "labels)"
        )
    if m.g_norm not in ("none", "batch"):
        raise ConfigError(f"unknown model.g_norm '{m.g_norm}' (choose from: none, batch)")
    if m.d_hidden is not None and any(h < 1 for h in m.d_hidden):
        raise ConfigError("model.d_hidden sizes must be at least 1")
    if not 0.0 <= m.d_dropout < 1.0:
        raise ConfigError("model.d_dropout must be in [0, 1)")
    if m.d_width is not None and (m.arch != "dcgan" or m.d_width < 1):
        raise ConfigError("model.d_width needs model.arch=dcgan and at least 1 channel")
    if m.d_maxout and (m.arch != "mlp" or m.d_maxout < 2):
        raise ConfigError("model.d_maxout needs model.arch=mlp and at least 2 pieces (0: off)")
    if m.projection and (m.arch != "dcgan" or not m.conditional):
        raise ConfigError(
            "model.projection needs model.arch=dcgan and model.conditional=true "
            "(the resnet D is always a projection D)"
        )
    if isinstance(m.attention_res, str) and m.attention_res != "half":
        raise ConfigError(
            f"model.attention_res is a resolution in pixels or 'half', not '{m.attention_res}'"
        )
    if m.attention_res is not None and m.arch != "resnet":
        raise ConfigError("model.attention_res needs model.arch=resnet")
    parse_policy(loss.diffaugment)
    check_style_options(cfg)
    if m.arch == "progan":
        from .progan import check_progan_options  # it builds on this module

        check_progan_options(cfg)
    check_ada_options(loss)
    if loss.ada and cfg.data.source == "table":
        raise ConfigError("loss.ada augments images: a table has none")
    if loss.ada and cfg.train.compile == "step":
        raise ConfigError(
            "loss.ada changes p between steps, for which a compiled step would compile again: "
            "use train.compile=nets"
        )


def check_ada_options(loss: LossConfig) -> None:
    """ADA's rules: a target D's real outputs can reach, a positive speed and interval, and one
    augmentation of D's inputs at a time."""
    if not isinstance(loss.ada, bool):
        raise ConfigError(f"loss.ada must be true or false, got {loss.ada!r}")
    if not 0.0 < loss.ada_target < 1.0:
        raise ConfigError(f"loss.ada_target must be in (0, 1) (paper: 0.6), got {loss.ada_target}")
    if loss.ada_interval < 1:
        raise ConfigError(f"loss.ada_interval must be at least 1, got {loss.ada_interval}")
    if loss.ada_kimg <= 0:
        raise ConfigError(f"loss.ada_kimg must be positive, got {loss.ada_kimg}")
    if loss.ada and loss.diffaugment:
        raise ConfigError(
            "loss.ada and loss.diffaugment both augment D's inputs: choose one "
            "(loss.diffaugment= turns DiffAugment off)"
        )
    if loss.ada and losses.OUTPUT_KIND[loss.kind] == "critic":
        raise ConfigError(
            f"loss.ada steers p by the sign of D's outputs, which a {loss.kind} critic does not "
            "give (its offset drifts freely): use loss.diffaugment"
        )


#: where D's output on a real image counts as "real", on each output scale (`losses.OUTPUT_KIND`):
#: a logit's or margin's sign, an LSGAN score's side of 0.5; a critic has no such point
REAL_SIDE = {"logit": 0.0, "relative-logit": 0.0, "margin": 0.0, "score": 0.5}


def real_signs(real_out: torch.Tensor, fake_out: torch.Tensor | None, kind: str) -> torch.Tensor:
    """sign(D(x)) of each real image, measured from the point that separates real from fake on
    D's scale (RaGAN's outputs relative to the fakes' mean, its offset being free): the figure
    r_t = E[sign(D(x_real))] of ADA and of the overfitting check is their mean."""
    if kind == "relative-logit" and fake_out is not None:
        real_out = real_out - fake_out.mean()
    return (real_out.detach().float().flatten() - REAL_SIDE[kind]).sign()


def sign_sums(signs: torch.Tensor) -> torch.Tensor:
    """[sum of the signs, how many], made on their device (no copy from the host, so no wait)."""
    return torch.stack([signs.sum(), signs.new_full((), float(len(signs)))])


class AdaptiveP:
    """ADA's probability p: every `interval` steps, r_t over the real images D judged since the
    last adjustment moves p up by (images / (kimg * 1000)) when r_t is above the target and down
    when below, within [0, 1]. The running sums stay on the device (read once an adjustment);
    p is a float, saved and restored exactly with the checkpoint."""

    def __init__(self, target: float, interval: int, kimg: float):
        self.target, self.interval, self.kimg = target, interval, kimg
        self.p = 0.0
        self.signs = torch.zeros(2)  # sum of sign(D(x_real)), count of real images

    def observe(self, signs: torch.Tensor) -> None:
        if self.signs.device != signs.device:
            self.signs = self.signs.to(signs.device)
        self.signs += sign_sums(signs)

    def after_step(self, step: int, ranks: int = 1) -> None:
        """Adjust p after step `step` when an interval ends (under torchrun the ranks' sums are
        added first, so every rank moves p alike)."""
        if (step + 1) % self.interval:
            return
        if ranks > 1:
            torch.distributed.all_reduce(self.signs)
        total, count = (float(v) for v in self.signs.cpu())
        self.signs.zero_()
        if count:
            direction = math.copysign(1.0, total / count - self.target)
            self.p = min(max(self.p + direction * count / (self.kimg * 1000.0), 0.0), 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "signs": self.signs.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self.signs = state["signs"].to(self.signs.device, torch.float32).clone()


def pack(x: torch.Tensor, k: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): k consecutive samples become one D input, concatenated along
    channels (images) or features (points), so D sees k samples jointly and can punish a batch
    that lacks variety."""
    return x if k == 1 else x.reshape(len(x) // k, k * x.shape[1], *x.shape[2:])


def generator_spec(cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0) -> NetSpec:
    """G's class and constructor arguments (spectral norm, `model.g_spectral_norm`, is applied
    after building)."""
    m = cfg.model
    classes = num_classes if m.conditional else 0
    given = ", given class labels y" if classes else ""
    outputs = f"samples in [-1, 1] (images: tanh) of latents z ~ N(0, I){given}"
    if m.arch == "mlp":
        kwargs = {
            "z_dim": m.z_dim,
            "hidden": list(m.hidden),
            "out_shape": list(sample_shape),
            "tanh": len(sample_shape) == 3,
            "num_classes": classes,
            "batch_norm": m.g_norm == "batch",
        }
        if len(sample_shape) != 3:
            outputs = f"2D points of latents z ~ N(0, I){given}"
        return NetSpec("G", MLPGenerator, kwargs, outputs)
    if m.arch == "stylegan":
        outputs = (
            "images (linear, clamped to [-1, 1] when sampled) of latents z ~ N(0, I) through "
            "w = mapping(z), truncated towards the tracked w_avg when asked"
        )
        return NetSpec(
            "G", StyleGenerator, generator_kwargs(cfg, sample_shape), outputs, unused=("pl_mean",)
        )
    if m.arch == "progan":
        from .progan import progan_generator_spec  # it builds on this module

        return progan_generator_spec(cfg, sample_shape)
    if m.arch not in ("dcgan", "resnet"):
        raise ConfigError(f"unknown architecture '{m.arch}'")
    if len(sample_shape) != 3:
        raise ConfigError(
            f"{m.arch} needs image data; use an mlp preset (seed-mlp, gan) for toy2d points"
        )
    channels, height, width = sample_shape
    if height != width:
        raise ConfigError(f"{m.arch} needs square images, got {height}x{width}")
    kwargs = {
        "z_dim": m.z_dim,
        "width": m.width,
        "resolution": height,
        "channels": channels,
        "num_classes": classes,
    }
    if m.arch == "dcgan":
        return NetSpec("G", DCGANGenerator, kwargs, outputs)
    kwargs["attention_res"] = _attention(m, height)
    return NetSpec("G", ResNetGenerator, kwargs, outputs)


def build_nets(
    cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0
) -> dict[str, nn.Module]:
    m = cfg.model
    classes = num_classes if m.conditional else 0
    d_shape = (m.pack * sample_shape[0], *sample_shape[1:])  # D's input once packed
    if m.arch == "progan":
        from .progan import progan_nets  # it builds on this module

        return progan_nets(cfg, sample_shape)
    nets = {"G": generator_spec(cfg, sample_shape, num_classes).build()}  # G first, then D
    if m.arch == "mlp":
        d_hidden = m.hidden[::-1] if m.d_hidden is None else m.d_hidden
        nets["D"] = MLPDiscriminator(
            d_shape, d_hidden, num_classes=classes, dropout=m.d_dropout, maxout=m.d_maxout
        )
    elif m.arch == "dcgan":
        nets["D"] = DCGANDiscriminator(
            m.width if m.d_width is None else m.d_width,
            sample_shape[1],
            d_shape[0],
            m.minibatch_std,
            m.d_norm,
            num_classes=classes,
            projection=m.projection,
        )
    elif m.arch == "stylegan":
        nets["D"] = StyleDiscriminator(
            m.width, sample_shape[1], d_shape[0], m.minibatch_std, m.channel_max
        )
    else:
        nets["D"] = ResNetDiscriminator(
            m.width,
            sample_shape[1],
            d_shape[0],
            classes,
            _attention(m, sample_shape[1]),
            spectral_norm=m.d_spectral_norm,
            minibatch_std=m.minibatch_std,
        )
    if m.d_spectral_norm:
        apply_spectral_norm(nets["D"])  # a no-op on layers already wrapped (resnet)
    if m.g_spectral_norm:
        apply_spectral_norm(nets["G"])
    return nets


def _attention(m: Any, height: int) -> int | None:
    """The resolution of the self-attention block (`model.attention_res`; "half": half the side)."""
    return height // 2 if m.attention_res == "half" else m.attention_res


def grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class GANRecipe(ShardedRecipe):
    """Under torchrun (`shard`) each rank takes its slice of every global draw: latents,
    DiffAugment, the GP's points, D's dropout masks."""

    # what the registry (gankit.recipes.RECIPES) and gankit.config read
    archs = ("mlp", "dcgan", "resnet", "stylegan", "progan")
    trains_on = "images"
    options: dict[str, type] = {"loss": LossConfig}
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_gan_options(cfg)

    ema_nets = ("G",)

    def __new__(cls, cfg: Config | None = None, *args: Any, **kwargs: Any):
        """Progressive growing (model.arch=progan) steps through its stages: its own step on this
        recipe's updates (`recipes/progan.py`). A copy (`copy.deepcopy`) comes without a cfg."""
        if cls is GANRecipe and cfg is not None and cfg.model.arch == "progan":
            from .progan import ProGANRecipe

            cls = ProGANRecipe
        return super().__new__(cls)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        if cfg.model.conditional and num_classes < 2:
            raise ConfigError(
                "model.conditional needs a data set with class labels (digits, mnist, toy2d)"
            )
        if cfg.loss.diffaugment and len(sample_shape) != 3:
            raise ConfigError("loss.diffaugment needs image data; toy2d points cannot be augmented")
        if cfg.loss.ada and (len(sample_shape) != 3 or sample_shape[0] not in (1, 3)):
            raise ConfigError(
                "loss.ada needs images of 1 or 3 channels; toy2d points cannot be augmented"
            )
        self.cfg = cfg
        self.z_dim = cfg.model.z_dim
        self.num_classes = num_classes if cfg.model.conditional else 0
        self.nets = build_nets(cfg, sample_shape, num_classes)
        self.sampling_spec = generator_spec(cfg, sample_shape, num_classes)
        #: the style-based G's mixing, noise and path length (model.arch=stylegan)
        self.style = StyleTraining(cfg) if cfg.model.arch == "stylegan" else None
        if self.style is not None:
            self.style.attach(self.nets["G"])
        o = cfg.optim
        self.optimizers = {
            "G": make_optimizer(self.nets["G"].parameters(), o.lr_g, cfg, fused=True),
            "D": make_optimizer(self.nets["D"].parameters(), o.lr_d, cfg, fused=True),
        }
        self.d_loss = losses.D_LOSSES[cfg.loss.kind]
        self.g_loss = losses.G_LOSSES[cfg.loss.kind]
        self.output_kind = losses.OUTPUT_KIND[cfg.loss.kind]
        lc = cfg.loss
        #: ADA's p and its controller (loss.ada), None without ADA
        self.ada = AdaptiveP(lc.ada_target, lc.ada_interval, lc.ada_kimg) if lc.ada else None
        #: sum and count of sign(D(x_real)) since the last log step: r_t of the health line
        self._logged_signs = torch.zeros(2)
        #: real batches one step consumes: one for each D update
        self.batches_per_step = o.n_critic
        #: set by the trainer for train.amp=fp16: losses scaled before backward, steps unscaled
        self.grad_scaler: torch.amp.GradScaler | None = None
        m = cfg.model
        #: D judges real and fake batches in one call (larger matrix products, one pass) when its
        #: output for a sample depends on that sample alone and on nothing a call changes: no batch
        #: statistics (batch norm, minibatch stddev), no dropout or spectral-norm power iteration
        #: (per call), so the losses are those of two calls
        self.joint_d = (
            not (m.arch == "dcgan" and m.d_norm == "batch")
            and not m.minibatch_std
            and not m.d_dropout
            and not m.d_spectral_norm
        )

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=rng)

    def _train_latents(self, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        """This rank's `n` latents: all ranks draw the global batch's from the same stream and each
        keeps its slice, so K ranks train on the latents one process of K x the batch would."""
        z = rank_draw(self.shard, n, lambda m: self.latents(m, rng))
        return z.to(device, non_blocking=True)  # drawn on the CPU: the same numbers on every device

    def _backward(self, loss: torch.Tensor) -> None:
        (loss if self.grad_scaler is None else self.grad_scaler.scale(loss)).backward()

    def _optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        if self.grad_scaler is None:
            opt.step()
        else:
            self.grad_scaler.step(opt)  # unscales, skips the step on inf/NaN gradients

    def _grad_norm(self, module: nn.Module) -> torch.Tensor:
        norm = grad_norm(module)
        return norm if self.grad_scaler is None else norm / self.grad_scaler.get_scale()

    def labels(self, n: int) -> torch.Tensor | None:
        """Balanced labels 0, 1, ..., C-1, 0, ... for a conditional model sampled without labels."""
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def generate(self, latents, labels=None, nets=None, truncation: float = 1.0):
        """Samples of `latents`; `truncation` (psi) moves a style-based G's w towards its average
        (1: none)."""
        G = (nets or self.nets)["G"]
        if self.style is not None:
            return G(latents, truncation=truncation).clamp(-1, 1)
        if truncation != 1:
            raise ConfigError(no_w_space(self.cfg))
        if not self.num_classes:
            return G(latents)
        labels = self.labels(len(latents)) if labels is None else labels
        return G(latents, labels.to(latents.device))

    def augment(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """D's input as D sees it in the adversarial terms: through DiffAugment's fixed policy or
        ADA's pipeline at the current p, or as it is."""
        if self.cfg.loss.diffaugment:
            return diff_augment(x, self.cfg.loss.diffaugment, rng, self.shard)
        if self.ada is not None:
            return ada_augment(x, self.ada.p, rng, self.shard)
        return x

    def discriminate(
        self, x: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator | None = None
    ):
        """D's outputs on x: augmented first (when `rng` is given: the adversarial terms, not the
        penalties), then packing."""
        if rng is not None:
            x = self.augment(x, rng)
        return self.nets["D"](
            pack(x, self.cfg.model.pack), y
        )  # y is None for an unconditional model

    def train_step(self, x, y, rng, want_stats, step=0):
        if (
            self.cfg.model.d_dropout
        ):  # RankDropout draws from the global RNG: seed it from the saved stream
            seed = int(torch.randint(2**62, (1,), generator=rng))
            with seeded_global_rng(seed, x.device):
                return self._step(x, y, rng, want_stats, step)
        return self._step(x, y, rng, want_stats, step)

    def _step(self, x, y, rng, want_stats, step):
        y = y if self.num_classes else None
        xs = x.chunk(self.batches_per_step)
        ys = y.chunk(self.batches_per_step) if y is not None else [None] * len(xs)
        for i, (x_i, y_i) in enumerate(zip(xs, ys, strict=True)):
            last = i == len(xs) - 1
            # G's step reuses the last critic step's fakes (one G forward saved; WGAN's Algorithm 1
            # draws fresh z, the same in distribution); earlier critic steps need no graph through G
            with torch.set_grad_enabled(last):
                fake = self._training_fakes(self._train_latents(len(x_i), rng, x.device), y_i, rng)
            stats = self._d_step(x_i, y_i, fake.detach(), rng, step, want_stats and last)
        stats.update(self._g_step(xs[-1], ys[-1], fake, rng, want_stats, step))
        if self.ada is not None:
            self.ada.after_step(step, self.shard[1])
        if want_stats:
            stats.update(self._signs_stats())
        return stats

    def _training_fakes(self, z: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator):
        """G's samples of a training step: a style-based G's with mixed styles and fresh noise."""
        if self.style is None:
            return self.generate(z, y)
        return self.style.fakes(self.nets["G"], z, rng, self.shard)[0]

    def _record_signs(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> None:
        """Add a D step's sign(D(x_real)) to r_t's sums: the health line's (since the last log
        step) and ADA's (since its last adjustment). A critic's outputs have no sign to read."""
        if self.output_kind == "critic":
            return
        signs = real_signs(real_out, fake_out, self.output_kind)
        if self._logged_signs.device != signs.device:
            self._logged_signs = self._logged_signs.to(signs.device)
        self._logged_signs += sign_sums(signs)
        if self.ada is not None:
            self.ada.observe(signs)

    def _signs_stats(self) -> dict[str, torch.Tensor]:
        """r_t since the last log step (`rt`) and ADA's p (`ada_p`), for the log line."""
        stats = {}
        if self.output_kind != "critic":
            total, count = self._logged_signs.unbind()
            stats["rt"] = total / count.clamp(min=1.0)
            self._logged_signs = torch.zeros_like(self._logged_signs)
        if self.ada is not None:
            stats["ada_p"] = torch.tensor(self.ada.p)
        return stats

    def extra_state(self) -> dict[str, Any]:
        """What the checkpoint keeps of the recipe beyond nets and optimizers: r_t's running sums
        and ADA's p, so a resumed run adapts and logs exactly as an uninterrupted one."""
        state: dict[str, Any] = {"logged_signs": self._logged_signs.detach().cpu().clone()}
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore `extra_state`; a checkpoint written without it (an earlier version, no ADA)
        leaves the sums at zero."""
        if "logged_signs" in state:
            self._logged_signs = state["logged_signs"].to(torch.float32).clone()
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])

    @torch.no_grad()
    def real_sign_mean(self, x: torch.Tensor, y: torch.Tensor | None, chunk: int) -> float:
        """E[sign(D(x))] on real images, un-augmented, in chunks of a training batch with D as it
        trains (batch statistics included), leaving D's buffers and the global random state as
        they were: D's view of training images against held-out ones (the overfitting check)."""
        kind = self.output_kind
        if kind in ("critic", "relative-logit"):
            raise ValueError(f"{kind} outputs have no fixed side for real images")
        D = self.nets["D"]
        saved = {name: b.clone() for name, b in D.named_buffers()}
        devices = [x.device] if x.device.type == "cuda" else []
        total, count = 0.0, 0
        with torch.random.fork_rng(devices=devices):
            for start in range(0, len(x) - chunk + 1, chunk):
                part_y = None if y is None or not self.num_classes else y[start : start + chunk]
                signs = real_signs(self.discriminate(x[start : start + chunk], part_y), None, kind)
                total, count = total + float(signs.sum()), count + len(signs)
        for name, b in D.named_buffers():
            b.copy_(saved[name])
        return total / count

    def discriminate_both(
        self, x: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None, rng: torch.Generator
    ):
        """D's outputs on a real and a fake batch: one call on both when `joint_d` (augmented each
        in turn as two calls would, so the random draws are the same), else two calls."""
        if not self.joint_d:
            return self.discriminate(x, y, rng), self.discriminate(fake, y, rng)
        x, fake = self.augment(x, rng), self.augment(fake, rng)
        k = self.cfg.model.pack
        out = self.nets["D"](
            torch.cat([pack(x, k), pack(fake, k)]), None if y is None else torch.cat([y, y])
        )
        return out[: len(out) // 2], out[len(out) // 2 :]

    def _d_step(self, x, y, fake, rng, step, want_stats) -> dict[str, torch.Tensor]:
        D, opt_d, loss_cfg = self.nets["D"], self.optimizers["D"], self.cfg.loss
        real_out, fake_out = self.discriminate_both(x, fake, y, rng)
        self._record_signs(real_out, fake_out)
        loss_d = self.d_loss(real_out, fake_out)
        stats = {"loss_d": loss_d.detach()}
        # penalties act on D's own inputs: packed, un-augmented (a packed input's gradient is one)
        k = self.cfg.model.pack
        d_fn = lambda v: D(v, y)  # noqa: E731
        if loss_cfg.gp:
            gp = losses.gradient_penalty(d_fn, pack(x, k), pack(fake, k), rng, shard=self.shard)
            loss_d = loss_d + loss_cfg.gp * gp
            stats["gp"] = gp.detach()
        lazy = loss_cfg.r1_every  # lazy: k times the weight every k-th step
        weight = lazy * penalty_share(loss_cfg.penalty_final, step, self.cfg.train.steps)
        if loss_cfg.r1 and step % lazy == 0:
            r1 = losses.r1_penalty(d_fn, pack(x, k))
            loss_d = loss_d + 0.5 * loss_cfg.r1 * weight * r1
            stats["r1"] = r1.detach()
        if loss_cfg.r2 and step % lazy == 0:
            r2 = losses.r1_penalty(d_fn, pack(fake, k))
            loss_d = loss_d + 0.5 * loss_cfg.r2 * weight * r2
            stats["r2"] = r2.detach()
        opt_d.zero_grad(set_to_none=True)
        self._backward(loss_d)
        if want_stats:
            stats["grad_norm_d"] = self._grad_norm(D)
            stats.update(output_stats(real_out.detach(), fake_out.detach(), self.output_kind))
        self._optimizer_step(opt_d)
        if loss_cfg.clip is not None:
            losses.clip_weights_(D, loss_cfg.clip)
        return stats

    def _g_step(self, x, y, fake, rng, want_stats, step=0) -> dict[str, torch.Tensor]:
        G, D, opt_g = self.nets["G"], self.nets["D"], self.optimizers["G"]
        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        real_out = (
            self.discriminate(x, y, rng) if self.cfg.loss.kind in losses.G_NEEDS_REAL else None
        )
        loss_g = self.g_loss(self.discriminate(fake, y, rng), real_out)
        stats = {"loss_g": loss_g.detach()}
        if self.style is not None and self.style.path_length_due(step):
            penalty, stats["path_length"] = self.style.path_length_penalty(
                G, len(fake), rng, self.shard, fake.device
            )
            loss_g = loss_g + penalty
        opt_g.zero_grad(set_to_none=True)
        self._backward(loss_g)
        D.requires_grad_(True)
        if want_stats:
            stats["grad_norm_g"] = self._grad_norm(G)
            stats["_samples"] = fake.detach()  # the trainer measures their diversity
        self._optimizer_step(opt_g)
        return stats


def no_w_space(cfg: Config) -> str:
    """The refusal of a style option (truncation, mixing) for a model without a w space."""
    return (
        f"a {cfg.preset} model ({cfg.recipe}, model.arch={cfg.model.arch}) has no w space: "
        "truncation, style mixing and walks in w need a style-based generator (--preset stylegan)"
    )


def output_stats(real: torch.Tensor, fake: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """D's view of a batch, on the scale its loss gives D's outputs (`losses.OUTPUT_KIND`):
    logits as probabilities; RaGAN's as the relativistic probabilities sigmoid(C(x) - E C(G(z)))
    and sigmoid(C(G(z)) - E C(x)), since its losses ignore D's offset; LSGAN scores (targets 1/0)
    and hinge margins (+1/-1) as they are, with D's accuracy by the midpoint of the targets; a
    Wasserstein critic's gap E[D(x)] - E[D(G(z))], the estimate of the W1 distance (no accuracy:
    a critic does not classify)."""
    if kind == "relative-logit":  # RaGAN: only differences matter, D's offset drifts freely
        real, fake = torch.sigmoid(real - fake.mean()), torch.sigmoid(fake - real.mean())
        threshold = 0.5
    elif kind == "logit":
        real, fake, threshold = torch.sigmoid(real), torch.sigmoid(fake), 0.5
    else:
        threshold = 0.5 if kind == "score" else 0.0
    stats = {"d_real": real.mean(), "d_fake": fake.mean()}
    if kind == "critic":
        stats["critic_gap"] = real.mean() - fake.mean()
    else:
        stats["d_acc"] = torch.cat([real > threshold, fake < threshold]).float().mean()
    return stats
