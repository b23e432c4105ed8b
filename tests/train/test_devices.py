"""Device, AMP and compile options on a CPU-only machine: clear one-line errors, CPU AMP."""

import pytest
import torch
from conftest import tiny_config

from gankit import config as config_mod
from gankit.errors import ConfigError
from gankit.train import Trainer


def test_device_and_amp_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="train.device"):
        config_mod.validate(tiny_config(device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            Trainer(tiny_config(device="cuda"), tmp_path / "cuda", progress=False)


def test_compile_unavailable_is_one_line(tmp_path, monkeypatch):
    import torch._dynamo

    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    with pytest.raises(ConfigError, match="torch.compile is not available"):
        Trainer(tiny_config(compile=True), tmp_path, progress=False)


def test_compile_modes_parse_and_unknown_ones_are_one_line(tmp_path):
    for text, mode in (("step", "step"), ("nets", "nets"), ("true", True), ("false", False)):
        cfg = config_mod.apply_overrides(tiny_config(), [f"train.compile={text}"])
        assert cfg.train.compile == mode and type(cfg.train.compile) is type(mode)
        # a run's saved config reads back the same
        (tmp_path / "config.yaml").write_text(cfg.to_yaml())
        assert config_mod.load(tmp_path / "config.yaml").train.compile == mode
    with pytest.raises(ConfigError, match="unknown train.compile 'graph'"):
        config_mod.validate(config_mod.apply_overrides(tiny_config(), ["train.compile=graph"]))
    # compiled networks cannot be differentiated twice (a penalty's gradient of D's input gradient)
    with pytest.raises(ConfigError, match="use train.compile=step"):
        config_mod.validate(
            config_mod.apply_overrides(tiny_config("wgan-gp"), ["train.compile=true"])
        )
    config_mod.validate(config_mod.apply_overrides(tiny_config("wgan-gp"), ["train.compile=step"]))


def _losses(trainer):
    trainer.run()
    return torch.tensor([[row["loss_d"], row["loss_g"]] for row in trainer.health.history])


def test_errors_of_the_recipe_in_a_compiled_step_are_its_own(tmp_path):
    """Every call into compiled code passes torch._dynamo's eval_frame wrapper: an error of the
    recipe's code in a compiled step must not be reported as a compile failure."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported with this Python/PyTorch")
    trainer = Trainer(
        tiny_config("seed-mlp", steps=2, compile="step"),
        tmp_path,
        progress=False,
        echo=lambda line: None,
    )

    def broken_loss(real, fake):
        raise ValueError("a bug in the loss")

    trainer.recipe.d_loss = broken_loss
    with pytest.raises(ValueError, match="a bug in the loss"):
        trainer.run()


def test_compiled_step_trains_as_the_eager_step(tmp_path):
    """train.compile=step: Dynamo traces the whole step (losses, optimizer calls), the gradient
    penalty's double backward runs eagerly (AOTAutograd cannot differentiate twice), and D's
    dropout masks are PyTorch's own random numbers, so the same seed gives the losses of an
    eager run (with Inductor's random numbers the masks, and the losses, differ)."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported with this Python/PyTorch")
    quiet = {"progress": False, "echo": lambda line: None}

    def config(compile):
        cfg = tiny_config("seed-mlp", steps=3, log_every=1, compile=compile)
        cfg.model.d_dropout, cfg.loss.gp = 0.3, 1.0
        return cfg

    eager = _losses(Trainer(config(False), tmp_path / "eager", **quiet))
    torch._dynamo.reset()
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    compiled = _losses(Trainer(config("step"), tmp_path / "step", **quiet))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > frames  # something was compiled
    assert len(eager) == 3 and torch.allclose(compiled, eager, rtol=1e-5, atol=1e-6), (
        compiled,
        eager,
    )


def test_bf16_autocast_trains_on_the_cpu(tmp_path):
    trainer = Trainer(
        tiny_config(steps=5, device="cpu", amp="bf16"),
        tmp_path,
        progress=False,
        echo=lambda line: None,
    )
    assert trainer.run().status == "completed"
    assert torch.isfinite(torch.tensor(trainer.health.history[-1]["loss_d"]))


def test_fp16_trains_with_a_grad_scaler_on_the_cpu_and_resumes_bit_for_bit(tmp_path):
    from gankit.train import checkpoint as ckpt

    quiet = {"progress": False, "echo": lambda line: None}
    straight = Trainer(tiny_config(steps=20, device="cpu", amp="fp16"), tmp_path / "a", **quiet)
    assert straight.run().status == "completed" and straight.grad_scaler.get_scale() > 0
    Trainer(tiny_config(steps=10, device="cpu", amp="fp16"), tmp_path / "b", **quiet).run()
    Trainer(
        tiny_config(steps=20, device="cpu", amp="fp16"), tmp_path / "b", resume=True, **quiet
    ).run()
    a, b = (ckpt.load(ckpt.resolve(tmp_path / r)) for r in ("a", "b"))
    assert all(
        torch.equal(a["nets"][n][k], b["nets"][n][k]) for n in a["nets"] for k in a["nets"][n]
    )


def test_failures_inside_compiled_code_are_recognised():
    """TorchInductor's generated kernels raise plain AssertionErrors (a stride check failed this way
    on an H200): the traceback, not the exception type, says the compiler is to blame."""
    from gankit.train.compiler import raised_by_compiler as _raised_by_compiler

    generated = compile(
        "def kernel():\n    assert False, 'expected stride 16==1'\n",
        "/tmp/torchinductor_root/ab/cabc.py",
        "exec",
    )
    namespace: dict = {}
    exec(generated, namespace)
    with pytest.raises(AssertionError) as compiled:
        namespace["kernel"]()
    with pytest.raises(AssertionError) as plain:
        raise AssertionError("a bug of ours")
    assert _raised_by_compiler(compiled.value) and not _raised_by_compiler(plain.value)
    # a compiled backward's error is raised by AOTAutograd's runtime (seen on an H100)
    runtime = compile(
        "def backward():\n    raise RuntimeError('modified by an inplace operation')\n",
        "/venv/lib/python3.12/site-packages/torch/_functorch/_aot_autograd/runtime_wrappers.py",
        "exec",
    )
    exec(runtime, namespace)
    with pytest.raises(RuntimeError) as aot:
        namespace["backward"]()
    assert _raised_by_compiler(aot.value)


def test_compiled_runs_on_cuda_keep_the_contiguous_layout():
    """Inductor's compiled convolution backward breaks on channels-last tensors on CUDA (PyTorch
    2.11): a compiled CUDA run drops channels_last and Inductor's own layout optimization."""
    from gankit.train.compiler import compile_layout

    assert compile_layout(torch.device("cuda"), True) == (False, {"layout_optimization": False})
    assert compile_layout(torch.device("cuda"), False) == (True, {})
    assert compile_layout(torch.device("cpu"), True) == (True, {})


def test_cpu_runs_flush_subnormal_floats_and_restore_the_default_after(tmp_path):
    """Subnormals (weights and Adam moments of units that weight decay shrinks) are many times
    slower on a CPU; the run flushes them to zero and leaves the process as it found it."""
    subnormal = lambda: (torch.tensor([1e-39]) * 1.0).item()  # noqa: E731
    assert subnormal() != 0.0
    trainer = Trainer(
        tiny_config(steps=2, device="cpu"), tmp_path, progress=False, echo=lambda line: None
    )
    seen = []
    step = trainer.recipe.train_step

    def recording_step(*args, **kwargs):
        seen.append(subnormal())
        return step(*args, **kwargs)

    trainer.recipe.train_step = recording_step
    trainer.run()
    assert seen == [0.0, 0.0]
    assert subnormal() != 0.0


def test_flush_denormals_reaches_the_torch_threads_started_under_it():
    """The flag is per thread and inherited at thread start: the CLI sets it before torch's worker
    threads exist, so it reaches all of them (set after, only the calling thread's share is)."""
    import subprocess
    import sys

    code = (
        "import torch; torch.set_num_threads(2)\n"
        "from gankit.train.runtime import flush_denormals\n"
        "with flush_denormals():\n"
        "    inside = int(((torch.full((4_000_000,), 1e-39) * 1.0) != 0).sum())\n"
        "print(inside, (torch.tensor([1e-39]) * 1.0).item() != 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["0", "True"]
