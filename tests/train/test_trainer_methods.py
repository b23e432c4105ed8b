"""The trainer's public handles, which experiments drive it by: a batch, one step, samples and a
number of steps; chunked training is the uninterrupted run, bit for bit."""

import pytest
import torch
from conftest import tiny_config

from gankit.errors import ConfigError
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt

QUIET = {"progress": False, "echo": lambda line: None}


def _weights(run_dir):
    state = ckpt.load(ckpt.resolve(run_dir))
    return {f"{n}/{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}


def test_train_steps_in_chunks_is_the_straight_run(tmp_path):
    straight = Trainer(tiny_config("seed-mlp", steps=12), tmp_path / "a", **QUIET).run()
    chunked = Trainer(tiny_config("seed-mlp", steps=1), tmp_path / "b", **QUIET)
    assert [chunked.train_steps(n).step for n in (5, 7)] == [5, 12] == [5, straight.step]
    assert chunked.cfg.train.steps == 12 and chunked.cfg.train.minutes is None
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="at least 1"):
            chunked.train_steps(bad)


def test_batch_step_and_sample_are_the_loops(tmp_path):
    trainer = Trainer(tiny_config("seed-mlp", steps=3, ema=None), tmp_path, **QUIET)
    x, y = trainer.batch(0)
    assert x.shape == (trainer.cfg.optim.batch_size, 1, 8, 8) and x.dtype == torch.float32
    assert torch.equal(x, trainer.batch(0)[0]) and not torch.equal(x, trainer.batch(1)[0])
    assert -1 <= float(x.min()) and float(x.max()) <= 1 and y is not None
    latents = trainer.recipe.latents(6, torch.Generator().manual_seed(0))
    before = trainer.sample(latents)
    assert before.shape == (6, 1, 8, 8) and torch.equal(before, trainer.sample(latents))
    stats = trainer.train_step(x, y, want_stats=True)
    assert {"loss_d", "loss_g"} <= set(stats) and trainer.step == 0  # the loop counts steps
    assert not torch.equal(before, trainer.sample(latents))  # the step moved G
