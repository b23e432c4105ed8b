"""bench/edge_conv.py runs both paths of every edge layer and of the whole dcgan step."""

import importlib.util
import re
import sys
from pathlib import Path

import torch

SPEC = importlib.util.spec_from_file_location(
    "bench_edge_conv", Path(__file__).resolve().parents[1] / "bench" / "edge_conv.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def _run(monkeypatch, capsys, *args: str) -> str:
    threads = torch.get_num_threads()
    monkeypatch.setattr(sys, "argv", ["edge_conv.py", *args])
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
    return capsys.readouterr().out


def test_layer_table_has_both_sides_for_each_layer(monkeypatch, capsys):
    out = _run(monkeypatch, capsys, "--repeats", "1", "--calls", "1", "--channels", "1", "3")
    rows = [line for line in out.splitlines() if line.rstrip().endswith("x")]
    assert len(rows) == 8 and all(float(r.split()[-1][:-1]) > 0 for r in rows)


def test_whole_step_losses_agree_and_both_sides_are_timed(monkeypatch, capsys, mnist_dir):
    out = _run(
        monkeypatch,
        capsys,
        "--step",
        "--data-dir",
        str(mnist_dir),
        "--repeats",
        "1",
        "--calls",
        "2",
    )
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) == 3
    for line in steps:
        d_ours, d_stock, g_ours, g_stock = map(float, re.findall(r"\d+\.\d+", line))
        assert abs(d_ours - d_stock) < 1e-5 and abs(g_ours - g_stock) < 1e-5
    assert re.search(r"PyTorch's kernels \d+\.\d+, gankit's edge layers \d+\.\d+", out)
