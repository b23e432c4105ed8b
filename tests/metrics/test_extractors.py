import importlib.util
import json

import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.config import DataConfig
from gankit.data import Dataset, load_dataset
from gankit.errors import ConfigError
from gankit.metrics.evaluate import evaluate
from gankit.metrics.extractors import load_extractor, to_inception_input
from gankit.metrics.reference import data_key, reference_features
from gankit.train import Trainer

USER_MODULE = """
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh())
"""


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "feats.py"
    path.write_text(USER_MODULE)
    return path


def test_user_module_extractor_and_cached_reference(user_file, tmp_path):
    extractor = load_extractor(f"{user_file}:make")
    data = load_dataset(DataConfig(source="digits"))
    first = reference_features(data, extractor, tmp_path / "cache")
    files = list((tmp_path / "cache").iterdir())
    assert first.shape == (1797, 16) and len(files) == 1 and data_key(data) in files[0].name
    assert torch.equal(reference_features(data, extractor, tmp_path / "cache"), first)
    other = Dataset(data.x.flip(-1), data.y, name="digits")
    assert data_key(other) != data_key(data)
    result = evaluate(
        extractor, data, data.all()[:500], ["fid", "pr"], cache_dir=tmp_path / "cache"
    )
    assert result["fid"] < 1.0 and result["precision"] > 0.9
    with pytest.raises(ConfigError, match="need a classifier"):
        evaluate(extractor, data, data.all()[:50], ["classes"], cache_dir=tmp_path / "cache")


def test_bad_extractor_specs(tmp_path, user_file):
    with pytest.raises(ConfigError, match="does not exist"):
        load_extractor(f"{tmp_path / 'nope.py'}:make")
    with pytest.raises(ConfigError, match="no callable 'build'"):
        load_extractor(f"{user_file}:build")


@pytest.mark.skipif(
    importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity installed"
)
def test_inception_without_torch_fidelity_is_a_clear_error():
    with pytest.raises(ConfigError, match="torch-fidelity"):
        load_extractor("inception")


def test_inception_input_is_uint8_rgb():
    x = to_inception_input(torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3))
    assert (
        x.dtype == torch.uint8
        and x.shape == (1, 3, 1, 3)
        and x[0, :, 0].tolist() == [[0, 128, 255]] * 3
    )


def test_training_logs_fid_over_time(user_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config(
        steps=20,
        eval_every=10,
        eval_features=f"{user_file}:make",
        eval_samples=200,
        eval_metrics="fid,pr",
    )
    Trainer(cfg, tmp_path / "run", progress=False).run()
    evals = [
        json.loads(x)
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if '"eval"' in x
    ]
    assert [e["step"] for e in evals] == [10, 20]
    assert all(e["eval"]["fid"] > 0 and 0 <= e["eval"]["recall"] <= 1 for e in evals)


def test_a_few_shot_run_is_evaluated_against_the_set_it_came_from(user_file, tmp_path, monkeypatch):
    from gankit.data import load_reference

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    features = f"{user_file}:make"
    cfg = tiny_config(
        steps=10, eval_every=10, eval_features=features, eval_samples=100, eval_reference="full"
    )
    cfg.data.classes, cfg.data.limit, cfg.optim.batch_size = "3", 40, 16
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer.run()
    [logged] = [
        json.loads(x)["eval"]
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if '"eval"' in x
    ]
    full = load_reference(cfg.data, "full")
    assert len(trainer.data) == 40 and len(full) == 183  # the digits' threes
    latents = trainer.recipe.latents(100, torch.Generator().manual_seed(cfg.train.seed + 3))
    samples = trainer.sample(latents)
    extractor = load_extractor(features)
    assert logged["fid"] == pytest.approx(evaluate(extractor, full, samples, ["fid"])["fid"])
    assert logged["fid"] != pytest.approx(
        evaluate(extractor, trainer.data, samples, ["fid"])["fid"]
    )
    # gankit eval takes the same choice
    kept = gankit.evaluate(tmp_path / "run", features, metrics="fid", n=100)
    came_from = gankit.evaluate(tmp_path / "run", features, metrics="fid", n=100, reference="full")
    assert kept["reference_n"] == 40 and came_from["reference_n"] == 183
    assert "(40 of 183, data.limit_seed 0)" in kept["reference"]
    with pytest.raises(ConfigError, match="--reference is one of train, full"):
        gankit.evaluate(tmp_path / "run", features, n=100, reference="all")
    cfg.train.eval_reference = "everything"
    with pytest.raises(ConfigError, match="unknown train.eval_reference 'everything'"):
        Trainer(cfg, tmp_path / "other", progress=False)


PARAMETER_FREE = """
import torch
from torch import nn

class Pool(nn.Module):
    def __init__(self, sign):
        super().__init__()
        self.sign = sign

    def forward(self, x):
        return self.sign * nn.functional.avg_pool2d(x, 2).flatten(1)

def make():
    return Pool(1.0)

def neg():
    return Pool(-1.0)

def number():
    return 42

def scalar():
    return nn.Flatten(0)
"""


def test_cache_keys_tell_parameter_free_factories_and_edited_files_apart(tmp_path):
    """Without weights the weights' hash is the same for every module: the key also holds the
    factory's name and the file's content, else a second factory read the first one's features."""
    path = tmp_path / "pool.py"
    path.write_text(PARAMETER_FREE)
    make, neg = load_extractor(f"{path}:make"), load_extractor(f"{path}:neg")
    assert make.key != neg.key
    data = load_dataset(DataConfig(source="digits"))
    a, b = (reference_features(data, e, tmp_path / "cache") for e in (make, neg))
    assert torch.equal(b, -a) and len(list((tmp_path / "cache").iterdir())) == 2
    path.write_text(PARAMETER_FREE.replace("avg_pool2d(x, 2)", "avg_pool2d(x, 4)"))
    assert load_extractor(f"{path}:make").key != make.key


def test_a_factory_that_breaks_its_contract_is_a_clear_error(tmp_path):
    path = tmp_path / "pool.py"
    path.write_text(PARAMETER_FREE)
    with pytest.raises(ConfigError, match="must be a torch module, got int"):
        load_extractor(f"{path}:number")
    with pytest.raises(ConfigError, match=r"one row per image: 3 images gave \(192,\)"):
        load_extractor(f"{path}:scalar")(torch.zeros(3, 1, 8, 8))
