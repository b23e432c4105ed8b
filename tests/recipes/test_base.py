"""recipes/base.py: what every recipe shares."""

import pytest
import torch
from conftest import tiny_config

from gankit import config as config_mod
from gankit.recipes.base import make_optimizer
from gankit.shard import rank_draw
from gankit.train import Trainer


@pytest.mark.parametrize("preset", ["dcgan", "vae", "ddpm", "tvae"])
def test_every_recipe_builds_its_optimizers_from_the_config(preset):
    """optim.name and optim.weight_decay reach the optimizers of every family, not just one."""
    cfg = config_mod.from_preset(preset)
    config_mod.apply_overrides(cfg, ["optim.name=rmsprop", "optim.weight_decay=0.01"])
    net = torch.nn.Linear(3, 2)
    opt = make_optimizer(net.parameters(), 0.1, config_mod.validate(cfg))
    assert isinstance(opt, torch.optim.RMSprop) and opt.param_groups[0]["weight_decay"] == 0.01
    cfg.optim.name = "adam"
    adam = make_optimizer(net.parameters(), 0.1, cfg)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (
        cfg.optim.beta1,
        cfg.optim.beta2,
    )


def test_weight_decay_shrinks_the_weights_of_a_trained_vae(tmp_path):
    """A real effect, not only a stored option: the same VAE run with
    decay ends with smaller weights."""
    norms = {}
    for decay in (0.0, 0.5):
        cfg = tiny_config("vae", steps=20, ema=None)
        cfg.optim.weight_decay = decay
        trainer = Trainer(
            config_mod.validate(cfg), tmp_path / str(decay), progress=False, echo=lambda line: None
        )
        trainer.run()
        norms[decay] = sum(float(p.detach().norm()) for p in trainer.nets["decoder"].parameters())
    assert norms[0.5] < 0.95 * norms[0.0]


def test_rank_draw_is_the_plain_draw_with_one_process():
    draw = lambda n: torch.arange(n)  # noqa: E731
    assert torch.equal(rank_draw((0, 1), 4, draw), torch.arange(4))
    assert torch.equal(rank_draw((1, 2), 3, draw), torch.arange(3, 6))
