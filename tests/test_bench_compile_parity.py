"""bench/compile_parity.py compares a compiled run's losses with the eager run's, for real."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_compile_parity", Path(__file__).resolve().parents[1] / "bench" / "compile_parity.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_the_gap_is_relative_and_a_missing_step_is_infinite():
    assert bench.gap([[2.0, 0.5]], [[2.0, 0.5]]) == 0.0
    assert bench.gap([[2.0, 0.5]], [[2.2, 0.5]]) == pytest.approx(0.1)
    assert bench.gap([[1.0]], [[1.0], [1.0]]) == float("inf")


def test_a_step_compiled_case_matches_its_eager_run(monkeypatch, capsys, tmp_path):
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported with this Python/PyTorch")
    out = tmp_path / "parity.json"
    monkeypatch.setattr(
        sys, "argv", ["compile_parity.py", "--mode", "step", "--only", "lsgan", "--json", str(out)]
    )
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    bench.main()
    # the compiled side did compile
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > graphs
    (row,) = json.loads(out.read_text())["rows"]
    assert row["case"] == "lsgan" and row["steps"] == bench.STEPS and row["relative_gap"] < 1e-5
    assert "lsgan" in capsys.readouterr().out
    torch._dynamo.reset()
