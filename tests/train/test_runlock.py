"""One writer per run directory: a second run on a folder in use is refused at once, in one line
naming the holder; a holder killed with SIGKILL leaves nothing that blocks; runs one after another
in one process (fresh, then resume) are not refused."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.cli import main
from gankit.data import Dataset
from gankit.errors import ConfigError, RunInUseError
from gankit.train import Trainer, runlock
from gankit.train import checkpoint as ckpt
from gankit.train.runlock import LOCK_FILE, RunLock

HOLD = (
    "import sys, time\nfrom gankit.train.runlock import RunLock\n"
    "lock = RunLock(sys.argv[1])\nlock.acquire()\nprint('locked', flush=True)\ntime.sleep(120)\n"
)


@pytest.fixture
def hold():
    """Another process holding the lock on a folder (killed at the end of the test)."""
    procs = []

    def start(folder):
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _refusal(pid: int) -> str:
    return f"is in use by another gankit run (pid {pid} on {socket.gethostname()}, started "


def test_the_cli_refuses_a_folder_another_process_trains_into(tmp_path, capsys, hold):
    run = tmp_path / "run"
    Trainer(tiny_config(steps=5), run, progress=False).run()
    capsys.readouterr()
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    table = tmp_path / "t.csv"
    table.write_text("a,b\n" + "".join(f"{i},{'xy'[i % 2]}\n" for i in range(40)))
    holder = hold(run)
    started = json.loads((run / LOCK_FILE).read_text())["started"]
    for argv in (
        ["train", "--out", str(run), "--resume", "--steps", "10"],
        ["train", "--out", str(run), "--steps", "5", "model.width=8"],
        ["tabular", "fit", str(table), "--out", str(run), "--epochs", "1"],
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.strip() == (
            f"gankit: error: {run} {_refusal(holder.pid)}{started}): "
            "wait for it to end, or choose another --out"
        ), argv
    assert {
        p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE
    } == before


def test_a_run_that_holds_its_folder_refuses_a_second_and_lets_go_at_the_end(tmp_path):
    run = tmp_path / "run"
    # the lock is taken here, before data and nets
    first = Trainer(tiny_config(steps=10), run, progress=False)
    mine = (
        f"{run} is in use by another gankit run "
        f"(pid {os.getpid()} (this process) on {socket.gethostname()}, "
    )
    with pytest.raises(RunInUseError, match=re.escape(mine)):
        Trainer(tiny_config(steps=10), run, progress=False)
    # a lock taken through another open file description, in this very process, is refused too
    with pytest.raises(RunInUseError):
        RunLock(run).acquire()
    first.run()
    # `first` is still alive
    second = Trainer(tiny_config(steps=20), run, resume=True, progress=False)
    assert second.step == 10 and second.run().step == 20
    other = RunLock(run)
    other.acquire()  # free after the run: nothing left to release
    other.release()


def test_fresh_then_resume_through_the_api_is_not_refused(tmp_path):
    run = tmp_path / "run"
    cfg = tiny_config(steps=10)
    assert gankit.train(cfg, out=run, progress=False).step == 10
    cfg.train.steps = 20
    assert gankit.train(cfg, out=run, resume=True, progress=False).step == 20


def test_a_holder_killed_with_sigkill_leaves_nothing_that_blocks(tmp_path):
    """A `gankit train` killed mid-run: its lock dies with it, the file stays and does not block,
    the temp file of a write it never finished goes, and `--resume` continues the run."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gankit",
            "train",
            "--steps",
            "100000",
            "--out",
            str(run),
            "--no-progress",
            "--data",
            "digits",
            "model.width=8",
            "train.log_every=5",
            "train.checkpoint_every=10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not ckpt.list_checkpoints(run / "checkpoints"):
            time.sleep(0.1)
        assert ckpt.list_checkpoints(run / "checkpoints"), "the run wrote no checkpoint in 60 s"
        with pytest.raises(RunInUseError, match=f"pid {proc.pid} on "):
            Trainer(tiny_config(steps=10), run, resume=True, progress=False)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    half_written = run / "checkpoints" / f".step_9999990.safetensors.tmp{proc.pid}"
    half_written.write_bytes(b"half a checkpoint")
    assert (run / LOCK_FILE).exists()
    resumed = Trainer(tiny_config(steps=10), run, resume=True, progress=False)
    assert not half_written.exists()
    resumed.cfg.train.steps = resumed.step + 5
    assert resumed.run().status == "completed"


def test_a_run_refused_after_taking_the_lock_leaves_the_place_as_it_found_it(tmp_path):
    four_images = Dataset(torch.zeros(4, 1, 8, 8), name="four images")
    with pytest.raises(ConfigError, match="more than the 4 of four images"):
        Trainer(tiny_config(steps=5), tmp_path / "new", progress=False, data=four_images)
    assert not (tmp_path / "new").exists()


def test_without_flock_the_run_warns_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "fcntl", None)
    with pytest.warns(
        UserWarning,
        match=f"cannot lock {tmp_path / 'run'} \\(.*\\): a second run started on it "
        "will not be refused",
    ):
        result = Trainer(tiny_config(steps=5), tmp_path / "run", progress=False).run()
    assert result.step == 5
