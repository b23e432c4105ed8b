"""The CLI's commands alike: presets `train` offers, `info` by family, progress bars, errors."""

import json

import pytest
import yaml
from conftest import tiny_config

import gankit
from gankit import cli
from gankit import config as config_mod
from gankit.recipes import RECIPES


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_train_help_offers_the_image_presets_only(capsys):
    text = "".join(_help(capsys, "train").split())  # argparse wraps names at their hyphens
    tables = [p for r in RECIPES.values() if r.trains_on == "tables" for p in r.presets]
    images = [p for p in config_mod.PRESETS if p not in tables]
    assert tables == ["ctgan", "tvae"] and len(images) >= 10
    assert f"oneof:{','.join(images)}(defaultdcgan;" in text
    assert not any(name in text for name in tables)
    assert cli.train_presets() == images


def test_train_refuses_a_table_preset_in_one_line(capsys):
    assert cli.main(["train", "--preset", "tvae", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "gankit tabular fit" in err


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory):
    """A five-step GAN run and VAE run (one health verdict each) on the embedded digits."""
    runs = {}
    for preset in ("dcgan", "vae"):
        out = tmp_path_factory.mktemp("info") / preset
        gankit.train(tiny_config(preset, steps=5), out=out, progress=False)
        runs[preset] = out
    return runs


@pytest.mark.parametrize(
    ("preset", "own", "foreign"),
    [("dcgan", "loss", {"vae", "diffusion"}), ("vae", "vae", {"loss", "diffusion"})],
)
def test_info_is_yaml_with_the_familys_sections_only(family_runs, capsys, preset, own, foreign):
    assert cli.main(["info", str(family_runs[preset])]) == 0
    info = yaml.safe_load(capsys.readouterr().out)
    assert info["step"] == 5 and info["last health"] == "warming up"
    assert info["config"]["preset"] == preset
    sections = {k for k, v in info["config"].items() if isinstance(v, dict)}
    assert sections == {"data", "model", "optim", "train", own}
    assert info["config"]["train"]["steps"] == 5
    assert cli.main(["info", str(family_runs[preset]), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert own in as_json["config"] and not foreign & as_json["config"].keys()
    assert as_json["step"] == 5 and as_json["last_health"]["verdict"] == "warming up"
