"""`config.build`, the one way to make a run's config: preset < file < dict sections < overrides,
then the generic validation and the recipe's own check, every error a one-line ConfigError."""

import pytest

import gankit
from gankit import config
from gankit.errors import ConfigError


@pytest.fixture
def short_file(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("train:\n  steps: 10\n  seed: 4\nmodel:\n  width: 16\n")
    return path


def test_each_layer_beats_the_one_before(short_file):
    preset = config.build("dcgan")
    assert (preset.train.steps, preset.model.width, preset.train.seed) == (2000, 32, 0)
    from_file = config.build("dcgan", short_file)
    assert (from_file.train.steps, from_file.model.width, from_file.train.seed) == (10, 16, 4)
    sections = config.build("dcgan", short_file, train={"steps": 20})
    assert (sections.train.steps, sections.model.width, sections.train.seed) == (20, 16, 4)
    overrides = config.build("dcgan", short_file, ["train.steps=30"], train={"steps": 20})
    assert (overrides.train.steps, overrides.model.width, overrides.train.seed) == (30, 16, 4)
    # what no layer names keeps the preset's value, not the dataclass default (width 64, ema None)
    assert overrides.train.ema == 0.999 and overrides.train.ema_start == 200


def test_a_file_goes_on_top_of_the_preset_it_names(tmp_path):
    path = tmp_path / "gp.yaml"
    path.write_text("preset: wgan-gp\noptim:\n  n_critic: 2\n")
    cfg = config.build(file=path)
    assert (cfg.preset, cfg.loss.kind, cfg.loss.gp, cfg.optim.n_critic) == (
        "wgan-gp",
        "wasserstein",
        10.0,
        2,
    )
    assert config.build().preset == "dcgan"  # no preset, no file: the default preset


def test_build_is_what_make_config_returns():
    built = config.build("sngan", overrides=["optim.lr_g=1e-4"], data={"source": "digits"})
    assert built == gankit.make_config("sngan", ["optim.lr_g=1e-4"], data={"source": "digits"})
    assert built.to_yaml() == gankit.make_config("sngan", ["optim.lr_g=1e-4"]).to_yaml()
    with pytest.raises(ConfigError, match="a config file is a path, not a list"):
        config.build("sngan", ["optim.lr_g=1e-4"])


@pytest.mark.parametrize(
    "preset, overrides, sections, message",
    [
        # the generic validation
        ("dcgan", ["optim.batch_size=1"], {}, "optim.batch_size must be at least 2"),
        ("dcgan", [], {"train": {"steps": 0}}, "steps must be at least 1"),
        ("vae", [], {"model": {"arch": "dcgan"}}, "unknown architecture 'dcgan' for recipe vae"),
        # each recipe's own check
        ("dcgan", [], {"loss": {"gp": -1}}, "cannot be negative"),
        ("ddpm", ["model.width=31"], {}, "model.width must be even for the U-Net"),
        ("vae", ["vae.likelihood=poisson"], {}, "unknown vae.likelihood 'poisson'"),
        ("tvae", ["vae.beta=-1"], {}, "vae.beta and vae.kl_warmup cannot be negative"),
        ("ctgan", ["loss.kind=ragan"], {}, "unknown loss 'ragan'"),
        # parsing
        ("dcgan", ["model.width=wide"], {}, "option 'model.width': expected an integer"),
        ("biggan", [], {}, "unknown preset 'biggan'"),
    ],
)
def test_validation_and_the_recipe_check_run_and_fail_in_one_line(
    preset, overrides, sections, message
):
    with pytest.raises(ConfigError, match=message) as raised:
        config.build(preset, overrides=overrides, **sections)
    assert "\n" not in str(raised.value)


def test_a_file_that_fails_validation_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("preset: ddpm\ndiffusion:\n  cond_drop: 1.5\n")
    with pytest.raises(ConfigError, match=r"diffusion.cond_drop must be in \[0, 1\)"):
        config.build(file=path)


def test_update_layers_without_checking_and_validate_checks():
    cfg = config.from_preset("dcgan")
    config.update(cfg, ["train.steps=5"], train={"steps": 0, "seed": 3})
    assert (cfg.train.steps, cfg.train.seed) == (5, 3)
    config.update(cfg, train={"steps": 0})
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        config.validate(cfg)
