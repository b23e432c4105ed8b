"""`gankit bench speed`, and the fast path's equivalence to the plain loop."""

import pytest
import torch
from conftest import tiny_config

from gankit import config as config_mod
from gankit.experiments.speed import ReferenceGAN, format_speed, run_speed
from gankit.train import Trainer


@pytest.mark.parametrize("preset", ["dcgan", "seed-mlp"])
def test_fast_path_gives_the_reference_loops_losses(tmp_path, preset):
    """Same weights, batches and latents: gankit's step (fused Adam, channels_last, softplus losses,
    no D weight gradients in G's step, matmul edge layers) and the plain loop's (BCE on a Sigmoid,
    default Adam) log the same losses step after step."""
    cfg = tiny_config(preset, steps=5, ema=None)
    trainer = Trainer(config_mod.validate(cfg), tmp_path, progress=False, echo=lambda line: None)
    o = cfg.optim
    ref = ReferenceGAN(
        trainer.nets["G"],
        trainer.nets["D"],
        cfg.model.z_dim,
        o.lr_g,
        (o.beta1, o.beta2),
        torch.device("cpu"),
    )
    fast = [m.fast for net in trainer.nets.values() for m in net.modules() if hasattr(m, "fast")]
    stock = [m.fast for net in (ref.G, ref.D) for m in net.modules() if hasattr(m, "fast")]
    # edge layers: ours only
    assert all(fast) and not any(stock) and len(fast) == (4 if preset == "dcgan" else 0)
    ours, theirs = [], []
    for step in range(5):
        x, y = trainer.batch(step)
        z_rng = torch.Generator()
        z_rng.set_state(trainer.noise_rng.get_state())  # the latents the recipe is about to draw
        z = torch.randn(len(x), cfg.model.z_dim, generator=z_rng)
        stats = trainer.train_step(x, y, want_stats=False)
        trainer.step += 1
        ours.append([float(stats["loss_d"]), float(stats["loss_g"])])
        theirs.append([float(v) for v in ref.step(x.contiguous(), z)])
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs), rtol=1e-4, atol=1e-5)
    assert ours[0] != ours[-1]  # the weights moved: later steps compare trained networks


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_reference_loop_trains_under_the_same_amp(tmp_path, amp):
    """With --amp the reference is PyTorch's AMP recipe (autocast networks, float32
    BCE, fp16's GradScaler): its losses follow gankit's under the same autocast,
    and are not its float32 ones."""
    cfg = tiny_config("dcgan", steps=3, ema=None)
    cfg.train.amp = amp
    trainer = Trainer(config_mod.validate(cfg), tmp_path, progress=False, echo=lambda line: None)
    o = cfg.optim
    args = (
        trainer.nets["G"],
        trainer.nets["D"],
        cfg.model.z_dim,
        o.lr_g,
        (o.beta1, o.beta2),
        torch.device("cpu"),
    )
    ref, ref32 = ReferenceGAN(*args, amp=amp), ReferenceGAN(*args)
    assert (ref.scaler is not None) == (amp == "fp16")
    ours, theirs, plain = [], [], []
    for step in range(3):
        x, y = trainer.batch(step)
        z_rng = torch.Generator()
        z_rng.set_state(trainer.noise_rng.get_state())
        z = torch.randn(len(x), cfg.model.z_dim, generator=z_rng)
        stats = trainer.train_step(x, y, want_stats=False)
        trainer.step += 1
        ours.append([float(stats["loss_d"]), float(stats["loss_g"])])
        theirs.append([float(v) for v in ref.step(x.contiguous(), z)])
        plain.append([float(v) for v in ref32.step(x.contiguous(), z)])
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs), rtol=2e-2, atol=2e-2)
    assert theirs != plain  # the reference really ran in reduced precision


def test_speed_bench_times_both_sides_and_the_peak(mnist_dir):
    result = run_speed(
        str(mnist_dir),
        ["seed-mlp"],
        steps=3,
        repeats=2,
        sampling_n=20,
        overrides=["model.hidden=[16,16]", "train.threads=1"],
    )
    (row,) = result["training"]
    assert row["gankit_img_s"] > 0 and row["reference_img_s"] > 0
    assert row["ratio"] == pytest.approx(row["gankit_img_s"] / row["reference_img_s"], rel=1e-2)
    assert len(row["gankit_runs"]) == len(row["reference_runs"]) == 2
    # G 100-16-16-784 and D 784-16-16-1: 2 x (batch 64) x weights per forward, D's step + G's step
    assert 0.01 < row["gflop_per_step"] < 0.1 and 0 < row["peak_share"] < 1
    assert {s["preset"] for s in result["sampling"]} == {
        "seed-mlp",
        "dcgan",
        "hinge-resnet",
        "vae",
        "ddpm",
    }
    ddpm = next(s for s in result["sampling"] if s["preset"] == "ddpm")
    # 20 / 20: a diffusion sample costs 50 passes
    assert ddpm["samples"] == 1 and ddpm["sampler"] == "ddim-50"
    assert "ratio" in format_speed(result) and result["matmul_peak_gflop_s"] > 0
    # what ran, in the JSON
    assert result["overrides"] == [
        "model.hidden=[16,16]",
        "train.threads=1",
    ]
