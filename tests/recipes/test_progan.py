"""Progressive growing through the real trainer on the embedded 8x8 digits (stages 4x4 and 8x8):
the schedule's stages, alphas and batch sizes, exact resume in the middle of a fade-in, full-size
samples, and the options refused where they do not apply."""

import json

import pytest
import torch

import gankit
from gankit import cli
from gankit.errors import ConfigError
from gankit.recipes.gan import GANRecipe, build_nets
from gankit.recipes.progan import ProGANRecipe, ProgressiveSchedule
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt


def progan_config(steps=12, preset="progan", **train):
    """Stage 0 (4x4): 2 steps of 16; stage 1 (8x8): fade-in over steps 2..9 (8 a step, 64
    images), then stable."""
    return gankit.make_config(
        preset,
        data={"source": "digits"},
        model={"width": 8, "fmap_base": 32, "z_dim": 8},
        optim={"batch_sizes": [16], "batch_size": 8},
        train={
            "steps": steps,
            "fade_images": 64,
            "stable_images": 32,
            "log_every": 2,
            "sample_every": 6,
            "checkpoint_every": 6,
            **train,
        },
    )


def quiet(cfg, run_dir, **kwargs):
    return Trainer(cfg, run_dir, progress=False, echo=lambda line: None, **kwargs)


def test_alpha_rises_over_the_fade_in_images_then_holds():
    schedule = ProgressiveSchedule(fade_images=100, stable_images=60, batches=[20, 20, 10])
    phases = [(p.stage, p.fading, p.first_step, p.steps, p.batch) for p in schedule.phases]
    assert phases == [
        (0, False, 0, 3, 20),  # 60 images at 4x4
        (1, True, 3, 5, 20),  # 8x8 fades in over 100 images
        (1, False, 8, 3, 20),
        (2, True, 11, 10, 10),  # 16x16: batches of 10
        (2, False, 21, None, 10),  # the last stage trains on
    ]
    assert [schedule.alpha(s) for s in (0, 2, 3, 4, 7, 8)] == [1.0, 1.0, 0.0, 0.2, 0.8, 1.0]
    assert [schedule.alpha(s) for s in (11, 12, 16, 20, 21, 500)] == [0, 0.1, 0.5, 0.9, 1, 1]
    assert [schedule.phase(s).stage for s in (0, 2, 3, 10, 11, 10**6)] == [0, 0, 1, 1, 2, 2]
    assert [schedule.size(s) for s in (0, 10, 11, 30)] == [20, 20, 10, 10]
    assert schedule.images_before(11) == 220 and schedule.images_before(13) == 240
    assert schedule.largest == 20


def test_a_phase_of_no_images_is_skipped():
    schedule = ProgressiveSchedule(fade_images=0, stable_images=40, batches=[8, 8])
    assert [(p.stage, p.fading) for p in schedule.phases] == [(0, False), (1, False)]
    assert schedule.alpha(5) == 1.0 and schedule.phase(5).stage == 1


def test_the_trainer_takes_each_steps_batch_from_the_schedule(tmp_path):
    trainer = quiet(progan_config(), tmp_path)
    assert isinstance(trainer.recipe, ProGANRecipe)
    sizes = [len(trainer.batch(step)[0]) for step in range(4)]
    assert sizes == [16, 16, 8, 8]
    # the steps read the epoch's permutation end to end, a batch after the other
    read = torch.cat([trainer.sampler.indices(step) for step in range(4)])
    first_epoch = trainer.sampler._permutation(0)
    assert torch.equal(read, first_epoch[:48])
    # across an epoch's end: 1,797 digits, the step whose batch starts 5 before it
    step = trainer.recipe.batch_schedule
    late = next(s for s in range(100, 400) if step.images_before(s) + 8 > 1797)
    start = step.images_before(late)
    across = trainer.sampler.indices(late)
    tail = trainer.sampler._permutation(0)[start:]
    assert torch.equal(across, torch.cat([tail, trainer.sampler._permutation(1)[: 8 - len(tail)]]))


def test_stage_and_alpha_are_logged_and_in_the_checkpoint(tmp_path):
    result = quiet(progan_config(steps=6), tmp_path).run()
    lines = [
        line for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if "alpha" in line
    ]
    logged = [(r["step"], r["stage"], r["alpha"]) for r in map(json.loads, lines)]
    # logged after steps 1, 3, 5: the phase of the step just run
    assert logged == [(2, 0.0, 1.0), (4, 1.0, 0.125), (6, 1.0, 0.375)]
    state = ckpt.load(result.checkpoint)
    for nets in (state["nets"], state["ema"]):
        assert [int(nets["G"][k]) for k in ("stage", "fade_done", "fade_total")] == [1, 24, 64]
    assert [int(state["nets"]["D"][k]) for k in ("stage", "fade_done")] == [1, 24]


def test_a_run_resumed_mid_fade_in_equals_an_uninterrupted_one(tmp_path):
    quiet(progan_config(steps=12), tmp_path / "a").run()
    quiet(progan_config(steps=6), tmp_path / "b").run()  # stops at alpha 0.375
    resumed = quiet(progan_config(steps=12), tmp_path / "b", resume=True)
    assert resumed.step == 6 and resumed.nets["G"].phase == (1, 0.375)
    resumed.run()
    (_, a), (_, b) = ckpt.load_latest(tmp_path / "a"), ckpt.load_latest(tmp_path / "b")
    assert a["step"] == b["step"] == 12
    for group in ("nets", "ema"):
        for net in a[group]:
            assert a[group][net].keys() == b[group][net].keys()
            assert all(torch.equal(a[group][net][k], b[group][net][k]) for k in a[group][net])
    assert a["optimizers"]["G"]["state"].keys() == b["optimizers"]["G"]["state"].keys()
    assert [int(a["nets"]["G"][k]) for k in ("stage", "fade_done", "fade_total")] == [1, 1, 1]


def test_adam_starts_afresh_at_each_new_phase(tmp_path):
    trainer = quiet(progan_config(steps=2), tmp_path)
    trainer.run()
    G_opt = trainer.recipe.optimizers["G"]
    assert all(int(s["step"]) == 2 for s in G_opt.state.values())  # the 4x4 layers, two steps
    x, y = trainer.batch(2)
    trainer.train_step(x, y)  # the first step of the fade-in
    assert {int(s["step"]) for s in G_opt.state.values()} == {1}
    new_block = trainer.recipe.nets["G"].blocks[0][0].weight
    assert new_block in G_opt.state  # the new layers train from the fade-in's first step


def test_samples_are_at_the_datas_size_mid_training_and_after(tmp_path, capsys):
    quiet(progan_config(steps=2), tmp_path / "early").run()  # still at 4x4
    early = gankit.load(tmp_path / "early").sample(4, seed=1)
    assert early.shape == (4, 1, 8, 8)
    assert torch.equal(early, early[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3))
    quiet(progan_config(steps=12), tmp_path / "late").run()
    late = gankit.load(tmp_path / "late").sample(4, seed=1)
    assert late.shape == (4, 1, 8, 8)
    assert not torch.equal(
        late, late[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3)
    )
    assert cli.main(["export", str(tmp_path / "late"), "-o", str(tmp_path / "exported")]) == 0
    exported = gankit.load(tmp_path / "exported").sample(4, seed=1)
    assert torch.equal(exported, late)


def test_progan_builds_through_the_gan_recipe_for_powers_of_two_only():
    cfg = progan_config()
    assert isinstance(GANRecipe(cfg, (3, 32, 32)), ProGANRecipe)
    nets = build_nets(cfg, (3, 16, 16))
    assert nets["G"](torch.randn(2, 8)).shape == (2, 3, 16, 16)
    with pytest.raises(ConfigError, match="28 px MNIST: data.resolution=32"):
        build_nets(cfg, (1, 28, 28))
    with pytest.raises(ConfigError, match="progan cannot build resolution 28"):
        gankit.make_config("progan", ["data.resolution=28"])


@pytest.mark.parametrize(
    "preset, override, fragment",
    [
        ("progan", "model.conditional=true", "model.conditional does not apply to progressive"),
        ("progan", "optim.n_critic=5", "optim.n_critic does not apply"),
        ("progan", "model.pack=2", "model.pack does not apply"),
        ("progan", "optim.batch_sizes=[16,1]", "at least 2"),
        ("progan", "train.fade_images=-1", "cannot be negative"),
        ("dcgan", "train.fade_images=10", "train.fade_images applies to progressive growing"),
        ("dcgan", "optim.batch_sizes=[8]", "optim.batch_sizes applies to progressive growing"),
        ("wgan-gp", "loss.drift=0.001", "loss.drift applies to progressive growing"),
        ("vae", "model.fmap_base=64", "model.fmap_base applies to progressive growing"),
    ],
)
def test_options_are_refused_where_they_do_not_apply(preset, override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        gankit.make_config(preset, [override])


def test_the_r1_variant_trains_with_the_non_saturating_loss(tmp_path):
    cfg = progan_config(steps=4, preset="progan-r1")
    assert (cfg.loss.kind, cfg.loss.r1, cfg.loss.gp, cfg.loss.drift) == ("non-saturating", 10, 0, 0)
    assert quiet(cfg, tmp_path).run().status == "completed"
