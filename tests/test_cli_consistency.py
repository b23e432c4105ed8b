"""The CLI's commands alike: presets `train` offers, `info` by family, progress bars, errors."""

import json
import sys

import pytest
import torch
import yaml
from conftest import tiny_config

import gankit
from gankit import api, cli, progress
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


def test_bench_help_offers_the_image_presets_only(capsys):
    text = "".join(_help(capsys, "bench").split())
    assert f"oneof:{','.join(cli.train_presets())};" in text
    assert "ctgan" not in text and "tvae" not in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare"], "gankit: error: compare: the following arguments are required"),
        (["sample"], "gankit: error: sample: the following arguments are required: run"),
        (["tabular", "fit"], "gankit: error: tabular fit: the following arguments are required"),
        (["train", "--bogus"], "gankit: error: train: unrecognized arguments: --bogus"),
        ([], "gankit: error: the following arguments are required: command"),
    ],
)
def test_errors_name_gankit_once(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("gankit") == 1 and err.count("\n") == 1


def test_a_closed_pipe_ends_quietly():
    """`gankit options | head -1`: the reader has gone; no error, the shell's SIGPIPE code. The
    pipe's reading end is closed before the command writes, so the write fails every time."""
    import subprocess

    script = (
        "import os, sys\n"
        "read, write = os.pipe()\n"
        "os.close(read)\n"
        "os.dup2(write, 1)\n"
        "from gankit import cli\n"
        "sys.exit(cli.main(['options']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == cli.EXIT_BROKEN_PIPE
    assert proc.stderr == b""


@pytest.mark.parametrize(
    "argv",
    [
        ["train"],
        ["sample", "RUN"],
        ["eval", "RUN"],
        ["mix", "RUN", "-o", "m.png"],
        ["interpolate", "RUN", "-o", "w.gif"],
        ["translate", "RUN", "IN", "-o", "OUT"],
    ],
)
def test_every_command_that_places_a_model_defaults_to_auto(argv):
    args = cli.parse_args(argv)
    device = getattr(args, "device", None) or config_mod.build("dcgan").train.device
    assert device == "auto"


def test_train_refuses_a_table_preset_in_one_line(capsys):
    assert cli.main(["train", "--preset", "tvae", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "gankit tabular fit" in err


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory):
    """A one-step GAN run and VAE run (one health verdict each) on the embedded digits."""
    runs = {}
    for preset in ("dcgan", "vae"):
        out = tmp_path_factory.mktemp("info") / preset
        gankit.train(tiny_config(preset, steps=1, log_every=1), out=out, progress=False)
        runs[preset] = out
    return runs


@pytest.mark.parametrize(
    ("preset", "own", "foreign"),
    [("dcgan", "loss", {"vae", "diffusion"}), ("vae", "vae", {"loss", "diffusion"})],
)
def test_info_is_yaml_with_the_familys_sections_only(family_runs, capsys, preset, own, foreign):
    assert cli.main(["info", str(family_runs[preset])]) == 0
    info = yaml.safe_load(capsys.readouterr().out)
    assert info["step"] == 1 and info["last health"] == "warming up"
    assert info["config"]["preset"] == preset
    sections = {k for k, v in info["config"].items() if isinstance(v, dict)}
    assert sections == {"data", "model", "optim", "train", own}
    assert info["config"]["train"]["steps"] == 1
    assert cli.main(["info", str(family_runs[preset]), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert own in as_json["config"] and not foreign & as_json["config"].keys()
    assert as_json["step"] == 1 and as_json["last_health"]["verdict"] == "warming up"


@pytest.mark.parametrize(
    ("asked", "terminal", "shown"),
    [(None, True, True), (None, False, False), (False, True, False), (True, False, True)],
)
def test_progress_rule(monkeypatch, asked, terminal, shown):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert progress.shows(asked) is shown


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    """A one-step diffusion run of 20 noise levels (cosine: linear needs more), so DDPM
    sampling takes 20 steps."""
    out = tmp_path_factory.mktemp("ddpm") / "run"
    cfg = tiny_config("ddpm", steps=1)
    config_mod.update(
        cfg,
        [
            "model.width=8",
            "diffusion.timesteps=20",
            "diffusion.schedule=cosine",
            "diffusion.sampling_steps=5",
        ],
    )
    gankit.train(cfg, out=out, progress=False)
    return out


@pytest.fixture
def bars(monkeypatch):
    """The sampling bars drawn, kept to read their counts once closed (tqdm redraws a bar at most
    every 0.1 s, so its text need not show the last count, and a closed bar reads as disabled)."""
    made = []

    def recording(*args, **kwargs):
        made.append(progress.bar(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(api, "progress_bar", recording)
    return made


@pytest.fixture(autouse=True)
def one_thread():
    """torch on one thread: two spin against each other on a loaded two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sample_stderr(capsys, monkeypatch, terminal, *argv) -> str:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert cli.main(["sample", *map(str, argv)]) == 0
    return capsys.readouterr().err


def test_ddpm_sampling_counts_its_steps_on_a_terminal_only(
    ddpm_run, tmp_path, capsys, monkeypatch, bars
):
    argv = [ddpm_run, "-n", 3, "--sampler", "ddpm", "--npz", tmp_path / "s.npz"]
    assert "sampling 3" in _sample_stderr(capsys, monkeypatch, True, *argv)
    assert bars[-1].n == bars[-1].total == 20  # a denoising step each
    assert _sample_stderr(capsys, monkeypatch, False, *argv) == ""
    assert _sample_stderr(capsys, monkeypatch, True, *argv, "--no-progress") == ""
    assert len(bars) == 3


def test_gan_sampling_counts_batches(family_runs, tmp_path, capsys, monkeypatch, bars):
    argv = [family_runs["dcgan"], "-n", 5, "--npz", tmp_path / "s.npz"]
    assert "sampling 5" in _sample_stderr(capsys, monkeypatch, True, *argv)
    assert bars[-1].n == bars[-1].total == 1
    model = gankit.load(family_runs["dcgan"])
    samples = model.sample(5, batch_size=2, progress=None)
    assert "sampling 5" in capsys.readouterr().err
    assert bars[-1].n == bars[-1].total == 3  # a batch each
    assert torch.equal(samples, model.sample(5, batch_size=2))  # the bar changes no sample
    assert capsys.readouterr().err == ""  # the API draws none unless asked


def test_train_classifier_bar_follows_the_rule(tmp_path, capsys, monkeypatch):
    """The bar is 'feature network: ...' (the low-accuracy warning names it too, without ':');
    off a terminal it is `progress.shows`'s rule, as sampling's above (two runs: 8 s)."""
    argv = ["train-classifier", "--data", "digits", "--epochs", "1", "--arch", "strided", "-o"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main([*argv, str(tmp_path / "a.safetensors")]) == 0
    assert "feature network:" in capsys.readouterr().err
    assert cli.main([*argv, str(tmp_path / "b.safetensors"), "--no-progress"]) == 0
    assert "feature network:" not in capsys.readouterr().err


def test_eval_sampling_bar_follows_the_rule(tmp_path, capsys, monkeypatch, bars):
    """A toy2d run is scored by mode coverage: the command's time is its sampling."""
    cfg = tiny_config("seed-mlp", steps=1)
    config_mod.update(cfg, ["data.source=toy2d"])
    gankit.train(cfg, out=tmp_path / "run", progress=False)
    argv = ["eval", str(tmp_path / "run"), "-n", "300"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(argv) == 0
    assert "sampling 300" in capsys.readouterr().err and bars[-1].n == bars[-1].total == 1
    assert cli.main([*argv, "--no-progress"]) == 0
    assert "sampling" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == "" and len(bars) == 3
