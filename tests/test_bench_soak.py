"""bench/soak.py: SIGKILLs of a real CLI run, resumed each time, checked for real."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from gankit.train import checkpoint as ckpt

SPEC = importlib.util.spec_from_file_location(
    "bench_soak", Path(__file__).resolve().parents[1] / "bench" / "soak.py"
)
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # its dataclasses look their module up
SPEC.loader.exec_module(bench)


def test_two_kills_lose_no_checkpoint_and_end_bit_equal(tmp_path):
    """The image mode; a table fit resumes through the same checkpoint code, bit for bit
    (tests/recipes/test_table_recipes.py), and `bench/soak.py --mode table` soaks it too. Seed 5's
    two kill moments are one while a checkpoint is being written and one during a resumed
    process's start-up."""
    mode = "image"
    out = tmp_path / "soak.json"
    code = bench.main(
        ["--kills", "2", "--seed", "5", "--mode", mode, "--json", str(out)]
        + ["--work", str(tmp_path / "work")]
    )
    (r,) = json.loads(out.read_text())["results"]
    assert code == 0 and r["problems"] == []
    assert r["mode"] == mode and r["kills"] == 2
    assert r["kills_by_moment"] == {"startup": 1, "write": 1, "step": 0}
    assert r["checkpoint_files_checked"] >= 3 and r["corrupt_checkpoint_files"] == 0
    assert r["failed_resumes"] == 0 and r["final_bit_equal"]
    assert (
        len(r["steps_lost"]["per_kill"]) == 2
        and 0 <= r["steps_lost"]["max"] <= r["save_interval"] == 10
    )
    run = tmp_path / "work" / mode / mode
    assert ckpt.load(ckpt.resolve(run))["step"] == r["steps"]
    # 2 killed, 1 to the end
    assert len(list((tmp_path / "work" / mode / f"{mode}-logs").glob("*.log"))) == 3


def test_the_checks_find_a_truncated_and_a_changed_checkpoint(tmp_path):
    state = {
        "step": 10,
        "nets": {"G": {"w": torch.linspace(-1, 1, 64)}},
        "health": {"history": [float("nan")]},
    }
    for folder in ("soaked", "reference"):
        ckpt.save(ckpt.checkpoint_path(tmp_path / folder, 10), state)
        ckpt.save(ckpt.checkpoint_path(tmp_path / folder, 20), {**state, "step": 20})
    assert bench.check_checkpoints(tmp_path / "soaked", tmp_path / "reference") == bench.DiskCheck(
        2, [], [], 20
    )
    newest = ckpt.checkpoint_path(tmp_path / "soaked", 20)
    newest.write_bytes(newest.read_bytes()[:-100])
    w = state["nets"]["G"]["w"].clone()
    w[3] = torch.nextafter(w[3], torch.tensor(2.0))  # one unit in the last place
    ckpt.save(ckpt.checkpoint_path(tmp_path / "soaked", 10), {**state, "nets": {"G": {"w": w}}})
    disk = bench.check_checkpoints(tmp_path / "soaked", tmp_path / "reference")
    assert disk.corrupt == ["step_0000020.safetensors"] and disk.newest_loadable == 10
    assert disk.differing == ["step_0000010.safetensors: /nets/G/w"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--kills", "0"], "soak: error: argument --kills: must be at least 1, got 0"),
        # quoting: Python's
        (
            ["--mode", "video"],
            "soak: error: argument --mode: invalid choice: 'video' (choose from ",
        ),
        (
            ["--steps", "30", "--interval", "10"],
            "soak: error: --steps 30 leaves no room for a kill: give more than 3 x --interval (30)",
        ),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        bench.main(argv)
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(message) and (line == message or "video" in message)
