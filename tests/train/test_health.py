import math

from gankit.train import health
from gankit.train.health import HealthMonitor


def _healthy(**kw):
    base = {
        "loss_d": 1.3,
        "loss_g": 0.8,
        "d_real": 0.55,
        "d_fake": 0.45,
        "d_acc": 0.6,
        "grad_norm_g": 1.0,
        "grad_norm_d": 2.0,
        "diversity": 0.95,
    }
    return {**base, **kw}


def _feed(records, start_step=1000):
    mon = HealthMonitor()
    verdicts = [mon.observe(r, start_step + 100 * i)[0] for i, r in enumerate(records)]
    return mon, verdicts


def test_equilibrium_is_stable_after_warm_up():
    mon = HealthMonitor()
    verdicts = [mon.observe(_healthy(), 100 * (i + 1))[0] for i in range(8)]
    assert verdicts[:4] == [health.WARMING_UP] * 4 and verdicts[-1] == health.STABLE
    assert mon.summary()["healthy"] is True
    short = HealthMonitor()
    short.observe(_healthy(), 100)
    assert short.summary()["healthy"] is None  # too short to judge
    assert (
        health.summary_line(mon.summary())
        == "healthy (final verdict: stable; warming up x4, stable x4)"
    )
    assert (
        health.summary_line(short.summary())
        == "too short to judge (final verdict: warming up; warming up x1)"
    )
    assert (
        health.summary_line(HealthMonitor().summary())
        == f"too short to judge ({health.NO_LOG_STEP})"
    )


def test_d_winning_and_vanishing_gradients():
    early = [_healthy() for _ in range(3)]
    winning = [_healthy(d_acc=0.99, d_real=0.97, d_fake=0.02, grad_norm_g=0.5)] * 2
    _, verdicts = _feed(early + winning)
    assert verdicts[-2:] == [health.STABLE, health.D_WINNING]
    starving = [_healthy(d_acc=1.0, d_real=0.99, d_fake=0.001, grad_norm_g=1e-4)] * 2
    mon, verdicts = _feed(early + starving)
    assert verdicts[-1] == health.VANISHING and "non-saturating" in mon.history[-1]["remedy"]
    assert mon.summary()["healthy"] is False


def test_mode_collapse_needs_consecutive_low_diversity():
    _, verdicts = _feed([_healthy()] * 3 + [_healthy(diversity=0.2), _healthy(diversity=0.9)])
    assert health.COLLAPSE not in verdicts
    _, verdicts = _feed([_healthy()] * 3 + [_healthy(diversity=0.2)] * 2)
    assert verdicts[-1] == health.COLLAPSE


def test_oscillation_of_d_accuracy():
    swings = [_healthy(d_acc=a, d_fake=0.3) for a in (0.9, 0.2, 0.9, 0.2, 0.9)]
    _, verdicts = _feed([_healthy()] * 3 + swings)
    assert verdicts[-1] == health.OSCILLATING


def test_non_finite_values_mean_divergence():
    _, verdicts = _feed([_healthy(), _healthy(loss_d=math.nan)])
    assert verdicts[-1] == health.DIVERGED


def test_pairwise_diversity_of_identical_samples_is_zero():
    import torch

    assert health.pairwise_diversity(torch.ones(5, 3)) == 0.0
    assert abs(health.pairwise_diversity(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) - 5.0) < 1e-6


def test_vanishing_is_caught_even_when_g_starved_from_the_first_intervals():
    """The minimax seed-mlp on MNIST: G's gradient is ~1e-8 from the second interval on."""
    win = dict(d_acc=1.0, d_real=1.0, d_fake=0.0, diversity=0.1)
    records = [_healthy(grad_norm_g=2.7e-2, **win)] + [_healthy(grad_norm_g=1e-8, **win)] * 5
    _, verdicts = _feed(records)
    assert verdicts[1:] == [health.VANISHING] * 5


def test_class_histogram_collapse_when_one_class_dominates():
    _, verdicts = _feed([_healthy(top_class_share=0.12)] * 3 + [_healthy(top_class_share=0.87)] * 2)
    assert verdicts[-2:] == [health.STABLE, health.COLLAPSE]
