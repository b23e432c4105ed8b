"""The CycleGAN recipe in the one trainer: the paper's losses and options, the history pool, the
constant-then-linear learning rate, input | output | cycle grids both ways, resume bit for bit
(weights, pools, learning rates) and scores on held-out pairs in both directions."""

import numpy as np
import pytest
import torch
from image_pairs import tiny_pix2pix, write_pairs
from PIL import Image
from torch import nn

import gankit
from gankit.errors import ConfigError
from gankit.options_doc import list_options
from gankit.recipes.cyclegan import CycleGANRecipe, ImagePool, lr_scale
from gankit.train import Trainer


def quiet(cfg, run_dir, **kwargs):
    return Trainer(cfg, run_dir, progress=False, echo=lambda line: None, **kwargs)


def tiny_cyclegan(data_dir, *overrides, steps=6):
    """Width 4, 1 block, a 16-pixel PatchGAN, batch 4, one thread: a step in milliseconds."""
    return tiny_pix2pix(data_dir, "model.blocks=1", *overrides, steps=steps, preset="cyclegan")


def write_domains(root, n=16, size=16):
    """trainA/ dark noisy images (pixels 0..60), trainB/ bright ones (195..255): two collections
    whose difference a translation must learn, with no pairs between them."""
    rng = np.random.default_rng(0)
    for folder, low in (("trainA", 0), ("trainB", 195)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(low, low + 61, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{folder}{i:02d}.png")
    return root


def test_the_preset_is_the_papers_recipe_sized_for_a_cpu():
    cfg = gankit.make_config("cyclegan")
    assert cfg.recipe == "cyclegan" and cfg.model.arch == "resblocks" and cfg.model.patch == 70
    m = cfg.model
    assert (m.cycle, m.identity, m.pool, m.blocks, m.width) == (10.0, 0.5, 50, 6, 16)
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1, cfg.optim.beta2) == (
        2e-4,
        2e-4,
        0.5,
        0.999,
    )
    assert cfg.data.source == "unpaired" and cfg.optim.lr_decay == "none"
    assert (cfg.optim.decay_start, cfg.optim.decay_steps, cfg.optim.batch_size) == (100, 100, 4)
    assert gankit.make_config("cyclegan", ["model.blocks=9"]).model.blocks == 9  # 256 px


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.source=paired"], "cyclegan learns from two unpaired collections"),
        (["data.direction=BtoA"], "a CycleGAN learns both directions at once"),
        (["model.patch=50"], "model.patch is the PatchGAN's receptive field"),
        (["model.blocks=0"], "model.blocks must be at least 1"),
        (["model.upsample=bilinear"], "unknown model.upsample 'bilinear'"),
        (["model.pool=-1"], "model.pool cannot be negative"),
        (["model.identity=-0.5"], "model.identity cannot be negative"),
        (["optim.decay_steps=-1"], "optim.decay_steps cannot be negative"),
        (["optim.lr_decay=linear", "train.steps=10"], "decays by optim.decay_start"),
        (["model.pack=2"], "cyclegan does not take model.pack"),
        (["model.arch=unet"], "unknown architecture 'unet' for recipe cyclegan"),
        (["vae.beta=2"], "read by recipes vae and tvae, not by cyclegan"),
    ],
)
def test_bad_options_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        gankit.make_config("cyclegan", overrides)


def test_images_the_networks_cannot_read_are_refused():
    cfg = gankit.make_config("cyclegan")
    with pytest.raises(ConfigError, match="side divisible by 4"):
        CycleGANRecipe(cfg, (6, 30, 30))
    with pytest.raises(ConfigError, match="70-pixel PatchGAN sees past 16-pixel images"):
        CycleGANRecipe(cfg, (6, 16, 16))


def test_gankit_options_lists_every_cyclegan_key_with_its_meaning():
    docs = {d.key: d for d in list_options("cyclegan")}
    keys = ["model.blocks", "model.cycle", "model.identity", "model.pool", "model.patch"]
    keys += ["model.upsample"]
    for key in [*keys, "optim.decay_start", "optim.decay_steps"]:
        assert "cyclegan" in docs[key].meaning, key
    assert (docs["optim.decay_start"].default, docs["model.blocks"].default) == ("100", "6")
    assert {k.split(".")[0] for k in docs} == {"data", "model", "optim", "train"}


def test_the_pool_passes_images_on_until_full_then_swaps_half_for_stored_ones():
    pool, rng = ImagePool(4, (1, 1, 1)), torch.Generator().manual_seed(0)
    first = torch.arange(1.0, 5.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first, rng), first)  # filling: every image passes through
    assert torch.equal(pool.images, first) and int(pool.stored) == 4
    swapped = 0
    for batch in range(500):
        fresh = (100.0 + 4 * batch + torch.arange(4.0)).view(4, 1, 1, 1)
        before = pool.images.clone()
        out = pool.query(fresh, rng)
        for i, (image, new) in enumerate(zip(out.flatten(), fresh.flatten(), strict=True)):
            if image != new:  # swapped for an image the pool held (perhaps one of this batch's)
                swapped += 1
                assert image in [*before.flatten(), *fresh.flatten()[:i]]
        assert sorted(out.flatten().tolist() + pool.images.flatten().tolist()) == sorted(
            before.flatten().tolist() + fresh.flatten().tolist()
        )  # nothing lost or duplicated: a returned stored image is replaced by the fresh one
    assert 0.46 < swapped / 2000 < 0.54
    assert torch.equal(ImagePool(0, (1, 1, 1)).query(first, rng), first)  # pool 0: newest only


def recipe_with(ab, ba, **options):
    """A small recipe (width 4, 16-pixel PatchGANs) with the given generators in place."""
    overrides = ["model.width=4", "model.patch=16", "model.blocks=1"]
    cfg = gankit.make_config("cyclegan", overrides + [f"{k}={v}" for k, v in options.items()])
    recipe = CycleGANRecipe(cfg, (6, 32, 32))
    recipe.nets["G"].ab, recipe.nets["G"].ba = ab, ba
    return recipe


class Affine(nn.Module):
    def __init__(self, scale, shift=0.0):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return x * self.scale + self.shift


@torch.no_grad()
def test_identity_and_cycle_losses_on_constructed_generators():
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    parts, fake_a, fake_b = recipe_with(nn.Identity(), nn.Identity()).generator_losses(a, b)
    assert float(parts["identity"]) == 0.0 and float(parts["cycle"]) == 0.0
    assert torch.equal(fake_b, a) and torch.equal(fake_a, b)
    # inverse maps: no cycle loss; identity |b/2 - b| + |2a - a|
    parts, _, _ = recipe_with(Affine(0.5), Affine(2.0)).generator_losses(a, b)
    assert float(parts["cycle"]) == pytest.approx(0.0, abs=1e-7)
    expected = float(0.5 * b.abs().mean() + a.abs().mean())
    assert float(parts["identity"]) == pytest.approx(expected, rel=1e-6)
    # a shift of 0.1 one way only: off by 0.1 after either cycle
    parts, _, _ = recipe_with(
        Affine(1.0, 0.1), nn.Identity(), **{"model.identity": 0}
    ).generator_losses(a, b)
    assert float(parts["cycle"]) == pytest.approx(0.2, rel=1e-5) and "identity" not in parts
    lam = 10.0 * float(parts["cycle"])
    assert float(parts["loss_g"]) == pytest.approx(float(parts["adversarial"]) + lam, rel=1e-6)


def test_the_learning_rate_is_constant_then_falls_linearly_to_zero():
    assert [lr_scale(s, 4, 8) for s in (0, 3, 4, 6, 8, 11, 12, 50)] == [
        1.0,
        1.0,
        1.0,
        0.75,
        0.5,
        0.125,
        0.0,
        0.0,
    ]
    assert lr_scale(1000, 0, 0) == 1.0  # no decay
    decay = {"optim.decay_start": 4, "optim.decay_steps": 8}
    recipe = recipe_with(nn.Identity(), nn.Identity(), **decay)
    recipe.set_learning_rates(6)
    rates = [g["lr"] for o in recipe.optimizers.values() for g in o.param_groups]
    assert rates == pytest.approx([1.5e-4] * 2, rel=1e-12)


def test_resume_equals_an_uninterrupted_run_weights_pools_and_rates(tmp_path):
    write_domains(tmp_path / "data")
    overrides = ("model.pool=6", "optim.decay_start=2", "optim.decay_steps=6")
    whole = quiet(tiny_cyclegan(tmp_path / "data", *overrides, steps=8), tmp_path / "whole")
    whole.run()
    half = quiet(tiny_cyclegan(tmp_path / "data", *overrides, steps=4), tmp_path / "split")
    half.run()
    resumed = quiet(
        tiny_cyclegan(tmp_path / "data", *overrides, steps=8), tmp_path / "split", resume=True
    )
    pool = resumed.nets["pool"]
    assert resumed.step == 4 and int(pool.a.stored) == 6 and int(pool.b.stored) == 6
    resumed.run()
    for name in ("G", "D", "pool"):
        expected, got = whole.nets[name].state_dict(), resumed.nets[name].state_dict()
        assert all(torch.equal(expected[k], got[k]) for k in expected), name
    rates = [g["lr"] for o in resumed.recipe.optimizers.values() for g in o.param_groups]
    assert (
        rates
        == [2e-4 * lr_scale(7, 2, 6)] * 2
        == [g["lr"] for o in whole.recipe.optimizers.values() for g in o.param_groups]
    )


def test_a_run_turns_each_domain_towards_the_other_and_grids_show_both_cycles(tmp_path):
    write_domains(tmp_path / "data")
    trainer = quiet(tiny_cyclegan(tmp_path / "data", steps=40), tmp_path / "run")
    rows = trainer.fixed_latents
    a, b = rows[:, :3], rows[:, 3:]

    def distances():
        with torch.no_grad():
            G = trainer.nets["G"]
            return float((G.ab(a).mean() - b.mean()).abs()), float(
                (G.ba(b).mean() - a.mean()).abs()
            )

    before = distances()
    trainer.run()
    after = distances()
    assert after[0] < 0.5 * before[0] and after[1] < 0.5 * before[1]
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000040.png")
    panels, per_row = trainer.recipe.grid_panels(rows, trainer.sample(rows))
    assert per_row == 6 and panels.shape == (6 * len(rows), 3, 16, 16)
    with torch.no_grad():
        G = trainer.nets["G"]
        assert torch.allclose(panels[1::6], G.ab(a), atol=1e-6)
        assert torch.allclose(panels[2::6], G.ba(G.ab(a)), atol=1e-6)
        assert torch.allclose(panels[4::6], G.ba(b), atol=1e-6)
    assert grid.size == (2 + 6 * 18, 2 + len(rows) * 18)  # 16-pixel panels, 2-pixel borders


def test_translate_and_eval_serve_both_directions(tmp_path):
    write_pairs(tmp_path / "pairs", 40)
    cfg = tiny_cyclegan(tmp_path / "pairs", steps=2)
    quiet(cfg, tmp_path / "run").run()
    scores = gankit.evaluate_translation(tmp_path / "run")
    assert scores["pairs"] > 0
    for direction in ("AtoB", "BtoA"):
        assert 0 < scores[f"{direction}_l1"] < 1 and scores[f"{direction}_identity_l1"] > 0
        written = gankit.translate(
            tmp_path / "run", tmp_path / "pairs" / "A", tmp_path / direction, direction=direction
        )
        assert len(written) == 40 and written[0].name == "p00.png"
    model = gankit.load(tmp_path / "run")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(
            model.recipe.translate(x, "AtoB", model.nets),
            model.recipe.translate(x, "BtoA", model.nets),
        )
    with pytest.raises(ConfigError, match="say which with --direction"):
        gankit.translate(tmp_path / "run", tmp_path / "pairs" / "A", tmp_path / "none")
