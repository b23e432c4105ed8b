import json
import math
from pathlib import Path

import pytest

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


def _modes(seen, top, total=8):
    return _healthy(
        modes_seen=seen,
        modes_total=total,
        modes_share=seen / total,
        hq_share=0.4,
        top_mode_share=top,
    )


def test_known_modes_collapse_when_one_mode_dominates_or_too_few_are_reached():
    # the recorded ring run (radius 1): 7 of 8 modes, 86% of the high-quality samples in one
    _, verdicts = _feed([_modes(8, 0.15)] * 3 + [_modes(7, 0.86)] * 2)
    assert verdicts[-2:] == [health.STABLE, health.COLLAPSE]
    # partial collapse: 20 of 25 grid modes (the mode dropping PacGAN measures)
    _, verdicts = _feed([_modes(25, 0.06, 25)] * 3 + [_modes(20, 0.07, 25)] * 2)
    assert verdicts[-2:] == [health.STABLE, health.COLLAPSE]
    # every mode, or all but one of 25, unevenly but with none above half: healthy
    _, verdicts = _feed([_modes(8, 0.3)] * 3 + [_modes(23, 0.1, 25)] * 2)
    assert verdicts[-3:] == [health.STABLE] * 3


RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "overfitting"


def _replay(run, leave_out=()):
    """The verdicts of a recorded run's log steps (docs/results/overfitting.md), with some
    figures left out."""
    mon = HealthMonitor()
    verdicts = []
    for line in (RECORDED / f"{run}.jsonl").read_text().splitlines():
        record = json.loads(line)
        step = record.pop("step")
        figures = {k: v for k, v in record.items() if k not in leave_out}
        verdicts.append((step, mon.observe(figures, step)[0]))
    return verdicts, mon


def _first(verdicts, verdict):
    return next((step for step, v in verdicts if v == verdict), None)


@pytest.mark.parametrize("leave_out", [(), ("heldout_gap",)])
@pytest.mark.parametrize(("few", "full"), [("mnist100", "mnistfull"), ("horse100", "cifar10full")])
def test_d_overfitting_fires_on_recorded_100_image_runs_and_not_on_full_data(few, full, leave_out):
    """dcgan on 100 MNIST digits (100 CIFAR-10 horses) memorises them (gap near 2, r_t near 1);
    on 9,000 digits (49,000 CIFAR-10 images) it does not. With held-out images the gap decides;
    without, r_t alone."""
    verdicts, mon = _replay(few, leave_out)
    fired = _first(verdicts, health.D_OVERFITTING)
    assert fired is not None and fired <= 800
    later = [v for step, v in verdicts if step >= fired]
    # r_t dips now and then below 0.95: D winning (the same D, judged by its fakes) in between
    assert set(later) <= {health.D_OVERFITTING, health.D_WINNING, health.STABLE}
    assert later.count(health.D_OVERFITTING) >= (len(later) if not leave_out else len(later) / 2)
    remedies = {h["remedy"] for h in mon.history if h["verdict"] == health.D_OVERFITTING}
    assert remedies == {health.REMEDIES[health.D_OVERFITTING]} and "loss.ada=true" in remedies.pop()
    verdicts, _ = _replay(full, leave_out)
    assert _first(verdicts, health.D_OVERFITTING) is None
    assert verdicts[-1][1] == health.STABLE


def test_with_ada_d_overfits_less_often():
    """100 horses with ADA (p settled near 0.5, r_t near its target 0.6): the gap still crosses
    0.5 for three intervals now and then, far less often than without augmentation."""
    with_ada, _ = _replay("horse100_ada")
    without, _ = _replay("horse100")
    count = [sum(v == health.D_OVERFITTING for _, v in run) for run in (with_ada, without)]
    assert 0 < count[0] <= 5 and count[1] >= 25
    assert health.D_OVERFITTING not in {v for _, v in _replay("horse100_ada", ("heldout_gap",))[0]}


def test_d_overfitting_needs_three_intervals_in_a_row_after_the_warm_up():
    early = [_healthy(rt=0.8, heldout_gap=0.0) for _ in range(3)]
    _, blip = _feed(early + [_healthy(rt=0.8, heldout_gap=1.5)] * 2 + [_healthy(rt=0.8)])
    assert health.D_OVERFITTING not in blip
    _, lasting = _feed(early + [_healthy(rt=0.8, heldout_gap=1.5)] * 3)
    assert lasting[-1] == health.D_OVERFITTING and lasting[-2] == health.STABLE
    _, warm = _feed([_healthy(rt=1.0)] * 4, start_step=100)  # steps 100..400: warming up
    assert health.D_OVERFITTING not in warm
    _, sure = _feed(early + [_healthy(rt=0.97)] * 3)
    assert sure[-1] == health.D_OVERFITTING
    # a 2D mixture's points: r_t near 1 is D winning there, not memorisation
    mon = HealthMonitor(finite_data=False)
    points = [
        mon.observe(r, 1000 + 100 * i)[0] for i, r in enumerate(early + [_healthy(rt=0.97)] * 3)
    ]
    assert health.D_OVERFITTING not in points
