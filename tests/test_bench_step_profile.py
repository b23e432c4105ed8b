"""bench/step_profile.py profiles real training steps (on the CPU here; CUDA adds the cuDNN A/B)."""
import importlib.util
import re
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "bench_step_profile", Path(__file__).resolve().parents[1] / "bench" / "step_profile.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_profiles_the_steps_of_each_preset(monkeypatch, capsys, mnist_dir):
    monkeypatch.setattr(sys, "argv", ["step_profile.py", "--data-dir", str(mnist_dir), "--device", "cpu",
                                      "--presets", "seed-mlp", "--amp", "none", "--rows", "3"])
    bench.main()
    out = capsys.readouterr().out
    (ms,) = re.findall(r"seed-mlp amp none: ([\d.]+) ms a step under the profiler\n", out)
    assert 0 < float(ms) < 10_000 and "cuDNN" not in out and "device busy" not in out
    assert "aten::" in out  # the profiler's operator table
