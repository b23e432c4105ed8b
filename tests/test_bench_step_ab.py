"""bench/step_ab.py switches one feature off on one of two dcgan trainers and times both."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

SPEC = importlib.util.spec_from_file_location(
    "bench_step_ab", Path(__file__).resolve().parents[1] / "bench" / "step_ab.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


@pytest.mark.parametrize("feature", ["logit-matmul", "fused-adam"])
def test_one_side_runs_pytorchs_code_and_both_are_timed(monkeypatch, capsys, mnist_dir, feature):
    made = []
    original = bench.FEATURES[feature]
    monkeypatch.setitem(
        bench.FEATURES, feature, lambda trainer: (made.append(trainer), original(trainer))
    )
    threads = torch.get_num_threads()
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "step_ab.py",
            "--data-dir",
            str(mnist_dir),
            "--feature",
            feature,
            "--steps",
            "2",
            "--repeats",
            "1",
            "--threads",
            str(threads),
        ],
    )
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert re.search(rf"dcgan, {feature}: on \d+ img/s, off \d+ img/s, \d+\.\d+x", out), out
    (off,) = made
    if feature == "logit-matmul":
        logits = off.nets["D"](
            torch.randn(2, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        )
        # under the flatten
        assert logits.grad_fn.next_functions[0][0].name() == "ConvolutionBackward0"
    else:
        assert all(
            type(o) is torch.optim.Adam and o.defaults["fused"]
            for o in off.recipe.optimizers.values()
        )
