"""The GAN recipe's composable options: each loss, penalty, clipping, n_critic, packing,
conditioning and DiffAugment, through the real trainer on tiny runs."""

import pytest
import torch
from conftest import tiny_config

import gankit
from gankit import config as config_mod
from gankit.errors import ConfigError
from gankit.losses import OUTPUT_KIND
from gankit.recipes.gan import GANRecipe, output_stats, pack
from gankit.train import Trainer
from gankit.train.health import D_WINNING, HealthMonitor


def run(tmp_path, preset="dcgan", steps=6, **sections):
    cfg = tiny_config(preset, steps=steps)
    config_mod.update(cfg, **sections)
    trainer = Trainer(
        config_mod.validate(cfg), tmp_path / "run", progress=False, echo=lambda line: None
    )
    return trainer, trainer.run()


@pytest.mark.parametrize("kind", sorted(OUTPUT_KIND))
def test_every_loss_trains_and_logs_its_own_view_of_d(tmp_path, kind):
    trainer, result = run(tmp_path, loss={"kind": kind})
    assert result.status == "completed"
    last = trainer.health.history[-1]
    assert torch.isfinite(torch.tensor([last["loss_d"], last["loss_g"]])).all()
    if OUTPUT_KIND[kind] == "critic":
        assert "critic_gap" in last and "d_acc" not in last
    else:
        assert 0.0 <= last["d_acc"] <= 1.0


def test_n_critic_updates_d_that_many_times_per_g_step(tmp_path):
    trainer, _ = run(tmp_path, steps=4, optim={"n_critic": 3})
    steps_of = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
    assert steps_of(trainer.recipe.optimizers["D"]) == 12
    assert steps_of(trainer.recipe.optimizers["G"]) == 4


def test_weight_clipping_bounds_every_d_weight_after_training(tmp_path):
    trainer, _ = run(
        tmp_path, loss={"kind": "wasserstein", "clip": 0.01}, optim={"name": "rmsprop"}
    )
    assert max(p.abs().max().item() for p in trainer.recipe.nets["D"].parameters()) <= 0.01 + 1e-9


PER_SAMPLE_D = {"d_norm": "none"}  # the penalties need D's per-sample gradients


def test_gradient_penalty_and_lazy_r1_are_logged_when_applied(tmp_path):
    gp = {"kind": "wasserstein", "gp": 10.0}
    trainer, _ = run(tmp_path, steps=10, loss=gp, model=PER_SAMPLE_D)
    assert all("gp" in h for h in trainer.health.history)
    r1 = {"r1": 1.0, "r1_every": 4}
    trainer, _ = run(tmp_path / "r1", steps=10, loss=r1, model=PER_SAMPLE_D)
    # log steps are 5 and 10 (0-based steps 4 and 9): R1 runs on steps 0, 4, 8
    assert ["r1" in h for h in trainer.health.history] == [True, False]


def test_gradient_penalty_changes_the_training_of_d(tmp_path):
    gp = {"kind": "wasserstein", "gp": 10.0}
    with_gp, _ = run(tmp_path / "a", steps=3, loss=gp, model=PER_SAMPLE_D)
    without, _ = run(tmp_path / "b", steps=3, loss={"kind": "wasserstein"}, model=PER_SAMPLE_D)
    a = torch.cat([p.flatten() for p in with_gp.recipe.nets["D"].parameters()])
    b = torch.cat([p.flatten() for p in without.recipe.nets["D"].parameters()])
    assert not torch.allclose(a, b)


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(2 * 3 * 2 * 2.0).view(6, 1, 2, 2)
    packed = pack(x, 3)
    assert packed.shape == (2, 3, 2, 2) and torch.equal(packed[1, 2], x[5, 0])
    assert torch.equal(
        pack(torch.eye(4), 2), torch.tensor([[1.0, 0, 0, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0, 1]])
    )


def test_packed_d_sees_pack_times_the_channels(tmp_path):
    trainer, result = run(tmp_path, model={"pack": 4, "width": 8})
    assert result.status == "completed"
    assert trainer.recipe.nets["D"].net[0].in_channels == 4


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_conditional_models_follow_the_label(tmp_path, arch):
    trainer, _ = run(tmp_path, model={"conditional": True, "arch": arch, "width": 8})
    recipe = trainer.recipe
    z = recipe.latents(4, torch.Generator().manual_seed(0)).repeat(2, 1)
    labels = torch.tensor([0, 1, 2, 3, 7, 7, 7, 7])
    recipe.nets["G"].eval()
    out = recipe.generate(z, labels)
    assert out.shape == (8, 1, 8, 8)
    assert not torch.allclose(out[:4], out[4:])  # same noise, other label, other image


def test_conditional_needs_labelled_data():
    cfg = gankit.make_config("cgan", data={"source": "toy2d"}, model={"arch": "mlp", "hidden": [8]})
    with pytest.raises(ConfigError, match="class labels"):
        GANRecipe(cfg, (2,), num_classes=0)


def test_diffaugment_runs_are_reproducible_and_differ_from_plain_runs(tmp_path):
    policy = {"diffaugment": "color,translation,cutout"}
    a, _ = run(tmp_path / "a", loss=policy)
    b, _ = run(tmp_path / "b", loss=policy)
    c, _ = run(tmp_path / "c")
    weights = lambda t: torch.cat([p.flatten() for p in t.recipe.nets["G"].parameters()])  # noqa: E731
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(c))


def test_spectral_norm_on_d_and_g_of_a_dcgan(tmp_path):
    trainer, _ = run(
        tmp_path, steps=3, model={"d_spectral_norm": True, "g_spectral_norm": True, "width": 8}
    )
    convs = [m for m in trainer.recipe.nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
    wrapped = [m for m in convs if hasattr(m, "parametrizations")]
    assert len(wrapped) == len(convs) == 2  # 8x8: one strided conv, then the 4x4 one
    assert any(hasattr(m, "parametrizations") for m in trainer.recipe.nets["G"].modules())
    conv = wrapped[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert abs(sigma.item() - 1.0) < 0.1


def test_output_stats_on_each_scale():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([-3.0, 0.5])
    critic = output_stats(real, fake, "critic")
    assert critic["critic_gap"].item() == pytest.approx(0.5 - (-1.25))
    # 2>0, -3<0 right
    assert output_stats(real, fake, "margin")["d_acc"].item() == pytest.approx(0.5)
    assert output_stats(torch.tensor([0.9]), torch.tensor([0.2]), "score")["d_acc"].item() == 1.0
    logit = output_stats(torch.tensor([0.0]), torch.tensor([0.0]), "logit")
    assert logit["d_real"].item() == 0.5 and logit["d_fake"].item() == 0.5


def test_a_wasserstein_critic_is_never_called_winning():
    """A confident critic is its job, not a failure: only the logit/score/margin scales have a
    'D winning' verdict."""
    confident = {"loss_d": -5.0, "d_acc": 1.0, "d_fake": -10.0, "grad_norm_g": 1.0}
    logit, critic = HealthMonitor(output_kind="margin"), HealthMonitor(output_kind="critic")
    for _ in range(3):
        assert critic.observe(dict(confident), step=1000)[0] != D_WINNING
    verdicts = [logit.observe(dict(confident), step=1000)[0] for _ in range(3)]
    assert verdicts[-1] == D_WINNING


def test_presets_inherit_their_base_and_change_only_what_their_paper_changed():
    dcgan, cgan, sagan = (config_mod.from_preset(p) for p in ("dcgan", "cgan", "sagan"))
    assert cgan.model.conditional and not dcgan.model.conditional
    cgan.model.conditional = True
    dcgan.model.conditional = True
    assert (cgan.model, cgan.loss, cgan.optim, cgan.train) == (
        dcgan.model,
        dcgan.loss,
        dcgan.optim,
        dcgan.train,
    )
    assert (
        sagan.model.arch == "resnet" and sagan.model.d_spectral_norm and sagan.model.g_spectral_norm
    )
    assert (sagan.optim.lr_g, sagan.optim.lr_d, sagan.loss.kind) == (1e-4, 4e-4, "hinge")
    # the ResNet's CPU sizing (width 16, batch 32) is hinge-resnet's; sagan keeps its measured 32/64
    hinge = config_mod.from_preset("hinge-resnet")
    assert (hinge.model.width, hinge.optim.batch_size, hinge.optim.lr_g) == (16, 32, 4e-4)
    assert (sagan.model.width, sagan.optim.batch_size) == (32, 64)
    for name in config_mod.PRESETS:
        config_mod.validate(config_mod.from_preset(name))


@pytest.mark.parametrize(
    "override, fragment",
    [
        (["loss.kind=ragan"], "unknown loss 'ragan'"),
        (["loss.gp=-1"], "cannot be negative"),
        (["optim.n_critic=0"], "at least 1"),
        (["model.pack=3"], "divide optim.batch_size"),
        (["model.pack=2", "model.conditional=true"], "cannot be combined"),
        (["model.attention_res=14"], "needs model.arch=resnet"),
        (["model.attention_res=quarter"], "in pixels or 'half', not 'quarter'"),
        (["loss.diffaugment=color,zoom"], "zoom"),
        (["optim.name=sgd"], "unknown optimizer"),
        (["loss.gp=10", "model.d_norm=batch"], "per-sample gradients"),
        (["loss.r1=1", "model.minibatch_std=4"], "per-sample gradients"),
        (["model.g_norm=layer"], "unknown model.g_norm"),
        (["loss.clip=0"], "must be positive"),
        (["loss.r2=-1"], "cannot be negative"),
        (["loss.r2=1", "model.d_norm=batch"], "per-sample gradients"),
        (["model.d_maxout=5"], "needs model.arch=mlp"),
        (["model.arch=mlp", "model.d_width=8"], "needs model.arch=dcgan"),
        (["model.d_width=0"], "at least 1 channel"),
        (["model.arch=mlp", "model.d_maxout=1"], "at least 2 pieces"),
        (["loss.r1=1", "loss.penalty_final=0"], r"a number in \(0, 1\]"),
        (["loss.r1=1", "loss.penalty_final=1.5"], r"a number in \(0, 1\]"),
        (["loss.penalty_final=0.1"], "set one of them"),
    ],
)
def test_bad_gan_options_are_config_errors(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        gankit.make_config("dcgan", override)


@pytest.mark.parametrize(("shape", "at"), [((1, 28, 28), 14), ((3, 32, 32), 16), ((4, 64, 64), 32)])
def test_sagan_attends_at_half_the_image_size_of_any_data(shape, at):
    from gankit.recipes.gan import build_nets

    cfg = gankit.make_config("sagan", ["model.width=8"])
    assert cfg.model.attention_res == "half"
    nets = build_nets(cfg, shape, 0)
    G, D = nets["G"], nets["D"]
    assert G.attn is not None and D.attn is not None
    base = 7 if shape[-1] == 28 else 4
    assert base * 2**G.attn_at == at  # G's stage 0 is the first (base x base) map
    assert G(torch.randn(2, cfg.model.z_dim)).shape == (2, *shape)
    explicit = gankit.make_config("sagan", ["model.width=8", f"model.attention_res={at}"])
    assert build_nets(explicit, shape, 0)["G"].attn_at == G.attn_at


IMAGE_PRESETS = [
    name
    for name in config_mod.PRESETS
    if config_mod.from_preset(name).recipe == "gan"
    and config_mod.from_preset(name).model.arch != "mlp"
]


@pytest.mark.parametrize("preset", IMAGE_PRESETS)
def test_every_image_gan_preset_builds_for_colour_32_and_64_px(preset):
    from gankit.recipes.gan import build_nets

    cfg = gankit.make_config(preset, ["model.width=8"])
    classes = 10 if cfg.model.conditional else 0
    for shape in ((3, 32, 32), (3, 64, 64), (4, 64, 64)):
        nets = build_nets(cfg, shape, classes)
        y = torch.arange(2) if classes else None
        images = nets["G"](torch.randn(2, cfg.model.z_dim), y)
        assert images.shape == (2, *shape)
        d_input = images.repeat(1, cfg.model.pack, 1, 1) if cfg.model.pack > 1 else images
        assert nets["D"](d_input, y).numel() == 2 // cfg.model.pack


def test_projection_is_a_dcgan_conditional_option():
    with pytest.raises(ConfigError, match="model.projection needs"):
        gankit.make_config("dcgan", ["model.projection=true"])
    cfg = gankit.make_config("cgan", ["model.projection=true"])
    recipe = GANRecipe(cfg, (1, 28, 28), num_classes=10)
    assert recipe.nets["D"].projection


def test_gradient_penalty_of_a_packed_linear_d_is_its_closed_form():
    """With pack=2, D is linear in the packed input: the penalty is (|w| - 1)^2 on D's own input."""
    cfg = gankit.make_config(
        "seed-mlp",
        ["model.hidden=[]", "model.pack=2", "loss.kind=wasserstein", "loss.gp=1"],
        data={"source": "toy2d"},
    )
    recipe = GANRecipe(cfg, (2,))
    w = recipe.nets["D"].net[0].weight.detach().clone()  # the step updates D in place
    rng = torch.Generator().manual_seed(0)
    x, fake = torch.randn(8, 2), torch.randn(8, 2)
    stats = recipe._d_step(x, None, fake, rng, step=0, want_stats=False)
    assert stats["gp"].item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


class QuadraticD(torch.nn.Module):
    """D(x) = w.x + c x_0^2 / 2, whose input gradient w + (c x_0, 0) differs from point to point."""

    def __init__(self, w, c):
        super().__init__()
        self.w, self.c = torch.nn.Parameter(w), c

    def forward(self, v, y=None):
        return v @ self.w + self.c * v[:, 0] ** 2 / 2


def test_r1_and_r2_penalise_ds_gradient_at_real_and_generated_points():
    """R1 reads D's gradient at the real points and R2 at the generated ones: each the mean of
    ||w + (c x_0, 0)||^2 over its own points."""
    over = ["model.hidden=[]", "loss.kind=rpgan", "loss.r1=2", "loss.r2=4"]
    recipe = GANRecipe(gankit.make_config("seed-mlp", over, data={"source": "toy2d"}), (2,))
    w, c = torch.tensor([0.5, -1.0]), 3.0
    recipe.nets["D"] = QuadraticD(w.clone(), c)
    x, fake = torch.randn(8, 2), torch.randn(8, 2) + 5

    def expected(points):
        grad = w + torch.stack([c * points[:, 0], torch.zeros(len(points))], 1)
        return grad.pow(2).sum(1).mean().item()

    stats = recipe._d_step(x, None, fake, torch.Generator().manual_seed(0), 0, False)
    assert stats["r1"].item() == pytest.approx(expected(x), rel=1e-5)
    assert stats["r2"].item() == pytest.approx(expected(fake), rel=1e-5)
    assert stats["r1"].item() != pytest.approx(stats["r2"].item(), rel=0.1)


def test_penalty_share_falls_on_a_cosine_from_one_to_the_final_share():
    from gankit.recipes.gan import penalty_share

    assert penalty_share(0.1, 0, 1000) == 1.0
    assert penalty_share(0.1, 500, 1000) == pytest.approx(0.55)
    assert penalty_share(0.1, 250, 1000) == pytest.approx(0.1 + 0.9 * (1 + 0.5**0.5) / 2)
    assert penalty_share(0.1, 1000, 1000) == pytest.approx(0.1)
    assert penalty_share(1.0, 500, 1000) == 1.0


def test_penalty_final_weighs_r1_and_r2_by_the_share_of_that_step():
    """Late in a run with loss.penalty_final, D's update is the update of constant penalties at
    the scheduled weight, and differs from the update at the full weight."""
    x, fake = torch.randn(8, 2), torch.randn(8, 2) + 5

    def d_after_step(options, step):
        over = ["model.hidden=[]", "loss.kind=rpgan", *options]
        cfg = gankit.make_config("seed-mlp", over, data={"source": "toy2d"})
        cfg.train.steps = 100
        recipe = GANRecipe(cfg, (2,))
        recipe.nets["D"] = QuadraticD(torch.tensor([0.5, -1.0]), 3.0)
        recipe.optimizers["D"] = torch.optim.SGD(recipe.nets["D"].parameters(), lr=0.1)
        recipe._d_step(x, None, fake, torch.Generator().manual_seed(0), step, False)
        return recipe.nets["D"].w.detach()

    scheduled = d_after_step(["loss.r1=2", "loss.r2=4", "loss.penalty_final=0.25"], 100)
    constant = d_after_step(["loss.r1=0.5", "loss.r2=1"], 100)
    assert torch.allclose(scheduled, constant, atol=1e-6)
    assert not torch.allclose(scheduled, d_after_step(["loss.r1=2", "loss.r2=4"], 100), atol=1e-3)
    first = d_after_step(["loss.r1=2", "loss.r2=4", "loss.penalty_final=0.25"], 0)
    assert torch.allclose(first, d_after_step(["loss.r1=2", "loss.r2=4"], 0), atol=1e-6)


def test_penalty_final_needs_a_step_budget():
    with pytest.raises(ConfigError, match="needs a step budget"):
        config_mod.validate(
            gankit.make_config(
                "modes-2d", ["loss.penalty_final=0.1", "train.steps=null", "train.minutes=5"]
            )
        )


def test_modes_dcgan_is_dcgan_twice_as_wide_with_gs_rate_twice_ds():
    dcgan, modes = (config_mod.from_preset(p) for p in ("dcgan", "modes-dcgan"))
    assert (modes.model.width, modes.optim.lr_g, modes.optim.lr_d) == (64, 4e-4, 2e-4)
    assert (modes.train.steps, modes.data.stacked_samples) == (32_000, 128_000)
    modes.model.width, modes.optim.lr_g = dcgan.model.width, dcgan.optim.lr_g
    modes.train.steps, modes.data.stacked_samples = dcgan.train.steps, dcgan.data.stacked_samples
    assert (modes.model, modes.loss, modes.optim, modes.train, modes.data) == (
        dcgan.model,
        dcgan.loss,
        dcgan.optim,
        dcgan.train,
        dcgan.data,
    )


def test_d_width_narrows_only_d():
    cfg = gankit.make_config("dcgan", ["model.width=8", "model.d_width=2"])
    nets = GANRecipe(cfg, (3, 28, 28)).nets
    d_convs = [m.out_channels for m in nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
    g_convs = [
        m.out_channels for m in nets["G"].modules() if isinstance(m, torch.nn.ConvTranspose2d)
    ]
    assert g_convs[:-1] == [16, 8] and d_convs == [2, 4, 1]  # D: a quarter of G's, mirrored


def test_maxout_d_keeps_the_largest_of_its_pieces():
    cfg = gankit.make_config(
        "gan", ["model.d_hidden=[3]", "model.d_maxout=4"], data={"source": "toy2d"}
    )
    D = GANRecipe(cfg, (2,)).nets["D"]
    maxout = D.net[0]
    x = torch.randn(5, 2)
    pieces = maxout.linear(x).view(5, 3, 4)
    assert torch.equal(maxout(x), pieces.max(dim=2).values)
    assert D(x).shape == (5,)


def test_relativistic_stats_ignore_ds_offset():
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.0])
    a, b = (
        output_stats(real, fake, "relative-logit"),
        output_stats(real + 5, fake + 5, "relative-logit"),
    )
    for key in ("d_real", "d_fake", "d_acc"):
        assert a[key].item() == pytest.approx(b[key].item())


def test_dropout_runs_are_reproducible_whatever_the_global_rng(tmp_path):
    def weights(path, noise):
        # the global RNG must not matter: dropout is seeded from the run's stream
        torch.manual_seed(noise)
        trainer, _ = run(path, preset="seed-mlp", steps=4, model={"d_dropout": 0.3})
        return torch.cat([p.flatten() for p in trainer.recipe.nets["D"].parameters()])

    assert torch.equal(weights(tmp_path / "a", 1), weights(tmp_path / "b", 2))


def test_resume_refuses_a_new_step_budget_under_lr_decay(tmp_path):
    run(tmp_path, steps=10, optim={"lr_decay": "linear"})
    cfg = tiny_config(steps=20)
    config_mod.update(cfg, optim={"lr_decay": "linear"})
    with pytest.raises(gankit.GankitError, match="lr_decay ends its schedule"):
        Trainer(cfg, tmp_path / "run", resume=True, progress=False)


def test_resume_refuses_a_new_step_budget_under_penalty_final(tmp_path):
    penalties = {"d_norm": "none"}, {"r1": 0.1, "penalty_final": 0.1}
    run(tmp_path, steps=10, model=penalties[0], loss=penalties[1])
    cfg = tiny_config(steps=20)
    config_mod.update(cfg, model=penalties[0], loss=penalties[1])
    with pytest.raises(gankit.GankitError, match="penalty_final ends its schedule"):
        Trainer(cfg, tmp_path / "run", resume=True, progress=False)


def test_points_cannot_be_augmented():
    cfg = gankit.make_config("seed-mlp", ["loss.diffaugment=color"], data={"source": "toy2d"})
    with pytest.raises(ConfigError, match="needs image data"):
        GANRecipe(cfg, (2,))


def test_gan_preset_has_batch_norm_in_g_and_a_narrower_d():
    recipe = GANRecipe(gankit.make_config("gan"), (1, 28, 28))
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in recipe.nets["G"].modules())
    sizes = [m.out_features for m in recipe.nets["D"].modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [512, 256, 1]


@pytest.mark.parametrize(
    "arch, n_critic, pack",
    [("seed-mlp", 1, 1), ("seed-mlp", 2, 2), ("dcgan", 1, 1), ("dcgan", 3, 2)],
)
def test_two_ranks_average_to_one_process_gradients_with_every_per_sample_draw(
    arch, n_critic, pack
):
    """WGAN-GP with DiffAugment (and D's dropout for the MLP): latents, augmentations, the GP's
    points and dropout masks are each rank's slice of the global draws (`shard`), so the mean of
    two ranks' gradients is one process's on the whole batch. D's learning rate is 0: ranks
    simulated in one process average no gradients, so G's step must meet the same D."""
    import copy

    from gankit.train.distributed import rank_slice

    cfg = tiny_config(arch)
    config_mod.update(
        cfg,
        loss={"kind": "wasserstein", "gp": 10.0, "diffaugment": "color,translation,cutout"},
        optim={"n_critic": n_critic},
        model={"pack": pack},
    )
    if arch == "seed-mlp":
        cfg.model.d_dropout = 0.3
    else:
        cfg.model.d_norm = "none"  # batch statistics would tie each rank's outputs to its slice
    cfg = config_mod.validate(cfg)
    recipe = GANRecipe(cfg, (1, 8, 8))
    x = torch.rand(16 * n_critic, 1, 8, 8) * 2 - 1  # n_critic global batches of 16
    if arch == "dcgan":
        recipe.nets["G"].eval()  # G's batch norm: each sample's output is its own
    grads = []
    # as the trainer splits
    rank_rows = [x[rank_slice(torch.arange(len(x)), n_critic, r, 2)] for r in range(2)]
    for shard, part in [((0, 1), x), ((0, 2), rank_rows[0]), ((1, 2), rank_rows[1])]:
        r = copy.deepcopy(recipe)
        r.shard = shard
        r.optimizers["D"].param_groups[0]["lr"] = 0.0
        # seeds dropout too
        r.train_step(part, None, torch.Generator().manual_seed(3), want_stats=False)
        grads.append(
            {
                f"{n}.{k}": p.grad.clone()
                for n, net in r.nets.items()
                for k, p in net.named_parameters()
            }
        )
    whole, a, b = grads
    for k in whole:
        torch.testing.assert_close((a[k] + b[k]) / 2, whole[k], rtol=1e-4, atol=1e-6)
