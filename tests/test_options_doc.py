"""`gankit options`: the listing is read from the config definitions and `train` takes it back."""

import dataclasses

import pytest

from gankit import cli
from gankit import config as config_mod
from gankit.options_doc import field_comments, list_options


@dataclasses.dataclass
class _Layouts:
    plain: int = 1  # on its line
    wrapped: str = (
        "x"  # inside the parentheses, where ruff keeps a comment that makes the line too long
    )
    # and on the next line
    continued: float = 2.0  # first line
    # second line
    bare: int = 3

    # after a blank line: nobody's
    listed: list[int] = dataclasses.field(default_factory=lambda: [1, 2])  # a list

    def method(self) -> int:
        value = 4  # a method's comment is no field's
        return value


def test_field_comments_read_every_layout_ruff_writes():
    assert field_comments(_Layouts) == {
        "plain": "on its line",
        "wrapped": "inside the parentheses, where ruff keeps a comment that makes the line "
        "too long and on the next line",
        "continued": "first line second line",
        "bare": "",
        "listed": "a list",
    }


@pytest.mark.parametrize("preset", list(config_mod.PRESETS))
def test_every_listed_option_is_accepted_back_and_changes_nothing(preset):
    """`key=<default>` for every option listed, all at once, builds the preset's own config."""
    docs = list_options(preset)
    overrides = [f"{d.key}={d.default}" for d in docs]
    built = config_mod.build(preset, overrides=overrides)
    assert built.to_dict() == config_mod.from_preset(preset).to_dict()


def test_every_option_of_every_recipe_has_a_meaning():
    """Adding a config field without a comment beside it fails here."""
    keys, missing = set(), []
    for preset in config_mod.PRESETS:
        for doc in list_options(preset):
            keys.add(doc.key)
            if not doc.meaning:
                missing.append(doc.key)
    assert not missing, f"options without a comment in their dataclass: {sorted(set(missing))}"
    cfg = config_mod.from_preset(config_mod.DEFAULT_PRESET)
    every = {k for k in config_mod._option_keys(cfg) if "." in k}
    assert keys == every  # every section of every recipe was listed by some preset


def test_only_the_sections_the_recipe_reads():
    sections = {p: {d.key.split(".")[0] for d in list_options(p)} for p in ("dcgan", "vae", "ddpm")}
    assert sections["dcgan"] == {"data", "model", "loss", "optim", "train"}
    assert sections["vae"] == {"data", "model", "optim", "train", "vae"}
    assert sections["ddpm"] == {"data", "model", "optim", "train", "diffusion"}
    assert [d.key for d in list_options()] == [d.key for d in list_options("dcgan")]


def test_cli_shows_the_presets_values(capsys):
    assert cli.main(["options", "wgan-gp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# preset wgan-gp (recipe gan)")
    by_key = {line.split("=", 1)[0]: line for line in lines[1:]}
    assert by_key["loss.gp"].split()[0] == "loss.gp=10.0"
    assert by_key["loss.gp"].split()[1] == "float"
    assert "gradient penalty" in by_key["loss.gp"]
    assert by_key["optim.n_critic"].split()[0] == "optim.n_critic=5"
    assert cli.main(["options"]) == 0
    default = capsys.readouterr().out
    assert "\nloss.gp=0.0 " in default and "# preset dcgan" in default


def test_cli_refuses_an_unknown_preset_in_one_line(capsys):
    assert cli.main(["options", "dcgam"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: unknown preset 'dcgam'") and "\n" not in err
