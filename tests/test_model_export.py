"""`gankit export`: the sampling network alone, loadable by gankit.load and by its class alone;
`gankit sample -o DIR/`: one PNG a sample."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_TABLE, tiny_config
from PIL import Image
from safetensors.torch import load_file

import gankit
from gankit import cli, config, tabular
from gankit.errors import CheckpointError, ConfigError, GankitError
from gankit.export import save_png_folder
from gankit.model_export import export_model

DOC = Path(__file__).resolve().parents[1] / "docs" / "exports.md"


def _run(root: Path, preset: str, **options) -> Path:
    cfg = tiny_config(preset, steps=2, log_every=2, sample_every=100, checkpoint_every=100)
    for dotted, value in options.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return gankit.train(config.validate(cfg), out=root / preset, progress=False).run_dir


#: two steps of each family and architecture: EMA, a conditional G, spectral norm to fold
RUNS = {
    "dcgan": {"train__ema": 0.9, "train__ema_start": 0},
    "cgan": {"train__ema": 0.9},
    "sagan": {"model__width": 8},
    "seed-mlp": {},
    "vae": {"model__width": 8},
    "ddpm": {
        "model__width": 4,
        "diffusion__channel_mult": [1, 1, 1],
        "diffusion__timesteps": 30,
        "diffusion__sampling_steps": 3,
        "optim__batch_size": 16,
        "train__ema": 0.9,
    },
}


class Runs(dict):
    """The runs of `RUNS`, each trained when a test first asks for it."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, preset: str) -> Path:
        self[preset] = _run(self.root, preset, **RUNS[preset])
        return self[preset]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("export-runs"))


@pytest.mark.parametrize("preset", ["dcgan", "cgan", "sagan", "seed-mlp", "vae", "ddpm"])
def test_an_export_samples_as_its_run_bit_for_bit(runs, preset, tmp_path):
    out = export_model(runs[preset], tmp_path / "exported")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    run, exported = gankit.load(runs[preset]), gankit.load(out)
    assert exported.exported and exported.used_ema == run.used_ema
    assert exported.step == run.step and exported.sample_shape == run.sample_shape
    assert torch.equal(exported.sample(6, seed=3), run.sample(6, seed=3))
    assert not torch.equal(exported.sample(6, seed=4), run.sample(6, seed=3))
    # the weights are exactly state_dict() of the class config.json names, built from its kwargs
    described = json.loads((out / "config.json").read_text())
    spec = run.recipe.sampling_spec
    assert described["network"]["class"] == spec.class_path
    plain = spec.cls(**described["network"]["kwargs"])
    weights = load_file(out / "model.safetensors")
    assert sorted(weights) == sorted(plain.state_dict())
    assert described["config"] == run.config.to_dict()
    assert described["gankit_version"] == gankit.__version__


def test_the_sampling_weights_are_the_ema_ones_and_spectral_norm_is_folded(runs, tmp_path):
    out = export_model(runs["sagan"], tmp_path / "sagan")
    weights = load_file(out / "model.safetensors")
    assert not any("parametrizations" in k or k.endswith(("_u", "_v")) for k in weights)
    assert json.loads((out / "config.json").read_text())["config"]["model"]["g_spectral_norm"]
    ema = export_model(runs["dcgan"], tmp_path / "dcgan")
    run = gankit.load(runs["dcgan"])  # its nets are the EMA copies (used_ema)
    assert run.used_ema
    exported = load_file(ema / "model.safetensors")
    assert all(torch.equal(exported[k], v) for k, v in run.nets["G"].state_dict().items())


def test_raw_weights_are_the_networks_as_trained_and_an_export_has_none(runs, tmp_path, capsys):
    from gankit.train import checkpoint

    _, state = checkpoint.load_latest(runs["dcgan"])
    raw, averaged = gankit.load(runs["dcgan"], weights="raw"), gankit.load(runs["dcgan"])
    assert averaged.used_ema and not raw.used_ema
    trained = state["nets"]["G"]
    assert all(torch.equal(v, trained[k]) for k, v in raw.nets["G"].state_dict().items())
    assert not torch.equal(raw.sample(4, seed=1), averaged.sample(4, seed=1))
    npz = tmp_path / "raw.npz"
    assert (
        cli.main(["sample", str(runs["dcgan"]), "-n", "4", "--weights", "raw", "--npz", str(npz)])
        == 0
    )
    expected = ((raw.sample(4, seed=0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    assert np.array_equal(np.load(npz)["images"], expected[:, 0].numpy())  # grey: N x H x W
    with pytest.raises(ConfigError, match="holds the sampling weights only"):
        gankit.load(export_model(runs["dcgan"], tmp_path / "e"), weights="raw")
    with pytest.raises(ConfigError, match="weights must be one of ema, raw"):
        gankit.load(runs["dcgan"], weights="average")
    with pytest.raises(ConfigError, match="pass load"):
        gankit.evaluate(raw, "default", weights="raw")
    capsys.readouterr()
    assert cli.main(["sample", str(runs["dcgan"]), "--weights", "mean", "-o", "x.png"]) == 2
    assert "invalid choice: 'mean'" in capsys.readouterr().err


def test_a_diffusion_export_holds_its_sampler_and_a_vae_export_its_decoder(runs, tmp_path):
    ddpm = json.loads((export_model(runs["ddpm"], tmp_path / "d") / "config.json").read_text())
    assert ddpm["network"]["class"] == "gankit.nets.unet.UNet"
    assert ddpm["sampling"] == {
        "schedule": "linear",
        "timesteps": 30,
        "sampler": "ddim",
        "sampling_steps": 3,
        "eta": 0.0,
        "spacing": "trailing",
        "guidance": 1.0,
    }
    vae = export_model(runs["vae"], tmp_path / "v")
    assert "log_scale" not in load_file(vae / "model.safetensors")
    described = json.loads((vae / "config.json").read_text())
    assert described["network"]["class"] == "gankit.nets.vae.VAEDecoder"
    assert "sigmoid(out) * 2 - 1" in described["network"]["outputs"]


def _doc_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    (snippet,) = [b for b in blocks if "load_state_dict" in b]
    return snippet


@pytest.mark.parametrize("preset", ["dcgan", "sagan", "seed-mlp"])
def test_the_documented_snippet_loads_the_class_alone(runs, preset, tmp_path, monkeypatch):
    """docs/exports.md's code, run verbatim in a folder holding the export as DIR (for resnet and
    mlp with the class config.json names, as the doc says)."""
    export_model(runs[preset], tmp_path / "DIR")
    monkeypatch.chdir(tmp_path)
    described = json.loads((tmp_path / "DIR" / "config.json").read_text())
    module, name = described["network"]["class"].rsplit(".", 1)
    code = _doc_snippet().replace(
        "gankit.nets.dcgan import DCGANGenerator", f"{module} import {name}"
    )
    code = code.replace("DCGANGenerator(", f"{name}(")
    assert (code == _doc_snippet()) == (preset == "dcgan")
    torch.manual_seed(0)
    namespace: dict = {}
    exec(code, namespace)
    model = gankit.load(runs[preset])
    with torch.no_grad():
        expected = model.recipe.generate(namespace["z"], nets=model.nets)
    assert namespace["images"].shape == (16, *model.sample_shape)
    assert torch.equal(namespace["images"].detach(), expected)


def test_refusals_leave_everything_untouched(runs, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty"):
        export_model(runs["dcgan"], full)
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    empty_run = tmp_path / "no-checkpoint"
    empty_run.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        export_model(empty_run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        export_model(runs["dcgan"], a_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full", "no-checkpoint"]


def test_a_table_model_is_refused_in_one_line(tmp_path):
    r = np.random.default_rng(0)
    table = pd.DataFrame({"x": r.normal(size=60), "c": r.choice(["a", "b"], 60)})
    tabular.fit(table, tmp_path / "run", model="tvae", epochs=1, overrides=TINY_TABLE)
    with pytest.raises(ConfigError, match="table transformer"):
        export_model(tmp_path / "run", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_damaged_export_is_refused(runs, tmp_path):
    out = export_model(runs["dcgan"], tmp_path / "e")
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        gankit.load(out)
    described = json.loads((out / "config.json").read_text())
    described["version"] = 99
    (out / "config.json").write_text(json.dumps(described))
    with pytest.raises(CheckpointError, match="newer gankit"):
        gankit.load(out)


def test_the_cli_exports_and_samples_an_export_into_a_folder(runs, tmp_path, capsys):
    assert cli.main(["export", str(runs["dcgan"]), "-o", str(tmp_path / "e")]) == 0
    assert cli.main(["sample", str(tmp_path / "e"), "-n", "5", "-o", f"{tmp_path}/fakes/"]) == 0
    files = sorted((tmp_path / "fakes").iterdir())
    assert [p.name for p in files] == [f"{i:06d}.png" for i in range(5)]
    expected = gankit.load(runs["dcgan"]).sample(5, seed=0)
    pixels = expected.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    assert all(
        np.array_equal(np.asarray(Image.open(f)), p) for f, p in zip(files, pixels, strict=True)
    )
    # an existing empty folder takes the files too; a grid name keeps writing a grid
    (tmp_path / "empty").mkdir()
    assert cli.main(["sample", str(runs["dcgan"]), "-n", "3", "-o", str(tmp_path / "empty")]) == 0
    assert len(list((tmp_path / "empty").iterdir())) == 3
    assert cli.main(["sample", str(runs["dcgan"]), "-n", "3", "-o", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size != (8, 8)
    capsys.readouterr()
    assert cli.main(["sample", str(runs["dcgan"]), "-n", "3", "-o", str(tmp_path / "fakes")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert cli.main(["export", str(runs["dcgan"]), "-o", str(tmp_path / "e")]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_points_have_no_image_files(tmp_path):
    with pytest.raises(GankitError, match="--npz"):
        save_png_folder(torch.zeros(4, 2), tmp_path / "points")
    assert not (tmp_path / "points").exists()


FEATURES = """
from torch import nn

def make():
    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten())
"""


@pytest.mark.parametrize("preset", ["dcgan", "vae"])
def test_an_export_scores_as_its_run(runs, preset, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "features.py").write_text(FEATURES)
    out = export_model(runs[preset], tmp_path / "e")
    options = {"features": f"{tmp_path / 'features.py'}:make", "metrics": "fid", "n": 100}
    from_run, from_export = (
        gankit.evaluate(runs[preset], **options),
        gankit.evaluate(out, **options),
    )
    assert from_export.pop("checkpoint") == str(out)
    assert from_run.pop("checkpoint") != str(out) and from_export["fid"] == from_run["fid"]
    if preset == "vae":  # the export holds the decoder alone: no held-out bound
        assert "nelbo_nats" in str(from_run) and from_export == {
            k: v for k, v in from_run.items() if k in from_export
        }
    else:
        assert from_export == from_run
