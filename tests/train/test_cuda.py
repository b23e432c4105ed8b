"""The trainer on a GPU: device placement, exact resume, AMP and CPU-loadable checkpoints.
Skipped without CUDA (bench/gpu_check.sh runs them on a lent GPU)."""

import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("amp", ["none", "fp16"])
def test_cuda_run_resumes_bit_for_bit_and_loads_on_the_cpu(tmp_path, amp):
    """fp16 too: the GradScaler's scale and growth tracker travel in the checkpoint."""
    Trainer(tiny_config(steps=20, device="cuda", amp=amp), tmp_path / "a", progress=False).run()
    Trainer(tiny_config(steps=10, device="cuda", amp=amp), tmp_path / "b", progress=False).run()
    trainer = Trainer(
        tiny_config(steps=20, device="cuda", amp=amp), tmp_path / "b", resume=True, progress=False
    )
    assert next(trainer.nets["G"].parameters()).is_cuda and trainer.x_device.is_cuda
    trainer.run()
    a, b = (ckpt.load(ckpt.resolve(tmp_path / r))["nets"] for r in ("a", "b"))
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    on_cpu, on_gpu = gankit.load(tmp_path / "a"), gankit.load(tmp_path / "a", device="cuda")
    torch.testing.assert_close(
        on_cpu.sample(16, seed=1), on_gpu.sample(16, seed=1), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_trains_with_finite_losses(tmp_path, amp):
    trainer = Trainer(tiny_config(steps=20, device="cuda", amp=amp), tmp_path, progress=False)
    result = trainer.run()
    assert result.status == "completed"
    last = trainer.health.history[-1]
    assert torch.isfinite(torch.tensor([last["loss_d"], last["loss_g"], last["grad_norm_g"]])).all()
    if amp == "fp16":
        assert trainer.grad_scaler is not None and trainer.grad_scaler.get_scale() > 0


def test_compiled_networks_train(tmp_path):
    result = Trainer(
        tiny_config(steps=10, device="cuda", compile=True), tmp_path, progress=False
    ).run()
    assert result.status == "completed"


def test_compiled_spectral_norm_networks_train(tmp_path):
    """gankit's SpectralNorm under torch.compile on CUDA: with PyTorch's parametrization the first
    backward failed on an H100 ('modified by an inplace operation'); fixed and tested on the CPU."""
    cfg = tiny_config("hinge-resnet", steps=6, device="cuda", compile=True)
    assert Trainer(cfg, tmp_path, progress=False).run().status == "completed"


@pytest.mark.parametrize("preset", ["dcgan", "hinge-resnet"])
def test_compiled_step_trains_as_the_eager_step(tmp_path, preset):
    """train.compile=step on CUDA (not yet run on a GPU): the first steps' losses are the eager
    run's, to the rounding of different kernels (cuDNN's convolutions may use TF32 on both sides).
    A compiled CUDA run keeps the contiguous layout, so the eager side does too."""

    def losses(compile, folder):
        cfg = tiny_config(
            preset, steps=3, log_every=1, device="cuda", compile=compile, channels_last=False
        )
        trainer = Trainer(cfg, folder, progress=False, echo=lambda line: None)
        trainer.run()
        return torch.tensor([[row["loss_d"], row["loss_g"]] for row in trainer.health.history])

    torch.testing.assert_close(
        losses("step", tmp_path / "step"), losses(False, tmp_path / "eager"), rtol=5e-3, atol=1e-3
    )


def test_dropout_masks_are_drawn_on_the_gpu_reproducibly_and_leave_its_generator_as_it_was():
    """RankDropout on CUDA: the same step from the same state gives the same weights, and the
    recipe's seeding of the global generators is undone after the step (CUDA's included)."""
    from gankit import config as config_mod
    from gankit.recipes.gan import GANRecipe

    cfg = tiny_config("seed-mlp", steps=2, device="cuda")
    cfg.model.d_dropout = 0.3
    cfg = config_mod.validate(cfg)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)).cuda()
    outcomes = []
    for _ in range(2):
        torch.manual_seed(0)
        recipe = GANRecipe(cfg, (1, 8, 8))
        for net in recipe.nets.values():
            net.cuda()
        torch.cuda.manual_seed(123)
        before = torch.cuda.get_rng_state()
        recipe.train_step(x, None, torch.Generator().manual_seed(3), want_stats=False)
        assert torch.equal(torch.cuda.get_rng_state(), before)
        outcomes.append([p.detach().clone() for p in recipe.nets["D"].parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*outcomes, strict=True))


def test_fused_adam_on_cuda_is_torch_optims_fused_adam():
    """gankit.optim.FusedAdam's short path (the kernel called directly, channels-last weights as
    flat views) on CUDA tensors: the numbers of torch.optim.Adam(fused=True)."""
    from gankit.optim import FusedAdam

    torch.manual_seed(0)
    weights = [
        torch.randn(8, 4, 3, 3, device="cuda").to(memory_format=torch.channels_last),
        torch.randn(8, device="cuda"),
    ]
    ours, ref = ([w.clone().requires_grad_() for w in weights] for _ in range(2))
    opts = (
        FusedAdam(ours, lr=1e-2, betas=(0.5, 0.99)),
        torch.optim.Adam(ref, lr=1e-2, betas=(0.5, 0.99), fused=True),
    )
    for step in range(4):
        for params in (ours, ref):
            g = torch.Generator(device="cuda").manual_seed(step)
            for p in params:
                p.grad = torch.empty_like(p).copy_(torch.randn(p.shape, device="cuda", generator=g))
        for opt in opts:
            opt.step()
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
