import pytest

from gankit import config
from gankit.errors import ConfigError


def test_presets_hold_the_papers_settings():
    seed = config.from_preset("seed-mlp")
    assert (seed.model.arch, seed.model.z_dim, seed.model.hidden) == ("mlp", 100, [256, 512])
    assert (seed.optim.batch_size, seed.optim.lr_g, seed.optim.lr_d) == (64, 2e-4, 2e-4)
    assert seed.train.ema is None and seed.loss.kind == "non-saturating"
    dc = config.from_preset("dcgan")
    assert dc.model.arch == "dcgan" and dc.optim.beta1 == 0.5


def test_overrides_are_typed_and_checked():
    cfg = config.apply_overrides(config.from_preset("dcgan"),
                                 ["optim.lr_g=1e-4", "train.ema=null", "model.width=16", "train.steps=7"])
    assert cfg.optim.lr_g == 1e-4 and isinstance(cfg.optim.lr_g, float)
    assert cfg.train.ema is None and cfg.model.width == 16 and cfg.train.steps == 7
    for bad in ["optim.nope=1", "nope=1", "model.width=wide", "optim.lr_g", "train.channels_last=3", "optim=1"]:
        with pytest.raises(ConfigError):
            config.apply_overrides(config.from_preset("dcgan"), [bad])


def test_unknown_preset_and_invalid_values():
    with pytest.raises(ConfigError, match="unknown preset"):
        config.from_preset("biggan")
    cfg = config.from_preset("dcgan")
    cfg.train.ema = 1.5
    with pytest.raises(ConfigError, match="ema"):
        config.validate(cfg)


def test_yaml_round_trip(tmp_path):
    cfg = config.apply_overrides(config.from_preset("seed-mlp"), ["train.seed=5", "data.source=mnist"])
    cfg.save(tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == cfg
