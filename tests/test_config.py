import pytest
from conftest import tiny_config

import gankit
from gankit import config
from gankit.errors import ConfigError
from gankit.train import Trainer


def test_presets_hold_the_papers_settings():
    seed = config.from_preset("seed-mlp")
    assert (seed.model.arch, seed.model.z_dim, seed.model.hidden) == ("mlp", 100, [256, 512])
    assert (seed.optim.batch_size, seed.optim.lr_g, seed.optim.lr_d) == (64, 2e-4, 2e-4)
    assert seed.train.ema is None and seed.loss.kind == "non-saturating"
    dc = config.from_preset("dcgan")
    assert dc.model.arch == "dcgan" and dc.optim.beta1 == 0.5


def test_overrides_are_typed_and_checked():
    cfg = config.apply_overrides(
        config.from_preset("dcgan"),
        ["optim.lr_g=1e-4", "train.ema=null", "model.width=16", "train.steps=7"],
    )
    assert cfg.optim.lr_g == 1e-4 and isinstance(cfg.optim.lr_g, float)
    assert cfg.train.ema is None and cfg.model.width == 16 and cfg.train.steps == 7
    for bad in [
        "optim.nope=1",
        "nope=1",
        "model.width=wide",
        "optim.lr_g",
        "train.channels_last=3",
        "optim=1",
    ]:
        with pytest.raises(ConfigError):
            config.apply_overrides(config.from_preset("dcgan"), [bad])


def test_unknown_preset_and_invalid_values():
    with pytest.raises(ConfigError, match="unknown preset"):
        config.from_preset("biggan")
    cfg = config.from_preset("dcgan")
    cfg.train.ema = 1.5
    with pytest.raises(ConfigError, match="ema"):
        config.validate(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr_g=nan", "optim.lr_g must be a finite number, got nan"),
        ("optim.lr_d=inf", "optim.lr_d must be a finite number, got inf"),
        ("loss.gp=nan", "loss.gp must be a finite number"),
        ("optim.weight_decay=nan", "optim.weight_decay must be a finite number"),
        ("optim.beta2=-1", r"optim.beta2 must be in \[0, 1\), got -1.0"),
        ("optim.beta1=1", r"optim.beta1 must be in \[0, 1\), got 1.0"),
        ("train.minutes=nan", "train.minutes must be a finite number"),
        ("train.seed=8796093022208", "train.seed must be in -8796093022208..8796093022207"),
        ("data.resolution=-8", "data.resolution must be at least 1"),
        ("data.toy_samples=-5", "data.toy_samples must be at least 1"),
        ("ddpm:model.width=3", "model.width must be even for the U-Net"),
        ("dcgan:train.ema_rampup=0", "train.ema_rampup must be a positive share"),
        ("dcgan:train.ema_rampup=inf", "train.ema_rampup must be a"),
        ("train.ema_rampup=0.05", "train.ema_rampup ramps up an EMA: set train.ema"),
        ("dcgan:model.upsample=resize", "'model.upsample' is read by recipe cyclegan, not by gan"),
    ],
)
def test_numbers_torch_would_refuse_mid_run_are_refused_up_front(override, message):
    preset, _, override = override.rpartition(":")
    with pytest.raises(ConfigError, match=message):
        config.validate(
            config.apply_overrides(config.from_preset(preset or "seed-mlp"), [override])
        )


def test_seeds_at_both_ends_of_the_range_train(tmp_path):
    """The trainer derives seeds from the seed (data order: seed x 1,000,003 + epoch), which
    overflowed torch's 64 bits mid-run for seeds from about 2**43 on: hence the range."""
    for seed in config.SEED_RANGE:
        cfg = tiny_config("dcgan", steps=2, seed=seed)
        assert (
            Trainer(cfg, tmp_path / str(seed), progress=False, echo=lambda line: None).run().step
            == 2
        )


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        config.load(tmp_path / "c.yaml")


def test_a_short_config_file_changes_only_what_it_lists_on_its_preset(tmp_path):
    """`gankit train --config FILE`: the file's values on top of the preset it names. Merged onto
    the bare defaults, `preset: wgan-gp` with one learning rate trained dcgan's loss under
    wgan-gp's name, and `preset: nope` trained at all."""
    (tmp_path / "c.yaml").write_text("preset: wgan-gp\noptim:\n  lr_g: 5.0e-5\n")
    cfg = config.load(tmp_path / "c.yaml", base="dcgan")
    wgan_gp = config.from_preset("wgan-gp")
    assert (cfg.preset, cfg.loss.gp, cfg.optim.n_critic, cfg.optim.lr_g) == (
        "wgan-gp",
        wgan_gp.loss.gp,
        5,
        5e-5,
    )
    (tmp_path / "d.yaml").write_text("optim:\n  lr_g: 5.0e-5\n")
    assert (
        config.load(tmp_path / "d.yaml", base="sngan").loss.kind
        == config.from_preset("sngan").loss.kind
    )
    for text in ("preset: nope\n", "preset: [1, 2]\n"):
        (tmp_path / "e.yaml").write_text(text)
        with pytest.raises(ConfigError, match="unknown preset"):
            config.load(tmp_path / "e.yaml", base="dcgan")


def test_yaml_round_trip(tmp_path):
    cfg = config.apply_overrides(
        config.from_preset("seed-mlp"), ["train.seed=5", "data.source=mnist"]
    )
    cfg.save(tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize(
    "preset, override, message",
    [
        ("dcgan", "model.blocks=4", "'model.blocks' is read by recipe cyclegan, not by gan"),
        ("vae", "model.patch=34", "read by recipes pix2pix and cyclegan, not by vae"),
        ("pix2pix", "model.cycle=5", "'model.cycle' is read by recipe cyclegan, not by pix2pix"),
        ("cyclegan", "model.l1=50", "'model.l1' is read by recipe pix2pix, not by cyclegan"),
    ],
)
def test_a_model_option_only_other_recipes_read_is_refused(preset, override, message):
    with pytest.raises(ConfigError, match=message):
        gankit.make_config(preset, [override])
    own = {"pix2pix": ("l1", 50.0), "cyclegan": ("cycle", 5.0)}.get(preset)
    if own:  # the recipe's own option passes
        key, value = own
        assert getattr(gankit.make_config(preset, [f"model.{key}={value}"]).model, key) == value
