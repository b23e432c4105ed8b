"""bench/step_profile.py profiles real training steps (on the CPU here; CUDA adds the cuDNN A/B)."""

import importlib.util
import re
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "bench_step_profile", Path(__file__).resolve().parents[1] / "bench" / "step_profile.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_profiles_the_steps_of_each_preset(monkeypatch, capsys, mnist_dir):
    """fp16 too: 20 steps in a row need the GradScaler's update after each."""
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "step_profile.py",
            "--data-dir",
            str(mnist_dir),
            "--device",
            "cpu",
            "--presets",
            "seed-mlp",
            "--amp",
            "none,fp16",
            "--rows",
            "3",
        ],
    )
    bench.main()
    out = capsys.readouterr().out
    times = re.findall(r"seed-mlp amp (none|fp16): ([\d.]+) ms a step under the profiler\n", out)
    assert [amp for amp, _ in times] == ["none", "fp16"] and all(
        0 < float(ms) < 10_000 for _, ms in times
    )
    assert "cuDNN" not in out and "device busy" not in out
    assert out.count("aten::") >= 2  # the profiler's operator tables


def test_key_value_options_reach_every_presets_config(mnist_dir):
    """The documented rows of a preset whose default changed are reproduced with its old value."""
    args = bench.argparse.Namespace(
        data_dir=str(mnist_dir), device="cpu", overrides=["model.width=8"]
    )
    trainer = bench.make_trainer("hinge-resnet", args, "none", 2)
    assert trainer.cfg.model.width == 8
    assert trainer.cfg.model.arch == "resnet"
