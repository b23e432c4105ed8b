import json

import pytest
import torch
from conftest import tiny_config
from torch import nn

import gankit
from gankit import config as config_mod
from gankit.data import load_dataset
from gankit.errors import ConfigError
from gankit.recipes import build_recipe
from gankit.recipes.gan import AdaptiveP, real_signs
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt


def test_p_moves_up_above_the_target_down_below_it_and_stays_in_0_1():
    ada = AdaptiveP(target=0.6, interval=2, kimg=1.0)
    wins = torch.ones(64)  # D calls every real image real: r_t = 1
    ada.observe(wins)
    ada.after_step(0)  # not the end of an interval: nothing moves
    assert ada.p == 0.0
    ada.observe(wins)
    ada.after_step(1)
    assert ada.p == pytest.approx(128 / 1000)  # images judged / (kimg * 1000)
    for step in range(2, 40):
        ada.observe(wins)
        ada.after_step(step)
    assert ada.p == 1.0
    unsure = torch.tensor([1.0, -1.0] * 32)  # r_t = 0 < 0.6
    ada.observe(unsure)
    ada.after_step(41)
    assert ada.p == pytest.approx(1.0 - 64 / 1000)
    for step in range(42, 100):
        ada.observe(unsure)
        ada.after_step(step)
    assert ada.p == 0.0


def test_real_signs_read_each_output_scale_from_its_midpoint():
    out = torch.tensor([0.2, 0.7, -0.1])
    assert real_signs(out, None, "logit").tolist() == [1.0, 1.0, -1.0]
    assert real_signs(out, None, "score").tolist() == [-1.0, 1.0, -1.0]  # LSGAN: 0.5
    fake = torch.tensor([0.5, 0.5])  # RaGAN: relative to the fakes' mean
    assert real_signs(out, fake, "relative-logit").tolist() == [-1.0, 1.0, -1.0]


class ConstantD(nn.Module):
    """A toy D with one verdict for every image (+: always "real"), still differentiable in its
    input so G's step runs."""

    def __init__(self, logit: float):
        super().__init__()
        self.logit = logit
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x, y=None):
        return self.logit + 0.0 * x.flatten(1).mean(1) + 0.0 * self.unused


@pytest.mark.parametrize(("logit", "rises"), [(5.0, True), (-5.0, False)])
def test_p_adapts_in_the_right_direction_on_a_toy_d(logit, rises):
    cfg = tiny_config(steps=20)
    config_mod.update(cfg, ["loss.ada=true", "loss.ada_kimg=1", "loss.ada_interval=2"])
    data = load_dataset(cfg.data)
    recipe = build_recipe(cfg, data.sample_shape, data.num_classes)
    recipe.nets["D"] = ConstantD(logit)
    recipe.ada.p = 0.5
    rng = torch.Generator().manual_seed(0)
    for step in range(6):
        stats = recipe.train_step(data.batch(torch.arange(64)), None, rng, True, step)
    assert float(stats["rt"]) == (1.0 if rises else -1.0)
    assert recipe.ada.p == pytest.approx(0.5 + (1 if rises else -1) * 3 * 128 / 1000)
    assert float(stats["ada_p"]) == pytest.approx(recipe.ada.p)


def _ada_config(steps):
    cfg = tiny_config(steps=steps)
    # p moves fast, and an interval that checkpoints (every 10 steps) cut in the middle
    config_mod.update(cfg, ["loss.ada=true", "loss.ada_kimg=2", "loss.ada_interval=3"])
    return cfg


def test_p_survives_resume_exactly(tmp_path):
    Trainer(_ada_config(40), tmp_path / "a", progress=False).run()
    Trainer(_ada_config(20), tmp_path / "b", progress=False).run()
    Trainer(_ada_config(40), tmp_path / "b", resume=True, progress=False).run()
    a, b = (ckpt.load(ckpt.resolve(tmp_path / n)) for n in ("a", "b"))
    assert a["recipe"]["ada"]["p"] == b["recipe"]["ada"]["p"] > 0
    assert torch.equal(a["recipe"]["ada"]["signs"], b["recipe"]["ada"]["signs"])
    for net in a["nets"]:
        assert all(torch.equal(v, b["nets"][net][k]) for k, v in a["nets"][net].items())
    lines = [
        [json.loads(x) for x in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
        for n in ("a", "b")
    ]
    assert [(r["ada_p"], r["rt"]) for r in lines[0]] == [(r["ada_p"], r["rt"]) for r in lines[1]]
    assert len({r["ada_p"] for r in lines[0]}) > 3  # p moved during the run


def test_a_run_logs_r_t_p_and_the_held_out_gap(tmp_path):
    cfg = _ada_config(10)
    config_mod.update(cfg, ["data.holdout=300", "data.limit=200"])
    Trainer(cfg, tmp_path, progress=False).run()
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert -1.0 <= record["rt"] <= 1.0 and 0.0 < record["ada_p"] <= 1.0
    assert record["heldout_gap"] == pytest.approx(record["sign_train"] - record["sign_heldout"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss.ada=true", "loss.diffaugment=color"], "choose one"),
        (["loss.ada=true", "loss.kind=wasserstein", "loss.clip=0.01"], "critic"),
        (["loss.ada_target=1.2"], "ada_target must be in"),
        (["loss.ada_interval=0"], "ada_interval must be at least 1"),
        (["loss.ada_kimg=0"], "ada_kimg must be positive"),
        (["loss.ada=true", "train.compile=step"], "compile=nets"),
    ],
)
def test_ada_options_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        gankit.make_config("dcgan", overrides=overrides)
