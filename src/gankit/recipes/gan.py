"""The GAN family recipe: G and D, their Adam optimizers, one alternating step, sampling."""
from __future__ import annotations

import torch
from torch import nn

from .. import losses
from ..config import Config
from ..errors import ConfigError
from ..nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator


def build_nets(cfg: Config, sample_shape: tuple[int, ...]) -> dict[str, nn.Module]:
    m = cfg.model
    if cfg.model.arch == "mlp":
        is_image = len(sample_shape) == 3
        return {"G": MLPGenerator(m.z_dim, m.hidden, sample_shape, tanh=is_image),
                "D": MLPDiscriminator(sample_shape, m.hidden[::-1])}
    if cfg.model.arch == "dcgan":
        if len(sample_shape) != 3:
            raise ConfigError("dcgan needs image data; use the seed-mlp preset for toy2d points")
        channels, height, width = sample_shape
        if height != width:
            raise ConfigError(f"dcgan needs square images, got {height}x{width}")
        return {"G": DCGANGenerator(m.z_dim, m.width, height, channels),
                "D": DCGANDiscriminator(m.width, height, channels, m.minibatch_std, m.d_norm)}
    raise ConfigError(f"unknown architecture '{cfg.model.arch}'")


def grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class GANRecipe:
    ema_nets = ("G",)

    def __init__(self, cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0):
        self.cfg = cfg
        self.z_dim = cfg.model.z_dim
        self.nets = build_nets(cfg, sample_shape)
        o = cfg.optim
        self.optimizers = {
            "G": torch.optim.Adam(self.nets["G"].parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), foreach=True),
            "D": torch.optim.Adam(self.nets["D"].parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), foreach=True),
        }
        self.d_loss = losses.D_LOSSES[cfg.loss.kind]
        self.g_loss = losses.G_LOSSES[cfg.loss.kind]

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=rng)

    def generate(self, latents, labels=None, nets=None):
        return (nets or self.nets)["G"](latents)

    def train_step(self, x, y, rng, want_stats):
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.optimizers["G"], self.optimizers["D"]
        fake = G(self.latents(len(x), rng).to(x.device))

        real_logits, fake_logits = D(x), D(fake.detach())
        loss_d = self.d_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        stats = {"loss_d": loss_d.detach()}
        if want_stats:
            stats["grad_norm_d"] = grad_norm(D)
        opt_d.step()

        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        loss_g = self.g_loss(D(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        D.requires_grad_(True)
        stats["loss_g"] = loss_g.detach()
        if want_stats:
            stats["grad_norm_g"] = grad_norm(G)
            stats.update(logit_stats(real_logits.detach(), fake_logits.detach()))
            stats["_samples"] = fake.detach()  # the trainer measures their diversity
        opt_g.step()
        return stats


def logit_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean D(x), D(G(z)) as probabilities and D's accuracy (real > 0.5, fake < 0.5)."""
    return {"d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean(),
            "d_acc": torch.cat([real_logits > 0, fake_logits < 0]).float().mean()}
