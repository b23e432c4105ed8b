"""`train.tensorboard=true`: the figures of metrics.jsonl and the sample grids as TensorBoard
events, read back with TensorBoard's own reader; the one-line error without the package."""

import importlib.util
import io
import json
import sys

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from gankit import cli
from gankit.errors import ConfigError
from gankit.train import Trainer

needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="the tensorboard package is not installed (pip install 'gankit[tensorboard]')",
)

FEATURES = """
from torch import nn

def make():
    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten())
"""


def _config(steps, **train):
    return tiny_config(
        steps=steps,
        log_every=1,
        sample_every=2,
        checkpoint_every=2,
        tensorboard=True,
        **train,
    )


def _train(run, steps, resume=False, **train):
    trainer = Trainer(_config(steps, **train), run, resume=resume, progress=False)
    try:
        return trainer.run()
    finally:
        trainer.close()


def _events(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def _expected(run) -> dict[str, dict[int, float]]:
    """metrics.jsonl's numbers as the tags they are written under, by step."""
    expected: dict[str, dict[int, float]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "eval" in record:
            figures = {f"eval/{k}": v for k, v in record["eval"].items()}
            figures["eval/eval_seconds"] = record["eval_seconds"]
        else:
            figures = {f"train/{k}": v for k, v in record.items() if k != "step"}
        for tag, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                expected.setdefault(tag, {})[record["step"]] = value
    return expected


def _assert_same_as_metrics(run):
    events, expected = _events(run), _expected(run)
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, values in expected.items():
        written = [(e.step, e.value) for e in events.Scalars(tag)]
        # one value a step (none left over from a session resumed before it), as 32-bit floats
        assert written == [(step, float(np.float32(v))) for step, v in values.items()], tag
    images = events.Images("samples")
    grids = {e.step: e for e in images}
    pngs = sorted((run / "samples").glob("step_*.png"))
    assert [e.step for e in images] == [int(p.stem[5:]) for p in pngs]
    for png in pngs:
        shown = Image.open(io.BytesIO(grids[int(png.stem[5:])].encoded_image_string))
        assert np.array_equal(np.asarray(shown.convert("L")), np.asarray(Image.open(png)))
    return expected


@needs_tensorboard
def test_the_events_hold_every_figure_of_metrics_jsonl_and_every_grid(tmp_path):
    (tmp_path / "features.py").write_text(FEATURES)
    run = tmp_path / "run"
    _train(
        run,
        4,
        eval_every=2,
        eval_features=f"{tmp_path / 'features.py'}:make",
        eval_samples=64,
        eval_metrics="fid",
    )
    expected = _assert_same_as_metrics(run)
    assert sorted(expected["train/loss_d"]) == [1, 2, 3, 4]
    assert sorted(expected["eval/fid"]) == [2, 4] and "train/d_real" in expected


@needs_tensorboard
def test_a_resumed_run_appends_and_hides_what_it_trains_again(tmp_path):
    run = tmp_path / "run"
    _train(run, 4)
    # as if killed after logging step 4 but before its checkpoint: resume from step 2
    (run / "checkpoints" / "step_0000004.safetensors").unlink()
    _train(run, 6, resume=True)
    assert len(list((run / "tensorboard").iterdir())) == 2  # one events file a session
    expected = _assert_same_as_metrics(run)
    assert sorted(expected["train/loss_d"]) == [1, 2, 3, 4, 5, 6]


def test_without_the_package_the_run_is_refused_before_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ConfigError, match=r'pip install "gankit\[tensorboard\]"'):
        Trainer(_config(2), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    code = cli.main(
        ["train", "--steps", "2", "--out", str(tmp_path / "cli"), "train.tensorboard=true"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "gankit: error: train.tensorboard=true needs the tensorboard package: pip install "
        '"gankit[tensorboard]"'
    ]
    assert not (tmp_path / "cli").exists()
