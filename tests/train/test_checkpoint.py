import errno
import os
import pickle
import resource
import signal
import subprocess
import sys

import pytest
import torch
from failing_disk import CALLS, ERRORS, FailingDisk, temp_files
from safetensors.torch import save_file

from gankit import files
from gankit.errors import CheckpointError, GankitError
from gankit.train import checkpoint as ckpt


def _state():
    opt = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt.zero_grad()
    return {
        "step": 7,
        "nested": {"a": [1, 2.5, None, "x"], 3: torch.arange(4)},
        "optim": opt.state_dict(),
        "t": (1, 2),
    }


def test_round_trip_keeps_types_and_tensors(tmp_path):
    path = ckpt.save(tmp_path / "step_0000007.safetensors", _state())
    back = ckpt.load(path)
    assert back["step"] == 7 and back["nested"]["a"] == [1, 2.5, None, "x"] and back["t"] == (1, 2)
    assert torch.equal(back["nested"][3], torch.arange(4))
    assert back["optim"]["param_groups"][0]["lr"] == 1e-3
    # no temp files left
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000007.safetensors"]


def test_foreign_and_truncated_files_are_refused(tmp_path):
    path = ckpt.save(tmp_path / "step_0000001.safetensors", _state())
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(path.read_bytes()[:-50])
    pickled = tmp_path / "evil.safetensors"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    for bad in (truncated, pickled, foreign):
        with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
            ckpt.load(bad)


def test_states_without_a_step_and_newer_formats_are_refused(tmp_path, monkeypatch):
    """A file with gankit's header but an empty or non-mapping state crashed `gankit info`; one from
    a newer gankit would load and fail somewhere later."""
    empty = ckpt.save(tmp_path / "empty.safetensors", {})
    listed = ckpt.save(tmp_path / "list.safetensors", [1, 2, 3])
    for bad in (empty, listed):
        with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
            ckpt.load(bad)
    monkeypatch.setattr(ckpt, "VERSION", ckpt.VERSION + 1)
    newer = ckpt.save(tmp_path / "newer.safetensors", {"step": 1})
    monkeypatch.undo()
    with pytest.raises(
        CheckpointError, match=f"written by a newer gankit \\(checkpoint format {ckpt.VERSION + 1}"
    ):
        ckpt.load(newer)
    # in a run folder it is not skipped for an older checkpoint (whose run would overwrite it)
    run = tmp_path / "run" / "checkpoints"
    ckpt.save(ckpt.checkpoint_path(run, 1), {"step": 1})
    ckpt.checkpoint_path(run, 2).write_bytes(newer.read_bytes())
    with pytest.raises(CheckpointError, match="written by a newer gankit"):
        ckpt.load_latest(tmp_path / "run")


def test_newest_damaged_checkpoint_falls_back_to_older(tmp_path):
    ckpt.save(ckpt.checkpoint_path(tmp_path, 10), {"step": 10})
    newest = ckpt.checkpoint_path(tmp_path, 20)
    newest.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="older checkpoint"):
        path, state = ckpt.load_latest(tmp_path)
    assert state["step"] == 10


def test_a_real_write_failure_keeps_the_previous_checkpoint(tmp_path):
    """A real write failure (the file-size limit: EFBIG) in a child
    process; the old file survives."""
    old = ckpt.save(tmp_path / "step_0000001.safetensors", {"step": 1, "w": torch.zeros(10)})
    target = tmp_path / "step_0000001.safetensors"
    code = (
        f"import torch; from gankit.train import checkpoint as c\n"
        f"c.save({str(target)!r}, {{'step': 2, 'w': torch.zeros(100000)}})"
    )

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    proc = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True
    )
    assert (
        proc.returncode != 0
        and f"could not write {target} (file too large); earlier files are kept" in proc.stderr
    )
    assert ckpt.load(old)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001.safetensors"]


def test_prune_keeps_the_newest(tmp_path):
    for s in (1, 2, 3, 4):
        ckpt.save(ckpt.checkpoint_path(tmp_path, s), {"step": s})
    ckpt.prune(tmp_path, ckpt.checkpoint_path(tmp_path, 4), 2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step_0000003.safetensors",
        "step_0000004.safetensors",
    ]
    # after falling back from a damaged step-9 file, saving step 5 must not delete step 5 itself
    ckpt.checkpoint_path(tmp_path, 9).write_bytes(b"damaged")
    ckpt.save(ckpt.checkpoint_path(tmp_path, 5), {"step": 5})
    ckpt.prune(tmp_path, ckpt.checkpoint_path(tmp_path, 5), 1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step_0000005.safetensors",
        "step_0000009.safetensors",
    ]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("error, words", ERRORS, ids=[errno.errorcode[e] for e, _ in ERRORS])
def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temp_file(
    tmp_path, monkeypatch, call, error, words
):
    older = ckpt.save(ckpt.checkpoint_path(tmp_path, 10), {"step": 10, "w": torch.arange(5.0)})
    before = older.read_bytes()
    disk = FailingDisk(monkeypatch, "step_0000020", call=call, error=error)
    new = ckpt.checkpoint_path(tmp_path, 20)
    with pytest.raises(CheckpointError) as failure:
        ckpt.save(new, {"step": 20, "w": torch.arange(50_000.0)})
    assert disk.failed and isinstance(failure.value, (GankitError, OSError))
    assert str(failure.value) == f"could not write {new} ({words}); earlier files are kept"
    assert older.read_bytes() == before and ckpt.load(older)["step"] == 10
    # no temp file, nothing under the new name
    assert [p.name for p in tmp_path.iterdir()] == [older.name]


@pytest.mark.parametrize("call", CALLS)
def test_a_failed_overwrite_keeps_the_previous_version_of_the_file(tmp_path, monkeypatch, call):
    path = tmp_path / "config.yaml"
    files.atomic_write(path, b"the old version\n")
    FailingDisk(monkeypatch, "config.yaml", call=call)
    with pytest.raises(
        CheckpointError, match="config.yaml \\(disk full\\); earlier files are kept"
    ):
        files.atomic_write(path, b"the new version, much longer than the old one\n" * 1000)
    assert path.read_bytes() == b"the old version\n" and not temp_files(tmp_path)


def test_a_failed_append_cuts_the_log_back_to_its_old_end(tmp_path, monkeypatch):
    log = tmp_path / "metrics.jsonl"
    files.append_line(log, '{"step": 5}')
    FailingDisk(monkeypatch, "metrics.jsonl", call="write", error=errno.EDQUOT)
    with pytest.raises(CheckpointError, match="metrics.jsonl \\(disk quota exceeded\\)"):
        files.append_line(log, '{"step": 10, "loss_d": 0.6931471805599453}')
    assert log.read_bytes() == b'{"step": 5}\n'  # half the line went down, and was cut off again
    monkeypatch.undo()
    files.append_line(log, '{"step": 10}')
    assert log.read_text().splitlines() == ['{"step": 5}', '{"step": 10}']


def test_prune_that_cannot_delete_warns_and_keeps_going(tmp_path, monkeypatch):
    for s in (1, 2, 3):
        ckpt.save(ckpt.checkpoint_path(tmp_path, s), {"step": s})
    real_unlink = type(tmp_path).unlink

    def refuse(self, missing_ok=False):
        if self.name == "step_0000001.safetensors":
            raise PermissionError(errno.EACCES, "Permission denied")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(tmp_path), "unlink", refuse)
    with pytest.warns(
        UserWarning,
        match="could not delete the old checkpoint .*step_0000001.safetensors "
        "\\(permission denied\\); it is kept",
    ):
        ckpt.prune(tmp_path, ckpt.checkpoint_path(tmp_path, 3), 1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step_0000001.safetensors",
        "step_0000003.safetensors",
    ]


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".step_0000010.safetensors.tmp{pid}"
    mine = tmp_path / f".config.yaml.tmp{os.getpid()}"
    other = tmp_path / ".notes.tmpx"
    for path in (stale, mine, other):
        path.write_bytes(b"half")
    assert files.remove_stale_temp_files(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])
