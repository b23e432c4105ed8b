"""Table recipes of the one trainer: CTGAN (Xu et al. 2019) and TVAE, on the rows that
`data/table.py`'s transformer makes.

The conditional vector: each row is generated given one category of one discrete column. In
training, CTGAN's *training-by-sampling* picks a column uniformly, then a category with
probability proportional to the log of its frequency, then a real row holding it, so rare
categories (the fraud class) are seen as often as their log-frequency says, not their frequency.
Here that joint draw is split in two exact halves: the data declares per-row weights (the
marginal probability of each row under that procedure, `row_weights`) and the trainer draws
batches with them; the recipe then picks the column each real row is conditioned on from its
posterior. The fakes of a step are generated for the same conditions, and G pays a
cross-entropy when its output disagrees with its condition.
At sampling time the condition is drawn from the real frequencies (unconditional samples) or
fixed by the caller (`where`), and the conditioned column is written as asked: conditional
rows are right by construction, never by rejection.

A *target* column (the label a downstream model predicts, e.g. the fraud flag) gets more of this:
training conditions on it in `model.target_share` of the rows instead of 1/(columns), and
unconditional samples are all drawn given the target's category at its real frequency. G learns
p(row | class) as a condition, which it does well, instead of having to generate the class
jointly with the row, where CTGAN's critic barely enforces the link (the ctgan package's rows, and
ours, lost most of the class-feature relation that train-on-synthetic AUC measures). The rows'
marginal is the same mixture, sum over classes of p(class) p(row | class).

Latents carry all of a sample's randomness, so `generate` is a pure function: z, the
conditional vector, uniform noise for a categorical draw per softmax span, and Gaussian noise
for TVAE's value entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .. import losses
from ..config import LossConfig
from ..nets.tabular import PackedCritic, TableDecoder, TableEncoder, TableGenerator
from ..shard import ONE_PROCESS, Shard, ShardedRecipe, rank_draw, seeded_global_rng
from .base import make_optimizer
from .gan import check_gan_options, grad_norm, pack
from .vae import VAEConfig, check_kl_weight

if TYPE_CHECKING:
    from ..config import Config
    from ..data.table import Span

PRESETS: dict[str, dict[str, Any]] = {
    # Tables (gankit.tabular, `gankit tabular fit`). Xu et al. 2019's CTGAN: residual G 256-256 on
    # z (128) + conditional vector, D 256-256 judging 10 packed rows, WGAN-GP (10), one critic step,
    # Adam 2e-4 betas (0.5, 0.9), weight decay 1e-6, batch 500.
    "ctgan": {
        "recipe": "ctgan",
        "data": {"source": "table"},
        "model": {
            "arch": "mlp",
            "z_dim": 128,
            "hidden": [256, 256],
            "d_hidden": [256, 256],
            "pack": 10,
        },
        "loss": {"kind": "wasserstein", "gp": 10.0},
        "optim": {
            "batch_size": 500,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "beta1": 0.5,
            "beta2": 0.9,
            "weight_decay": 1e-6,
        },
        "train": {"ema": None, "log_every": 50, "checkpoint_every": 500},
    },
}
TVAE_PRESETS: dict[str, dict[str, Any]] = {
    # The same paper's TVAE: encoder and decoder 128-128, latent 128, Adam 1e-3, weight decay 1e-5;
    # the plain ELBO (vae.beta 1), where the ctgan package weighs the reconstruction 2x (beta 0.5).
    "tvae": {
        "recipe": "tvae",
        "data": {"source": "table"},
        "model": {"arch": "mlp", "z_dim": 128, "hidden": [128, 128]},
        "optim": {
            "batch_size": 500,
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "beta1": 0.9,
            "beta2": 0.999,
            "weight_decay": 1e-5,
        },
        "vae": {"beta": 1.0},
        "train": {"ema": None, "log_every": 50, "checkpoint_every": 500},
    },
}

GUMBEL_TAU = 0.2  # CTGAN's temperature of the Gumbel-softmax outputs


class TableLayout:
    """What a table recipe needs to know of the row vector: its spans and, for the conditional
    vector, each conditionable column's category counts, which of them is the target (if any) and
    the share of training rows conditioned on it (`model.target_share`; 0: none)."""

    def __init__(
        self,
        spans: list[Span],
        discrete_counts: list[list[int]],
        target: int | None = None,
        target_share: float = 0.5,
    ):
        self.spans = spans
        self.width = sum(s.size for s in spans)
        self.slices = []
        pos = 0
        for s in spans:
            self.slices.append(slice(pos, pos + s.size))
            pos += s.size
        self.tanh = [
            sl.start for s, sl in zip(spans, self.slices, strict=True) if s.activation == "tanh"
        ]
        self.softmax = [
            sl for s, sl in zip(spans, self.slices, strict=True) if s.activation == "softmax"
        ]
        self.discrete = [
            sl for s, sl in zip(spans, self.slices, strict=True) if s.role == "category"
        ]
        if len(self.discrete) != len(discrete_counts):
            raise ValueError("one category count list is needed per one-hot column")
        counts = [torch.tensor(c, dtype=torch.float64) for c in discrete_counts]
        self.cond_offsets = [0]
        for c in counts:
            self.cond_offsets.append(self.cond_offsets[-1] + len(c))
        self.cond_dim = self.cond_offsets[-1]
        #: per column: log-frequency probabilities over its categories (training-by-sampling) ...
        self.log_freq = [torch.log1p(c) / torch.log1p(c).sum() for c in counts]
        #: ... and the real frequencies (unconditional sampling)
        self.freq = [c / c.sum() for c in counts]
        self.counts = counts
        self.target = target if target_share > 0 else None
        #: training-by-sampling's choice of column: uniform, or `target_share` on the target
        n = len(counts)
        probs = torch.full((n,), 1.0 / max(n, 1), dtype=torch.float64)
        if self.target is not None and n > 1:
            probs.fill_((1 - target_share) / (n - 1))
            probs[self.target] = target_share
        self.column_probs = probs

    def row_weights(self, rows: torch.Tensor) -> torch.Tensor:
        """Each row's probability under training-by-sampling: sum over columns of
        P(column) P(its category) / (rows holding it), with P(category) by log-frequency."""
        if not self.discrete:
            return torch.ones(len(rows), dtype=torch.float64)
        return self._ratios(rows).sum(1)

    def _ratios(self, rows: torch.Tensor) -> torch.Tensor:
        cats = [rows[:, sl].argmax(1) for sl in self.discrete]
        per_column = [
            self.column_probs[j] * self.log_freq[j][c] / self.counts[j][c]
            for j, c in enumerate(cats)
        ]
        return torch.stack(per_column, 1)

    def condition(
        self, rows: torch.Tensor, rng: torch.Generator, shard: Shard = ONE_PROCESS
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For real rows drawn with `row_weights`: the column each is conditioned on (drawn from
        its posterior, which makes (row, column) CTGAN's joint draw) and the conditional vector.
        One uniform per row through the posterior's inverse CDF, so under torchrun each rank keeps
        its rows' slice of the global batch's uniforms."""
        if not self.discrete:
            return torch.zeros(len(rows), dtype=torch.long), rows.new_zeros(len(rows), 0)
        cdf = self._ratios(rows.cpu()).cumsum(1)
        cdf = cdf / cdf[:, -1:]
        u = 1 - rank_draw(
            shard, len(rows), lambda m: torch.rand(m, generator=rng, dtype=torch.float64)
        )  # (0, 1]
        # the first column whose CDF reaches u (the last CDF entry is exactly 1): a column of
        # probability 0 is never it
        columns = (cdf < u[:, None]).sum(1).to(rows.device)
        cond = rows.new_zeros(len(rows), self.cond_dim)
        for j, sl in enumerate(self.discrete):
            chosen = columns == j
            cond[chosen, self.cond_offsets[j] : self.cond_offsets[j + 1]] = rows[chosen, sl]
        return columns, cond

    def sample_condition(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """Conditional vectors for unconditional samples: the target (or else a column drawn
        uniformly), then a category by its real frequency (so the rows' mix is the data's)."""
        cond = torch.zeros(n, self.cond_dim)
        if not self.discrete:
            return cond
        if self.target is not None:
            columns = torch.full((n,), self.target, dtype=torch.long)
        else:
            columns = torch.randint(len(self.discrete), (n,), generator=rng)
        for j in range(len(self.discrete)):
            chosen = (columns == j).nonzero().squeeze(1)
            cats = (
                torch.multinomial(self.freq[j], len(chosen), replacement=True, generator=rng)
                if len(chosen)
                else chosen
            )
            cond[chosen, self.cond_offsets[j] + cats] = 1.0
        return cond

    def fixed_condition(self, n: int, column: int, category: int) -> torch.Tensor:
        cond = torch.zeros(n, self.cond_dim)
        cond[:, self.cond_offsets[column] + category] = 1.0
        return cond

    def condition_loss(
        self, raw: torch.Tensor, cond: torch.Tensor, columns: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of G's scores for each row's conditioned column against its condition."""
        if not self.discrete:
            return raw.new_zeros(())
        per_column = torch.stack(
            [
                F.cross_entropy(
                    raw[:, sl],
                    cond[:, self.cond_offsets[j] : self.cond_offsets[j + 1]].argmax(1),
                    reduction="none",
                )
                for j, sl in enumerate(self.discrete)
            ],
            1,
        )
        return per_column.gather(1, columns[:, None]).mean()

    def impose(self, rows: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Write each row's condition into its conditioned column (by construction, not
        rejection)."""
        for j, sl in enumerate(self.discrete):
            part = cond[:, self.cond_offsets[j] : self.cond_offsets[j + 1]]
            chosen = part.sum(1) > 0
            rows[chosen, sl] = part[chosen]
        return rows

    def values_tanh(self, raw: torch.Tensor) -> torch.Tensor:
        """tanh on the value entries only; the softmax spans keep their logits."""
        out = raw.clone()
        out[:, self.tanh] = torch.tanh(raw[:, self.tanh])
        return out

    def draw_categories(self, scores: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """One-hot draws from softmax(scores) per softmax span, by the Gumbel-max trick on given
        uniform noise; tanh entries pass through."""
        out = scores.clone()
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-7)))
        for sl in self.softmax:
            pick = (scores[:, sl] + gumbel[:, sl]).argmax(1)
            out[:, sl] = F.one_hot(pick, sl.stop - sl.start).to(scores.dtype)
        return out


class _TableRecipe(ShardedRecipe):
    """What CTGAN and TVAE share: the layout, latents and sampling. Under torchrun (`shard`) each
    rank keeps its slice of every global per-row draw (conditions, z, Gumbel noise, the GP's
    points, D's dropout masks, TVAE's posterior noise and health-line samples)."""

    ema_nets: tuple[str, ...] = ()
    batches_per_step = 1

    def __init__(self, cfg: Config, layout: TableLayout):
        self.cfg, self.layout, self.z_dim = cfg, layout, cfg.model.z_dim

    def latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """[z | conditional vector (real frequencies) | uniform noise | Gaussian noise]."""
        w = self.layout.width
        return torch.cat(
            [
                torch.randn(n, self.z_dim, generator=rng),
                self.layout.sample_condition(n, rng),
                torch.rand(n, w, generator=rng),
                torch.randn(n, w, generator=rng),
            ],
            1,
        )

    def with_condition(self, latents: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        out = latents.clone()
        out[:, self.z_dim : self.z_dim + self.layout.cond_dim] = cond
        return out

    def split(self, latents: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c, w = self.layout.cond_dim, self.layout.width
        z, cond = latents[:, : self.z_dim], latents[:, self.z_dim : self.z_dim + c]
        rest = latents[:, self.z_dim + c :]
        return z, cond, rest[:, :w], rest[:, w : 2 * w]

    def labels(self, n: int) -> None:
        return None

    def _activate(self, raw: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Training outputs: tanh values, Gumbel-softmax (tau 0.2) categories, differentiable."""
        parts = []
        pos = 0
        for s in self.layout.spans:
            x = raw[:, pos : pos + s.size]
            if s.activation == "tanh":
                parts.append(torch.tanh(x))
            else:
                u = rank_draw(
                    self.shard,
                    len(x),
                    lambda m, width=x.shape[1]: torch.rand(m, width, generator=rng),
                )
                u = u.to(x.device).clamp_(1e-10, 1 - 1e-7)
                parts.append(torch.softmax((x - torch.log(-torch.log(u))) / GUMBEL_TAU, 1))
            pos += s.size
        return torch.cat(parts, 1)


class CTGANRecipe(_TableRecipe):
    """Conditional WGAN-GP with a residual G, a packed critic and Gumbel-softmax outputs."""

    # what the registry (gankit.recipes.RECIPES) and gankit.config read
    archs = ("mlp",)
    trains_on = "tables"
    options: dict[str, type] = {"loss": LossConfig}
    presets = PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_gan_options(cfg)

    output_kind = "critic"
    ema_nets = ("G",)  # with train.ema set, samples come from an average of G's weights

    def __init__(self, cfg: Config, layout: TableLayout):
        super().__init__(cfg, layout)
        m, o = cfg.model, cfg.optim
        row = layout.width + layout.cond_dim
        d_hidden = m.d_hidden if m.d_hidden is not None else m.hidden
        self.nets = {
            "G": TableGenerator(m.z_dim + layout.cond_dim, m.hidden, layout.width),
            "D": PackedCritic(m.pack * row, d_hidden),
        }
        self.optimizers = {
            "G": make_optimizer(self.nets["G"].parameters(), o.lr_g, cfg),
            "D": make_optimizer(self.nets["D"].parameters(), o.lr_d, cfg),
        }
        self.d_loss, self.g_loss = losses.D_LOSSES[cfg.loss.kind], losses.G_LOSSES[cfg.loss.kind]
        self.batches_per_step = o.n_critic

    def generate(self, latents, labels=None, nets=None):
        z, cond, uniform, _ = self.split(latents)
        raw = (nets or self.nets)["G"](
            torch.cat([z, cond], 1)
        ).float()  # float32 under autocast too
        return self.layout.impose(
            self.layout.draw_categories(self.layout.values_tanh(raw), uniform), cond
        )

    def train_step(self, x, y, rng, want_stats, step=0):
        # D's dropout (RankDropout) draws from the global RNG: seed it from the saved stream
        # (bit-exact resume)
        seed = int(torch.randint(2**62, (1,), generator=rng))
        with seeded_global_rng(seed, x.device):
            return self._step(x, rng, want_stats)

    def _critic(self, rows: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.nets["D"](pack(torch.cat([rows, cond], 1), self.cfg.model.pack))

    def _step(self, x, rng, want_stats):
        G, D = self.nets["G"], self.nets["D"]
        for i, x_i in enumerate(x.chunk(self.batches_per_step)):
            columns, cond = self.layout.condition(x_i, rng, self.shard)
            last = i == self.batches_per_step - 1
            with torch.set_grad_enabled(last):
                z = rank_draw(
                    self.shard, len(x_i), lambda m: torch.randn(m, self.z_dim, generator=rng)
                ).to(x.device)
                raw = G(torch.cat([z, cond], 1))
                fake = self._activate(raw, rng)
            stats = self._d_step(x_i, fake.detach(), cond, rng, want_stats and last)
        D.requires_grad_(False)
        loss_adv = self.g_loss(self._critic(fake, cond), None)
        loss_cond = self.layout.condition_loss(raw, cond, columns)
        loss_g = loss_adv + loss_cond
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        D.requires_grad_(True)
        stats.update(loss_g=loss_g.detach(), loss_cond=loss_cond.detach())
        if want_stats:
            stats["grad_norm_g"] = grad_norm(G)
            stats["_samples"] = fake.detach()
        self.optimizers["G"].step()
        return stats

    def _d_step(self, x, fake, cond, rng, want_stats):
        D, k = self.nets["D"], self.cfg.model.pack
        real_out, fake_out = self._critic(x, cond), self._critic(fake, cond)
        loss_d = self.d_loss(real_out, fake_out)
        stats = {"loss_d": loss_d.detach()}
        if self.cfg.loss.gp:
            gp = losses.gradient_penalty(
                D,
                pack(torch.cat([x, cond], 1), k),
                pack(torch.cat([fake, cond], 1), k),
                rng,
                shard=self.shard,
            )
            loss_d = loss_d + self.cfg.loss.gp * gp
            stats["gp"] = gp.detach()
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        if want_stats:
            stats["grad_norm_d"] = grad_norm(D)
            real, fake_mean = real_out.detach().mean(), fake_out.detach().mean()
            stats.update(d_real=real, d_fake=fake_mean, critic_gap=real - fake_mean)
        self.optimizers["D"].step()
        return stats


class TVAERecipe(_TableRecipe):
    """A conditional VAE on the same rows: Gaussian likelihood (learned scale) for the tanh
    entries, cross-entropy for each softmax span, KL to a standard normal weighted by `vae.beta`.
    The ctgan package weighs the reconstruction 2x (beta 0.5); the plain ELBO (beta 1) scored
    better on lending_club in fidelity and utility alike (docs/results/tabular.md)."""

    # what the registry (gankit.recipes.RECIPES) and gankit.config read
    archs = ("mlp",)
    trains_on = "tables"
    options: dict[str, type] = {"vae": VAEConfig}
    presets = TVAE_PRESETS

    @classmethod
    def check(cls, cfg: Config) -> None:
        check_kl_weight(cfg)

    output_kind = "none"

    def __init__(self, cfg: Config, layout: TableLayout):
        super().__init__(cfg, layout)
        m, o = cfg.model, cfg.optim
        c = layout.cond_dim
        self.nets = {
            "E": TableEncoder(layout.width + c, m.hidden, m.z_dim),
            "G": TableDecoder(m.z_dim + c, m.hidden[::-1], layout.width),
        }
        params = [*self.nets["E"].parameters(), *self.nets["G"].parameters()]
        self.optimizers = {"VAE": make_optimizer(params, o.lr_g, cfg)}

    def generate(self, latents, labels=None, nets=None):
        z, cond, uniform, noise = self.split(latents)
        decoder = (nets or self.nets)["G"]
        # float32 rows: under bf16 autocast the decoder's output would meet float32 noise and
        # conditions
        rows = self.layout.values_tanh(decoder(torch.cat([z, cond], 1)).float())
        value = self.layout.tanh
        rows[:, value] = (rows[:, value] + decoder.sigma[value] * noise[:, value]).clamp(-1, 1)
        return self.layout.impose(self.layout.draw_categories(rows, uniform), cond)

    def train_step(self, x, y, rng, want_stats, step=0):
        E, G = self.nets["E"], self.nets["G"]
        columns, cond = self.layout.condition(x, rng, self.shard)
        mu, logvar = E(torch.cat([x, cond], 1))
        eps = rank_draw(self.shard, len(mu), lambda m: torch.randn(m, mu.shape[1], generator=rng))
        z = mu + eps.to(x.device) * torch.exp(0.5 * logvar)
        raw = G(torch.cat([z, cond], 1))
        recon = self._reconstruction(raw, x, G.sigma) / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        loss = recon + self.cfg.vae.beta * kl
        opt = self.optimizers["VAE"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        stats = {"loss": loss.detach(), "loss_recon": recon.detach(), "loss_kl": kl.detach()}
        if want_stats:
            stats["grad_norm_g"] = grad_norm(G)
            with torch.no_grad():
                # drawn for the global batch, so the noise stream stays that of one process
                latents = rank_draw(self.shard, len(x), lambda m: self.latents(m, rng))
                stats["_samples"] = self.generate(latents.to(x.device))
        opt.step()
        with torch.no_grad():
            G.sigma.clamp_(0.01, 1.0)
        return stats

    def _reconstruction(
        self, raw: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor
    ) -> torch.Tensor:
        total = raw.new_zeros(())
        for s, sl in zip(self.layout.spans, self.layout.slices, strict=True):
            if s.activation == "tanh":
                std = sigma[sl.start]
                total = (
                    total
                    + ((x[:, sl] - torch.tanh(raw[:, sl])) ** 2 / 2 / std**2).sum()
                    + torch.log(std) * len(x)
                )
            else:
                total = total + F.cross_entropy(raw[:, sl], x[:, sl].argmax(1), reduction="sum")
        return total
