"""The pix2pix recipe in the one trainer: the paper's losses and options, jitter and flips alike
on both halves, input | output | target grids, and resume bit for bit."""

import json

import numpy as np
import pytest
import torch
from image_pairs import emoji_sample, tiny_pix2pix, write_pairs
from PIL import Image

import gankit
from gankit.data.base import to_uint8
from gankit.errors import ConfigError
from gankit.recipes.pix2pix import Pix2PixRecipe, random_jitter
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt


def quiet(cfg, run_dir, **kwargs):
    return Trainer(cfg, run_dir, progress=False, echo=lambda line: None, **kwargs)


def test_the_preset_is_the_papers_recipe():
    cfg = gankit.make_config("pix2pix")
    assert cfg.recipe == "pix2pix" and cfg.model.arch == "unet"
    assert (cfg.model.l1, cfg.model.patch, cfg.model.g_dropout) == (100.0, 70, 0.5)
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1) == (2e-4, 2e-4, 0.5)
    assert cfg.data.source == "paired" and cfg.data.flip and not cfg.data.jitter


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.patch=50"], "model.patch is the PatchGAN's receptive field: choose from 16, 34"),
        (["model.g_dropout=1"], r"model.g_dropout must be in \[0, 1\)"),
        (["model.l1=-1"], "model.l1 is a weight and cannot be negative"),
        (["loss.gp=10"], "read by recipes gan and ctgan, not by pix2pix"),
        (["model.pack=2"], "pix2pix does not take model.pack"),
        (["optim.n_critic=2"], "pix2pix does not take optim.n_critic"),
        (["vae.beta=2"], "read by recipes vae and tvae, not by pix2pix"),
        (["model.arch=dcgan"], "unknown architecture 'dcgan' for recipe pix2pix"),
    ],
)
def test_bad_options_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        gankit.make_config("pix2pix", overrides)


def test_a_patchgan_larger_than_the_images_is_refused_with_the_sizes_that_fit():
    cfg = gankit.make_config("pix2pix")
    with pytest.raises(
        ConfigError,
        match="70-pixel PatchGAN sees past 16-pixel images: choose model.patch from 16, 34$",
    ):
        Pix2PixRecipe(cfg, (6, 16, 16))


def test_jitter_moves_both_halves_of_a_pair_alike():
    x = torch.rand(3, 2, 32, 32)
    x[:, 1] = x[:, 0]  # the target is a copy of the input
    out = random_jitter(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out[:, 0], out[:, 1])
    assert not torch.allclose(out[:, 0], x[:, 0], atol=0.05)  # the crop moved the picture
    again = random_jitter(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_a_run_learns_the_mapping_and_shows_input_output_target(tmp_path):
    write_pairs(tmp_path / "pairs", 24)
    overrides = ["data.flip=false", "optim.lr_g=1e-3", "optim.lr_d=1e-3"]
    cfg = tiny_pix2pix(tmp_path / "pairs", *overrides, steps=60)
    cfg.train.log_every, cfg.train.sample_every = 20, 60
    trainer = quiet(cfg, tmp_path / "run")
    pairs = trainer.data.all()

    @torch.no_grad()
    def l1_to_targets() -> float:
        return float((trainer.sample(pairs) - pairs[:, 3:]).abs().mean())

    before = l1_to_targets()
    assert trainer.run().status == "completed"
    assert l1_to_targets() < 0.85 * before  # the L1 pull towards the targets
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert {"loss_d", "loss_g", "l1", "d_real", "d_acc", "grad_norm_g"} <= json.loads(
        lines[0]
    ).keys()
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step_0000060.png"))
    assert grid.shape == (6 * 18 + 2, 6 * 18 + 2, 3)  # 12 pairs: two triplets a row
    shown = trainer.fixed_latents[0]  # the top-left triplet: input, output, target
    output = trainer.sample(shown[None])[0]
    for column, image in enumerate((shown[:3], output, shown[3:])):
        tile = grid[2:18, 2 + 18 * column : 18 + 18 * column]
        assert np.array_equal(tile, to_uint8(image).permute(1, 2, 0).numpy())


def test_resume_continues_bit_for_bit_with_jitter_flips_and_dropout(tmp_path):
    write_pairs(tmp_path / "pairs", 12)
    cfg = lambda steps: tiny_pix2pix(tmp_path / "pairs", "data.jitter=true", steps=steps)  # noqa: E731
    assert cfg(8).data.jitter and cfg(8).data.flip and cfg(8).model.g_dropout == 0.5
    quiet(cfg(8), tmp_path / "a").run()
    quiet(cfg(4), tmp_path / "b").run()
    quiet(cfg(8), tmp_path / "b", resume=True).run()
    (_, sa), (_, sb) = ckpt.load_latest(tmp_path / "a"), ckpt.load_latest(tmp_path / "b")
    for net in ("G", "D"):
        assert all(torch.equal(sa["nets"][net][k], sb["nets"][net][k]) for k in sa["nets"][net])
    lines = [
        [json.loads(x)["loss_g"] for x in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
        for r in ("a", "b")
    ]
    assert lines[0] == lines[1] and len(lines[0]) == 4


def test_the_emoji_sample_trains_at_64_px_with_the_70_pixel_patchgan(tmp_path):
    root = emoji_sample(tmp_path / "emoji", 24)
    cfg = tiny_pix2pix(root, "data.domains=twitter,google", "model.patch=70", steps=2)
    trainer = quiet(cfg, tmp_path / "run")
    assert trainer.data.sample_shape == (6, 64, 64)
    assert trainer.run().status == "completed"
    model = gankit.load(tmp_path / "run")
    assert model.recipe.directions == ("AtoB",)
    with pytest.raises(ConfigError, match="translates images and draws none"):
        model.sample(4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_a_cuda_run_resumes_bit_for_bit_and_translates_as_on_the_cpu(tmp_path, amp):
    from gankit.translation import translate_images

    write_pairs(tmp_path / "pairs", 12)

    def cfg(steps):
        overrides = ["data.jitter=true", "train.device=cuda", f"train.amp={amp}"]
        return tiny_pix2pix(tmp_path / "pairs", *overrides, steps=steps)

    quiet(cfg(8), tmp_path / "a").run()
    quiet(cfg(4), tmp_path / "b").run()
    trainer = quiet(cfg(8), tmp_path / "b", resume=True)
    assert next(trainer.nets["G"].parameters()).is_cuda and trainer.x_device.is_cuda
    trainer.run()
    (_, sa), (_, sb) = ckpt.load_latest(tmp_path / "a"), ckpt.load_latest(tmp_path / "b")
    assert all(
        torch.equal(sa["nets"][n][k], sb["nets"][n][k]) for n in sa["nets"] for k in sa["nets"][n]
    )
    inputs = trainer.data.all()[:, :3]
    on_cpu, on_gpu = gankit.load(tmp_path / "a"), gankit.load(tmp_path / "a", device="cuda")
    torch.testing.assert_close(
        translate_images(on_cpu, inputs), translate_images(on_gpu, inputs), rtol=0, atol=1e-4
    )
