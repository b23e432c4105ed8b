"""Health diagnostics: turn each log interval's numbers into a verdict and a remedy.

The numbers come from the step itself (losses, D's outputs, gradient norms) plus one small batch
for diversity. The rules follow the failure modes the GAN papers describe: a D that wins and
starves G of gradient (Goodfellow et al. 2014, Sec. 3; Arjovsky & Bottou 2017), a D that memorises
a small training set (Karras et al. 2020), mode collapse (Salimans et al. 2016), oscillation
instead of convergence, and divergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

import torch

STABLE = "stable"
WARMING_UP = "warming up"
D_WINNING = "D winning"
VANISHING = "D winning: G gradients vanishing"
COLLAPSE = "mode collapse suspected"
OSCILLATING = "oscillating"
DIVERGED = "diverged"
LOSS_RISING = "loss rising"
POSTERIOR_COLLAPSE = "posterior collapse"
D_OVERFITTING = "D overfitting"

REMEDIES = {
    STABLE: "",
    WARMING_UP: "",
    D_WINNING: "D rejects nearly every fake: lower lr_d or raise lr_g, or make D smaller",
    VANISHING: "with loss.kind=minimax switch to non-saturating; otherwise lower lr_d, "
    "make D smaller or regularize it (model.d_spectral_norm=true, loss.r1=1, "
    "model.d_dropout=0.3 for an MLP D)",
    COLLAPSE: "G covers few modes: lower lr_g, use EMA (train.ema=0.999), a larger batch, "
    "or resume from an earlier checkpoint",
    OSCILLATING: "losses swing instead of settling: lower both learning rates, use beta1=0.5, "
    "or EMA",
    LOSS_RISING: "the training loss climbed well above its best: lower the learning rate, "
    "or resume from an earlier checkpoint",
    POSTERIOR_COLLAPSE: "few latent dimensions carry information (KL per dimension near 0): "
    "warm the KL up longer (vae.kl_warmup), lower vae.beta, or use a weaker decoder",
    D_OVERFITTING: "D memorises the training images (it calls them real, and held-out real images "
    "less so): turn on augmentation (loss.ada=true) or strengthen it (loss.diffaugment="
    "color,translation,cutout; with ADA a lower loss.ada_target), or train on more images",
    DIVERGED: "a loss or weight became NaN/Inf: lower the learning rates and resume from the "
    "last checkpoint",
}


@dataclass
class Thresholds:
    warmup_intervals: int = 2  # intervals (and steps, below) before collapse/oscillation
    warmup_steps: int = 500  # rules may fire: a fresh G is near-constant by construction
    d_win_acc: float = 0.95  # D's accuracy above this ...
    # ... with mean D(G(z)) at or below D_CONFIDENT_FAKE of the loss's output scale ...
    d_win_intervals: int = 2  # ... for this many intervals in a row: D winning
    vanish_factor: float = 1e-2  # G's grad norm below this share of its early peak: vanishing
    collapse_ratio: float = 0.5  # generated/real pairwise distance below this: collapse
    collapse_intervals: int = 2
    collapse_class_share: float = 0.5  # with a classifier: one class above this share of samples;
    # with known modes (toy2d): one mode above this share of the high-quality samples, or ...
    collapse_modes_share: float = 0.9  # ... fewer than this share of the modes reached (a G
    # that drops even a few of a mixture's modes has collapsed partly: PacGAN's GAN, 17 of 25)
    oscillation_window: int = 5  # D's accuracy reversing direction by more than
    oscillation_swing: float = 0.25  # this, twice or more within the window: oscillating
    # recipes without a D (vae, diffusion) report one `loss`; its trend is their health:
    loss_rise: float = 0.5  # `loss` above (1 + this) x its best so far ...
    loss_rise_intervals: int = 3  # ... for this many intervals in a row: loss rising
    active_share: float = 0.1  # VAE: active latent units below this share of the dims: collapse
    # D overfitting (docs/results/overfitting.md): E[sign(D(x))] on training images minus that on
    # held-out ones (data.holdout) at or above this ...
    overfit_gap: float = 0.5
    # ... or, without held-out images, r_t = E[sign(D(x_real))] over the interval at or above this
    overfit_rt: float = 0.95
    overfit_intervals: int = 3  # ... for this many intervals in a row


def pairwise_diversity(x: torch.Tensor) -> float:
    """Mean Euclidean distance between distinct samples of a batch."""
    flat = x.detach().float().flatten(1)
    return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0


#: Mean D(G(z)) at or below which D is confident on fakes, on each output scale
#: (`losses.OUTPUT_KIND`): probability 0.1 for logits, score 0.1 for LSGAN (fake target 0), beyond
#: the margin for hinge (-1: those fakes no longer train D). A Wasserstein critic has none: it does
#: not saturate, so G's gradient cannot vanish the way the minimax game's does; its health is the
#: critic gap (W1 estimate) falling, G's gradient norm and diversity.
D_CONFIDENT_FAKE = {"logit": 0.10, "relative-logit": 0.10, "score": 0.10, "margin": -1.0}


@dataclass
class HealthMonitor:
    thresholds: Thresholds = field(default_factory=Thresholds)
    history: list[dict[str, float | str]] = field(default_factory=list)
    output_kind: str = "logit"
    #: whether r_t alone may read as memorisation: not on the 2D mixtures (data.toy_samples points
    #: of a known density, which augmentation cannot help), where r_t near 1 means only that D wins
    finite_data: bool = True

    def observe(self, stats: dict[str, float], step: int | None = None) -> tuple[str, str]:
        """Add one interval's figures; return (verdict, remedy) and store both in the history."""
        record: dict[str, float | str] = dict(stats)
        verdict = self._judge(stats, step)
        record["verdict"], record["remedy"] = verdict, REMEDIES[verdict]
        self.history.append(record)
        return verdict, REMEDIES[verdict]

    def _recent(self, key: str, n: int) -> list[float]:
        values = [h[key] for h in self.history[-(n - 1) :] if key in h] if n > 1 else []
        return [float(v) for v in values]

    def _judge(self, s: dict[str, float], step: int | None) -> str:
        t = self.thresholds
        if any(not math.isfinite(v) for v in s.values() if isinstance(v, float)):
            return DIVERGED
        n_seen = len(self.history) + 1
        d_winning = self._d_winning(s)
        if d_winning and self._g_starved(s):
            return VANISHING
        warming = n_seen <= t.warmup_intervals or (step is not None and step < t.warmup_steps)
        if not warming and self._collapsed(s):
            return COLLAPSE
        if (
            not warming
            and "active_units" in s
            and "latent_dims" in s
            and self._persists(
                s,
                lambda r: float(r["active_units"]) < t.active_share * float(r["latent_dims"]),
                t.collapse_intervals,
                "active_units",
            )
        ):
            return POSTERIOR_COLLAPSE
        if not warming and self._loss_rising(s):
            return LOSS_RISING
        if not warming and self._d_overfitting(s):
            return D_OVERFITTING
        if d_winning:
            return D_WINNING
        if warming:
            return WARMING_UP
        if "d_acc" in s:
            accs = self._recent("d_acc", t.oscillation_window) + [s["d_acc"]]
            if _reversals(accs, t.oscillation_swing) >= 2:
                return OSCILLATING
        return STABLE

    def _persists(self, s: dict[str, float], bad, intervals: int, key: str) -> bool:
        """`bad` holds for this interval and the intervals - 1 before it that report `key`."""
        rows = [h for h in self.history if key in h][-(intervals - 1) :] if intervals > 1 else []
        rows = [*rows, s]
        return len(rows) >= intervals and all(bad(r) for r in rows)

    def _loss_rising(self, s: dict[str, float]) -> bool:
        """A single `loss` (recipes without a D) far above its best for several intervals: noise in
        one batch's loss does not trip it, a run that has lost its way does."""
        t = self.thresholds
        if "loss" not in s:
            return False
        earlier = [float(h["loss"]) for h in self.history if "loss" in h]
        best = min(
            earlier[: -(t.loss_rise_intervals - 1)] if t.loss_rise_intervals > 1 else earlier,
            default=None,
        )
        if best is None or best <= 0:
            return False
        return self._persists(
            s, lambda r: float(r["loss"]) > (1 + t.loss_rise) * best, t.loss_rise_intervals, "loss"
        )

    def _d_overfitting(self, s: dict[str, float]) -> bool:
        """D calls its training images real and held-out real images fake (the gap of its signs,
        when images are held out), or, without held-out images, calls nearly every training image
        real (r_t), for several intervals in a row: the memorisation ADA's paper measures."""
        t = self.thresholds
        if "heldout_gap" in s:
            key, limit = "heldout_gap", t.overfit_gap
        elif "rt" in s and self.finite_data:
            key, limit = "rt", t.overfit_rt
        else:
            return False
        return self._persists(s, lambda r: float(r[key]) >= limit, t.overfit_intervals, key)

    def _g_starved(self, s: dict[str, float]) -> bool:
        early = [float(h["grad_norm_g"]) for h in self.history[:3] if "grad_norm_g" in h]
        # the early peak, not median: with the minimax loss G may be
        # starved from the second interval
        return (
            bool(early)
            and "grad_norm_g" in s
            and s["grad_norm_g"] < self.thresholds.vanish_factor * max(early)
        )

    def _collapsed(self, s: dict[str, float]) -> bool:
        """Low diversity, or (with a classifier or known modes) one class or mode dominating or
        too few modes reached, for consecutive intervals."""
        t = self.thresholds
        for key, low_is_bad, limit in (
            ("diversity", True, t.collapse_ratio),
            ("top_class_share", False, t.collapse_class_share),
            ("top_mode_share", False, t.collapse_class_share),
            ("modes_share", True, t.collapse_modes_share),
        ):
            if key in s:
                values = self._recent(key, t.collapse_intervals) + [s[key]]
                if len(values) >= t.collapse_intervals and all(
                    (v < limit) if low_is_bad else (v > limit) for v in values
                ):
                    return True
        return False

    def _d_winning(self, s: dict[str, float]) -> bool:
        t = self.thresholds
        confident = D_CONFIDENT_FAKE.get(self.output_kind)
        if "d_acc" not in s or "d_fake" not in s or confident is None:
            return False
        window = self.history[-(t.d_win_intervals - 1) :] if t.d_win_intervals > 1 else []
        rows = [*window, s]
        return len(rows) >= t.d_win_intervals and all(
            "d_acc" in r and float(r["d_acc"]) >= t.d_win_acc and float(r["d_fake"]) <= confident
            for r in rows
        )

    def summary(self) -> dict[str, object]:
        """Counts of verdicts and whether the run ended healthy (its last intervals stable);
        `healthy` is None when the run was too short to judge (still warming up)."""
        verdicts = [str(h["verdict"]) for h in self.history]
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        judged = [v for v in verdicts if v != WARMING_UP]
        tail = judged[-3:]
        healthy = all(v == STABLE for v in tail) if tail else None
        return {
            "healthy": healthy,
            "final_verdict": verdicts[-1] if verdicts else None,
            "counts": counts,
        }

    def state_dict(self) -> dict[str, object]:
        return {"history": self.history}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.history = list(state["history"])  # type: ignore[arg-type]


NO_LOG_STEP = "no log step: train.log_every is more than the steps run"


def summary_line(summary: dict[str, object]) -> str:
    """The health part of a run's last printed line: the judgement, then the final verdict and how
    often each verdict came (or why there is none)."""
    health = {True: "healthy", False: "NOT healthy", None: "too short to judge"}[summary["healthy"]]
    if not summary["final_verdict"]:
        return f"{health} ({NO_LOG_STEP})"
    counts = ", ".join(f"{k} x{v}" for k, v in summary["counts"].items())  # type: ignore[union-attr]
    return f"{health} (final verdict: {summary['final_verdict']}; {counts})"


def _reversals(values: list[float], swing: float) -> int:
    """How often a series changes direction by steps larger than `swing` (one jump is no swing)."""
    big = [b - a for a, b in pairwise(values) if abs(b - a) > swing]
    return sum(1 for a, b in pairwise(big) if (a > 0) != (b > 0))
