import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.errors import ConfigError
from gankit.recipes.gan import GANRecipe
from gankit.recipes.stylegan import StyleTraining
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt

TINY = ["model.width=8", "model.channel_max=16", "model.z_dim=16", "optim.batch_size=8"]


def _recipe(*overrides, shape=(1, 8, 8)):
    torch.manual_seed(0)
    return GANRecipe(gankit.make_config("stylegan", [*TINY, *overrides]), shape)


def test_the_preset_holds_stylegan2s_settings():
    cfg = gankit.make_config("stylegan")
    m, loss, o = cfg.model, cfg.loss, cfg.optim
    assert (m.arch, m.mapping_layers, m.style_mixing, m.minibatch_std) == ("stylegan", 2, 0.9, 4)
    assert (loss.kind, loss.r1_every, loss.pl_every) == ("non-saturating", 16, 4)
    assert (o.lr_g, o.beta1, o.beta2, cfg.train.ema) == (2e-3, 0.0, 0.99, 0.999)
    assert gankit.make_config("dcgan").model.mapping_layers == 8  # the paper's depth by default


@pytest.mark.parametrize(
    ("preset", "override", "fragment"),
    [
        ("dcgan", "model.mapping_layers=4", "model.mapping_layers applies to model.arch=stylegan"),
        ("sngan", "loss.pl_weight=2", "loss.pl_weight applies to model.arch=stylegan"),
        ("dcgan", "model.style_mixing=0", "model.style_mixing applies to model.arch=stylegan"),
        ("stylegan", "model.style_mixing=1.5", "probability in \\[0, 1\\]"),
        ("stylegan", "model.mapping_layers=0", "must be >= 1"),
        ("stylegan", "model.w_avg_beta=1", "in \\[0, 1\\)"),
        ("stylegan", "model.mapping_lr=0", "in \\(0, 1\\]"),
        ("stylegan", "loss.pl_weight=-1", "cannot be negative"),
        ("stylegan", "model.conditional=true", "model.conditional does not apply"),
        ("stylegan", "model.d_spectral_norm=true", "model.d_spectral_norm does not apply"),
        ("stylegan", "data.resolution=3", "any size from 4"),
    ],
)
def test_options_that_do_not_apply_are_refused_in_one_line(preset, override, fragment):
    with pytest.raises(ConfigError, match=fragment) as e:
        gankit.make_config(preset, [override])
    assert "\n" not in str(e.value)


def test_path_length_with_fp16_is_refused():
    with pytest.raises(ConfigError, match="loss.pl_weight with train.amp=fp16"):
        gankit.make_config("stylegan", ["loss.r1=0", "loss.pl_weight=2", "train.amp=fp16"])


def test_mixing_crosses_two_ws_at_a_drawn_layer_and_tracks_the_average_w():
    recipe = _recipe("model.style_mixing=1")
    G = recipe.nets["G"]
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(100))  # not a mixing seed's
    cuts = set()
    for seed in range(12):
        ws = recipe.style.styles(G, z, torch.Generator().manual_seed(seed), (0, 1))
        first = G.mapping(z)
        same = [torch.allclose(ws[:, i], first) for i in range(G.num_ws)]
        cut = same.index(False)
        assert all(same[:cut]) and not any(same[cut:]) and 1 <= cut < G.num_ws
        assert torch.allclose(ws[:, cut:], ws[:, -1:].expand_as(ws[:, cut:]))  # one second w
        cuts.add(cut)
    assert cuts == set(range(1, G.num_ws))  # every crossover of a P = 8 model (4 w's) was drawn
    assert G.w_avg.abs().sum() > 0


def test_no_mixing_keeps_one_w_for_every_layer():
    recipe = _recipe("model.style_mixing=0")
    G = recipe.nets["G"]
    z = torch.randn(4, 16)
    ws = recipe.style.styles(G, z, torch.Generator().manual_seed(0), (0, 1))
    assert torch.equal(ws, G.styles(G.mapping(z)))


def test_a_step_trains_with_lazy_r1_and_path_length_regularisation():
    recipe = _recipe("loss.pl_weight=2", "loss.pl_every=2")
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    rng = torch.Generator().manual_seed(0)
    first = recipe.train_step(x, None, rng, want_stats=True, step=0)  # R1 and PL both due
    assert {"r1", "path_length", "loss_d", "loss_g"} <= first.keys()
    assert torch.isfinite(torch.stack([first[k] for k in ("r1", "path_length", "loss_g")])).all()
    G = recipe.nets["G"]
    assert float(G.pl_mean) == pytest.approx(0.01 * float(first["path_length"]), rel=1e-5)
    second = recipe.train_step(x, None, rng, want_stats=True, step=1)
    assert "r1" not in second and "path_length" not in second
    assert isinstance(recipe.style, StyleTraining)


def _state(run):
    return ckpt.load(ckpt.resolve(run))


def test_resume_restores_the_average_w_and_path_length_mean_bit_for_bit(tmp_path):
    def config(steps):
        cfg = tiny_config("stylegan", steps=steps)
        return gankit.config.update(
            cfg,
            [*TINY, "loss.pl_weight=2", "loss.pl_every=3", "loss.r1_every=4", "train.ema_start=3"],
        )

    Trainer(config(12), tmp_path / "a", progress=False).run()
    Trainer(config(7), tmp_path / "b", progress=False).run()
    Trainer(config(12), tmp_path / "b", resume=True, progress=False).run()
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert a["step"] == b["step"] == 12
    for key in ("w_avg", "pl_mean"):
        assert torch.equal(a["nets"]["G"][key], b["nets"]["G"][key])
        assert torch.equal(a["ema"]["G"][key], b["ema"]["G"][key])
    assert a["nets"]["G"]["w_avg"].abs().sum() > 0 and float(a["nets"]["G"]["pl_mean"]) > 0
    assert torch.equal(a["ema"]["G"]["w_avg"], a["nets"]["G"]["w_avg"])  # copied, not averaged
    assert all(torch.equal(v, b["nets"]["G"][k]) for k, v in a["nets"]["G"].items())
    assert all(torch.equal(v, b["nets"]["D"][k]) for k, v in a["nets"]["D"].items())


def test_gankit_options_lists_the_style_options_with_their_meaning():
    from gankit.options_doc import list_options

    docs = {d.key: d for d in list_options("stylegan")}
    assert docs["model.mapping_layers"].default == "2"
    assert "mapping network" in docs["model.mapping_layers"].meaning
    assert "path length" in docs["loss.pl_weight"].meaning
    assert all(docs[k].meaning for k in ("model.style_mixing", "model.w_avg_beta"))
