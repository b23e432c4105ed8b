"""The recipe registry: each recipe declares its architectures, data, option sections, presets and
check next to its code; config.py assembles the presets and the Config from it, names the recipe
in an unknown option's error with the closest key, and refuses options no chosen recipe reads."""

import dataclasses
import subprocess
import sys

import pytest

from gankit import config
from gankit.cli import main
from gankit.errors import ConfigError
from gankit.recipes import RECIPES


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_declares_archs_data_options_presets_and_a_check(name):
    recipe = RECIPES[name]
    assert recipe.archs and all(isinstance(a, str) for a in recipe.archs)
    assert recipe.trains_on in ("images", "tables")
    assert all(dataclasses.is_dataclass(s) for s in recipe.options.values())
    assert recipe.presets and callable(recipe.check)
    for preset in recipe.presets:
        cfg = config.from_preset(preset)
        assert cfg.recipe == name and cfg.model.arch in recipe.archs
        assert (cfg.data.source == "table") == (recipe.trains_on == "tables")
        recipe.check(cfg)  # every preset passes its own recipe's rules
        for section in recipe.options:
            assert dataclasses.is_dataclass(getattr(cfg, section))


def test_presets_and_sections_are_assembled_in_registry_order():
    assert list(config.PRESETS) == [p for r in RECIPES.values() for p in r.presets]
    assert list(config.PRESETS)[:3] == ["seed-mlp", "dcgan", "gan"]
    assert [f.name for f in dataclasses.fields(config.Config)] == [
        "preset",
        "recipe",
        "data",
        "model",
        "loss",
        "optim",
        "train",
        "vae",
        "diffusion",
    ]
    cfg = config.Config()
    assert (cfg.vae.beta, cfg.diffusion.timesteps) == (1.0, 1000)  # read as attributes


@pytest.mark.parametrize(
    "preset, override, message",
    [
        (
            "dcgan",
            "model.wdith=3",
            "unknown option 'model.wdith' for recipe gan (did you mean model.width?)",
        ),
        (
            "vae",
            "vae.betta=2",
            "unknown option 'vae.betta' for recipe vae (did you mean vae.beta?)",
        ),
        (
            "ddpm",
            "difusion.guidance=2",
            "unknown option 'difusion.guidance' for recipe diffusion "
            "(did you mean diffusion.guidance?)",
        ),
        ("dcgan", "optim.zzzzzz=1", "unknown option 'optim.zzzzzz' for recipe gan"),
    ],
)
def test_a_misspelt_option_names_the_recipe_and_the_closest_key(preset, override, message):
    with pytest.raises(ConfigError) as raised:
        config.build(preset, overrides=[override])
    assert str(raised.value) == message


def test_the_cli_prints_the_suggestion_in_one_line(capsys):
    assert main(["train", "--preset", "dcgan", "model.wdith=3"]) == 2
    assert capsys.readouterr().err == (
        "gankit: error: unknown option 'model.wdith' for recipe gan (did you mean model.width?)\n"
    )


def test_a_misspelt_key_in_a_dict_section_is_named_the_same_way():
    with pytest.raises(ConfigError) as raised:
        config.build("vae", vae={"betta": 2})
    assert str(raised.value) == "unknown option 'vae.betta' for recipe vae (did you mean vae.beta?)"


@pytest.mark.parametrize(
    "preset, override, sections, message",
    [
        (
            "dcgan",
            ["diffusion.guidance=2"],
            {},
            "option 'diffusion.guidance' is read by recipe diffusion, not by gan (preset dcgan)",
        ),
        (
            "ddpm",
            ["vae.beta=2"],
            {},
            "option 'vae.beta' is read by recipes vae and tvae, not by diffusion (preset ddpm)",
        ),
        (
            "vae",
            ["loss.kind=hinge"],
            {},
            "option 'loss.kind' is read by recipes gan and ctgan, not by vae (preset vae)",
        ),
        (
            "dcgan",
            [],
            {"diffusion": {"guidance": 2}},
            "option 'diffusion.guidance' is read by recipe diffusion, not by gan (preset dcgan)",
        ),
    ],
)
def test_an_option_of_a_section_the_recipe_does_not_read_is_refused(
    preset, override, sections, message
):
    with pytest.raises(ConfigError) as raised:
        config.build(preset, overrides=override, **sections)
    assert str(raised.value) == message


@pytest.mark.parametrize("preset", list(config.PRESETS))
def test_a_saved_config_of_every_preset_round_trips(tmp_path, preset):
    cfg = config.build(preset)
    cfg.save(tmp_path / "config.yaml")
    assert config.load(tmp_path / "config.yaml") == cfg
    again = config.build(file=tmp_path / "config.yaml")
    assert again == cfg and again.to_yaml() == (tmp_path / "config.yaml").read_text()


def test_a_saved_run_with_foreign_sections_changed_still_loads(tmp_path):
    """Runs saved before foreign options were refused list every section, some not at defaults."""
    cfg = config.build("dcgan")
    text = cfg.to_yaml().replace("guidance: 1.0", "guidance: 2.0").replace("beta: 1.0", "beta: 3.0")
    (tmp_path / "config.yaml").write_text(text)
    loaded = config.build(file=tmp_path / "config.yaml")
    assert (loaded.diffusion.guidance, loaded.vae.beta, loaded.recipe) == (2.0, 3.0, "gan")
    assert loaded.to_yaml() == text


def test_config_imports_on_its_own():
    code = "import gankit.config as c; print(c.Config().recipe, len(c.PRESETS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["gan", str(len(config.PRESETS))]


def test_reads_tells_which_recipe_takes_an_override():
    """`gankit compare` hands one list of overrides to models of several recipes."""
    assert config.reads("diffusion", "diffusion.timesteps=60")
    assert not config.reads("gan", "diffusion.timesteps=60")
    assert not config.reads("vae", "loss.kind=hinge") and config.reads("ctgan", "loss.kind=hinge")
    assert config.reads("tvae", "vae.beta=2") and config.reads("gan", "train.steps=3")
    assert config.reads("gan", "trian.steps=3")  # a typo is passed on, to be refused by name
