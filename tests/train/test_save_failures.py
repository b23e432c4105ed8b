"""A run whose writes fail (disk full, quota, read-only folder, no permission) stops with
one line and loses nothing: the previous checkpoint and the previous version of every file
stay, loadable, no half-written file is left, and `--resume` continues once the disk has
room. The failures are injected into the real write calls (tests/failing_disk.py); one test
uses a real read-only folder."""

import errno
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_TABLE, tiny_config
from failing_disk import ERRORS, FailingDisk, temp_files

import gankit.tabular as tabular
from gankit.cli import main
from gankit.errors import CheckpointError
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt

TINY_CLI = [
    "--data",
    "digits",
    "model.width=8",
    "train.log_every=5",
    "train.sample_every=10",
    "train.checkpoint_every=10",
    "train.device=cpu",
    "--no-progress",
]


def _weights(run_dir):
    state = ckpt.load(ckpt.resolve(run_dir))
    return state["step"], {f"{n}/{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("gankit: error: ")]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]) and "Traceback" not in err, err
    return lines[0]


def test_a_failing_periodic_save_stops_the_run_and_resume_continues_exactly(tmp_path, monkeypatch):
    """keep_checkpoints=1: the failed step-20 save must not cost the step-10 checkpoint (prune runs
    only after a save that worked), and training does not go on without checkpoints."""
    run = tmp_path / "run"
    disk = FailingDisk(monkeypatch, "step_0000020.safetensors", call="write")
    with pytest.raises(CheckpointError) as failure:
        Trainer(tiny_config(steps=30, keep_checkpoints=1), run, progress=False).run()
    assert disk.failed
    assert str(failure.value) == (
        f"could not write {run / 'checkpoints' / 'step_0000020.safetensors'} (disk full); "
        "earlier files are kept: training stopped at step 20; --resume continues from "
        "step_0000010.safetensors"
    )
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == [
        "step_0000010.safetensors"
    ]
    assert _weights(run)[0] == 10 and not temp_files(run)
    monkeypatch.undo()
    resumed = Trainer(
        tiny_config(steps=30, keep_checkpoints=1), run, resume=True, progress=False
    ).run()
    straight = Trainer(
        tiny_config(steps=30, keep_checkpoints=1), tmp_path / "straight", progress=False
    ).run()
    assert resumed.step == straight.step == 30
    (_, a), (_, b) = _weights(run), _weights(tmp_path / "straight")
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]


@pytest.mark.parametrize(
    "error, words",
    [e for e in ERRORS if e[0] != errno.EPERM],
    ids=[errno.errorcode[e] for e, _ in ERRORS if e != errno.EPERM],
)
def test_the_cli_says_it_in_one_line_with_exit_2_and_resume_works(
    tmp_path, monkeypatch, capsys, error, words
):
    run = tmp_path / "run"
    FailingDisk(monkeypatch, "step_0000020.safetensors", call="fsync", error=error)
    assert main(["train", "--steps", "30", "--out", str(run), *TINY_CLI]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == (
        f"gankit: error: could not write {run}/checkpoints/step_0000020.safetensors ({words}); "
        "earlier files are kept: training stopped at step 20; --resume continues from "
        "step_0000010.safetensors"
    )
    assert ckpt.load(ckpt.resolve(run))["step"] == 10 and not temp_files(run)
    monkeypatch.undo()
    assert main(["train", "--out", str(run), "--resume", "--steps", "30", "--no-progress"]) == 0
    assert ckpt.load(ckpt.resolve(run))["step"] == 30


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_a_real_read_only_checkpoint_folder(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--steps", "10", "--out", str(run), *TINY_CLI]) == 0
    before = ckpt.resolve(run).read_bytes()
    (run / "checkpoints").chmod(0o555)
    try:
        assert main(["train", "--out", str(run), "--resume", "--steps", "20", "--no-progress"]) == 2
    finally:
        (run / "checkpoints").chmod(0o755)
    assert "(permission denied); earlier files are kept" in _one_error_line(capsys.readouterr().err)
    assert ckpt.resolve(run).read_bytes() == before and not temp_files(run)


@pytest.mark.parametrize(
    "name, call, nth",
    [("config.yaml", "replace", 1), ("metrics.jsonl", "write", 2), ("step_0000020.png", "open", 1)],
)
def test_a_failing_config_log_or_grid_keeps_its_previous_version(
    tmp_path, monkeypatch, name, call, nth
):
    """Resuming a 10-step run to 30: config.yaml is rewritten first, metrics.jsonl rewritten (its
    lines up to the checkpoint) and then grows every 5 steps (the 2nd write: the line of step 15),
    a grid is written every 10 steps. Each failure stops the run and leaves the file as it was."""
    run = tmp_path / "run"
    Trainer(tiny_config(steps=10), run, progress=False).run()
    previous = {
        p.name: p.read_bytes()
        for p in (run / "config.yaml", run / "metrics.jsonl", run / "samples" / "step_0000010.png")
    }
    disk = FailingDisk(monkeypatch, name, call=call, nth=nth)
    failing = run / "samples" / name if name.endswith(".png") else run / name
    with pytest.raises(
        CheckpointError, match=re.escape(f"could not write {failing} (disk full); earlier files")
    ):
        Trainer(tiny_config(steps=30), run, resume=True, progress=False).run()
    assert disk.failed
    if name.endswith(".png"):
        assert (
            not failing.exists()
            and (run / "samples" / "step_0000010.png").read_bytes() == previous["step_0000010.png"]
        )
    else:
        assert failing.read_bytes() == previous[name]
    assert not temp_files(run) and ckpt.load(ckpt.resolve(run))["step"] == 10
    monkeypatch.undo()
    assert Trainer(tiny_config(steps=30), run, resume=True, progress=False).run().step == 30


def _table(n=40):
    r = np.random.default_rng(0)
    return pd.DataFrame({"amount": r.lognormal(3, 1, n).round(2), "grade": r.choice(["A", "B"], n)})


TABLE_OPTIONS = [
    *TINY_TABLE,
    "train.device=cpu",
    "train.log_every=5",
    "train.checkpoint_every=10",
]


def test_a_tabular_fit_whose_second_save_fails_keeps_a_model_that_loads_and_resumes(
    tmp_path, monkeypatch
):
    run = tmp_path / "fit"
    FailingDisk(monkeypatch, "step_0000020.safetensors", call="replace", error=errno.EROFS)
    with pytest.raises(
        CheckpointError,
        match="step_0000020.safetensors \\(read-only file system\\); earlier files "
        "are kept: training stopped at step 20",
    ):
        tabular.fit(_table(), run, epochs=15, overrides=TABLE_OPTIONS)  # 2 steps an epoch: 30 steps
    assert tabular.load(run).step == 10 and not temp_files(run)
    monkeypatch.undo()
    assert tabular.fit(_table(), run, epochs=15, resume=True).result.step == 30


@pytest.mark.parametrize("name", ["table.json", "step_0000010.safetensors"])
def test_a_fresh_tabular_fit_that_cannot_write_leaves_nothing_and_the_retry_works(
    tmp_path, monkeypatch, capsys, name
):
    """Nothing was kept (table.json, or the first checkpoint, failed): the folder goes, as for
    any fit that fails before its first checkpoint, so a retry is not refused."""
    _table().to_csv(tmp_path / "t.csv", index=False)
    argv = [
        "tabular",
        "fit",
        str(tmp_path / "t.csv"),
        "--out",
        str(tmp_path / "fit"),
        "--epochs",
        "10",
        "--no-progress",
        *TABLE_OPTIONS,
    ]
    FailingDisk(monkeypatch, name, call="write")
    assert main(argv) == 2
    assert f"{name}" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "fit").exists()
    monkeypatch.undo()
    assert main(argv) == 0 and tabular.load(tmp_path / "fit").step == 20


def test_a_failing_eval_json_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    run = tmp_path / "ring"
    assert (
        main(
            [
                "train",
                "--preset",
                "seed-mlp",
                "--data",
                "toy2d",
                "--steps",
                "20",
                "--out",
                str(run),
                "model.hidden=[16,16]",
                "train.log_every=10",
                "--no-progress",
            ]
        )
        == 0
    )
    report = tmp_path / "eval.json"
    assert main(["eval", str(run), "-n", "200", "--json", str(report)]) == 0
    before = report.read_bytes()
    FailingDisk(monkeypatch, "eval.json", call="write", error=errno.EACCES)
    assert main(["eval", str(run), "-n", "300", "--json", str(report)]) == 2
    assert f"could not write {report} (permission denied)" in _one_error_line(
        capsys.readouterr().err
    )
    assert report.read_bytes() == before and not temp_files(tmp_path)
