import pickle
import resource
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from gankit.errors import CheckpointError
from gankit.train import checkpoint as ckpt


def _state():
    opt = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt.zero_grad()
    return {"step": 7, "nested": {"a": [1, 2.5, None, "x"], 3: torch.arange(4)},
            "optim": opt.state_dict(), "t": (1, 2)}


def test_round_trip_keeps_types_and_tensors(tmp_path):
    path = ckpt.save(tmp_path / "step_0000007.safetensors", _state())
    back = ckpt.load(path)
    assert back["step"] == 7 and back["nested"]["a"] == [1, 2.5, None, "x"] and back["t"] == (1, 2)
    assert torch.equal(back["nested"][3], torch.arange(4))
    assert back["optim"]["param_groups"][0]["lr"] == 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000007.safetensors"]  # no temp files left


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
    """A file with gankit's header but an empty or non-mapping state crashed `gankit info`; one from a
    newer gankit would load and fail somewhere later."""
    empty = ckpt.save(tmp_path / "empty.safetensors", {})
    listed = ckpt.save(tmp_path / "list.safetensors", [1, 2, 3])
    for bad in (empty, listed):
        with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
            ckpt.load(bad)
    monkeypatch.setattr(ckpt, "VERSION", ckpt.VERSION + 1)
    newer = ckpt.save(tmp_path / "newer.safetensors", {"step": 1})
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=f"written by a newer gankit \\(checkpoint format {ckpt.VERSION + 1}"):
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


def test_disk_full_keeps_the_previous_checkpoint(tmp_path):
    """A real write failure (file-size limit, EFBIG) in a child process; the old file survives."""
    old = ckpt.save(tmp_path / "step_0000001.safetensors", {"step": 1, "w": torch.zeros(10)})
    target = tmp_path / "step_0000001.safetensors"
    code = (f"import torch; from gankit.train import checkpoint as c\n"
            f"c.save({str(target)!r}, {{'step': 2, 'w': torch.zeros(100000)}})")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    proc = subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True)
    assert proc.returncode != 0 and "disk full" in proc.stderr and "earlier files are kept" in proc.stderr
    assert ckpt.load(old)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001.safetensors"]


def test_prune_keeps_the_newest(tmp_path):
    for s in (1, 2, 3, 4):
        ckpt.save(ckpt.checkpoint_path(tmp_path, s), {"step": s})
    ckpt.prune(tmp_path, ckpt.checkpoint_path(tmp_path, 4), 2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_0000003.safetensors", "step_0000004.safetensors"]
    # after falling back from a damaged step-9 file, saving step 5 must not delete step 5 itself
    ckpt.checkpoint_path(tmp_path, 9).write_bytes(b"damaged")
    ckpt.save(ckpt.checkpoint_path(tmp_path, 5), {"step": 5})
    ckpt.prune(tmp_path, ckpt.checkpoint_path(tmp_path, 5), 1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_0000005.safetensors", "step_0000009.safetensors"]
