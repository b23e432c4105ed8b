import math

import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.errors import ConfigError
from gankit.latent import slerp, style_span
from gankit.nets.stylegan import StyleGenerator
from gankit.train import Trainer

TINY_STYLE = ["model.width=8", "model.channel_max=16", "model.z_dim=16", "optim.batch_size=8"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A few steps of a tiny style-based model and of a dcgan, on the 8 x 8 digits."""
    root = tmp_path_factory.mktemp("runs")
    # the EMA averages from the first step, so the raw and averaged weights differ
    style = gankit.config.update(
        tiny_config("stylegan", steps=6), [*TINY_STYLE, "train.ema_start=0"]
    )
    Trainer(style, root / "style", progress=False).run()
    Trainer(tiny_config("dcgan", steps=2), root / "dcgan", progress=False).run()
    return root


def test_slerp_keeps_the_ends_and_walks_the_great_circle():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 5), atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.linspace(1, 2, 5), atol=1e-6)


def test_truncation_at_psi_0_gives_the_average_image_and_psi_1_changes_nothing(runs):
    model = gankit.load(runs / "style")
    G = model.nets["G"]
    assert isinstance(G, StyleGenerator) and G.w_avg.abs().sum() > 0  # tracked, saved, loaded
    average = model.sample(6, seed=3, truncation=0.0)
    assert torch.allclose(average, average[:1].expand_as(average), atol=1e-6)
    expected = G.synthesis(G.styles(G.w_avg[None])).clamp(-1, 1)
    assert torch.allclose(average[0], expected[0], atol=1e-6)
    assert torch.equal(model.sample(6, seed=3, truncation=1.0), model.sample(6, seed=3))
    assert not torch.allclose(model.sample(6, seed=3, truncation=0.5), model.sample(6, seed=3))


def test_models_without_a_w_space_refuse_truncation_and_mixing(runs):
    model = gankit.load(runs / "dcgan")
    for call in (lambda: model.sample(2, truncation=0.7), lambda: model.mix()):
        with pytest.raises(ConfigError, match="has no w space") as e:
            call()
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="has no w space"):
        model.interpolate(space="w")


@pytest.mark.parametrize(("run", "space"), [("style", "w"), ("style", "z"), ("dcgan", "auto")])
def test_walks_end_at_the_samples_of_their_end_latents(runs, run, space):
    model = gankit.load(runs / run)
    walk = model.interpolate(frames=7, seed=11, space=space)
    ends = model.sample(2, seed=11)
    assert walk.shape == (7, *model.sample_shape)
    assert torch.allclose(walk[0], ends[0], atol=1e-5) and torch.allclose(
        walk[-1], ends[1], atol=1e-5
    )
    steps = (walk[1:] - walk[:-1]).abs().mean((1, 2, 3))
    assert steps.max() < (ends[0] - ends[1]).abs().mean()  # in between, not a jump


def test_the_w_walk_is_linear_in_w(runs):
    model = gankit.load(runs / "style")
    G = model.nets["G"]
    walk = model.interpolate(frames=3, seed=5, space="w", truncation=0.0)  # both ends: w_avg
    assert torch.allclose(walk, walk[:1].expand_as(walk), atol=1e-6)
    z = model.recipe.latents(2, torch.Generator().manual_seed(5))
    middle = G.synthesis(G.styles(G.mapping(z).mean(0, keepdim=True))).clamp(-1, 1)
    assert torch.allclose(model.interpolate(frames=3, seed=5, space="w")[1], middle[0], atol=1e-5)


def test_the_mixing_grid_crosses_the_chosen_layers(runs):
    model = gankit.load(runs / "style")
    G = model.nets["G"]
    n = G.num_ws
    top_styles, _ = model.mix(2, 3, layers=f"{n}:{n}", seed=1)  # nothing crossed: the top row
    assert top_styles.shape == (3 * 4, *model.sample_shape)
    tiles = top_styles.view(3, 4, *model.sample_shape)
    assert torch.equal(tiles[0, 0], torch.ones_like(tiles[0, 0]))  # the blank corner
    for row in (1, 2):
        assert torch.allclose(tiles[row, 1:], tiles[0, 1:], atol=1e-6)
    every, per_row = model.mix(2, 3, layers=f"0:{n}", seed=1)  # all crossed: the left column
    tiles = every.view(3, 4, *model.sample_shape)
    assert per_row == 4
    for row in (1, 2):
        assert torch.allclose(tiles[row, 1:], tiles[row, :1].expand(3, -1, -1, -1), atol=1e-6)
    assert torch.equal(model.mix(2, 3, seed=1)[0], every)  # coarse: every w of an 8 px model
    some, _ = model.mix(2, 3, layers="0:2", seed=1)  # the 4 x 4 layer's: neither row nor column
    for other in (every, top_styles):
        assert not torch.allclose(some.view(3, 4, -1)[1:, 1:], other.view(3, 4, -1)[1:, 1:])


def test_style_groups_are_the_papers_resolutions():
    G = StyleGenerator(8, 4, 32, 1, mapping_layers=1, channel_max=8)
    assert (G.num_ws, style_span(G, "coarse"), style_span(G, "middle")) == (8, (0, 4), (4, 8))
    assert style_span(G, "2:5") == (2, 5)
    for bad in ("fine", "5:2", "0:9", "a:b", "7"):
        with pytest.raises(ConfigError) as e:
            style_span(G, bad)
        assert "\n" not in str(e.value)


def test_export_keeps_the_average_w(runs, tmp_path):
    from gankit.model_export import export_model

    export_model(runs / "style", tmp_path / "export")
    run, exported = gankit.load(runs / "style"), gankit.load(tmp_path / "export")
    assert torch.equal(exported.nets["G"].w_avg, run.nets["G"].w_avg)
    assert torch.equal(exported.sample(4, truncation=0.6), run.sample(4, truncation=0.6))
    assert "pl_mean" in run.nets["G"].state_dict()  # training state: not in the export
    assert exported.nets["G"].state_dict().keys() == run.nets["G"].state_dict().keys() - {"pl_mean"}


FEATURES = """
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh())
"""


def test_eval_scores_samples_drawn_at_the_truncation_asked(runs, tmp_path, capsys):
    from gankit import cli

    (tmp_path / "feats.py").write_text(FEATURES)
    options = {"features": f"{tmp_path / 'feats.py'}:make", "metrics": "fid,pr", "n": 64}
    options["cache_dir"] = tmp_path / "cache"
    plain = gankit.evaluate(runs / "style", **options)
    half = gankit.evaluate(runs / "style", truncation=0.5, **options)
    average = gankit.evaluate(runs / "style", truncation=0.0, **options)
    assert "truncation" not in plain and half["truncation"] == 0.5
    assert half["fid"] != plain["fid"]
    assert average["recall"] == 0.0  # 64 copies of the average image cover no real one
    assert plain == gankit.evaluate(runs / "style", truncation=1.0, **options)
    argv = ["eval", str(runs / "style"), "--features", options["features"], "-n", "64"]
    argv += ["--metrics", "fid,pr", "--cache-dir", str(options["cache_dir"])]
    capsys.readouterr()
    assert cli.main([*argv, "--truncation", "0.5"]) == 0
    assert "truncation       0.5000" in capsys.readouterr().out.splitlines()
    assert cli.main([*argv[:1], str(runs / "dcgan"), *argv[2:], "--truncation", "0.7"]) == 2
    assert "has no w space" in capsys.readouterr().err
    refused = ["eval", "--samples", str(tmp_path), "--data", "digits", "--truncation", "0.7"]
    assert cli.main(refused) == 2
    assert "--samples are images already" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("run", "argv", "fragment"),
    [
        ("dcgan", ["sample", "-o", "s.png", "--truncation", "0.7"], "has no w space"),
        ("dcgan", ["mix", "-o", "m.png"], "has no w space"),
        ("dcgan", ["interpolate", "-o", "w.gif", "--space", "w"], "has no w space"),
        ("dcgan", ["interpolate", "-o", "w.gif", "--label", "3"], "needs a conditional model"),
        ("style", ["interpolate", "-o", "w.jpg"], "give a .gif or .png file name"),
        ("style", ["interpolate", "-o", "w.gif", "--frames", "1"], "frames must be in 2..10000"),
        ("style", ["interpolate", "-o", "w.gif", "--space", "v"], "invalid choice: 'v'"),
        ("style", ["mix", "-o", "m.png", "--layers", "3:1"], "--layers is coarse, middle, fine"),
        ("style", ["mix", "-o", "m.png", "--layers", "middle"], "has no middle styles"),
        ("style", ["mix", "-o", "m.png", "--rows", "0"], "rows must be in 1..1000"),
        ("style", ["mix", "-o", "m.gif"], "give a .png file name"),
        ("style", ["sample", "-o", "s.png", "--truncation", "nan"], "must be a finite number"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(runs, tmp_path, capsys, run, argv, fragment):
    from gankit import cli

    command, *rest = argv
    rest = [str(tmp_path / a) if a.endswith((".png", ".gif", ".jpg")) else a for a in rest]
    assert cli.main([command, str(runs / run), *rest]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error:") and fragment in lines[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_writes_the_walk_and_the_grid(runs, tmp_path, capsys):
    from PIL import Image

    from gankit import cli

    style = str(runs / "style")
    assert cli.main(["interpolate", style, "-o", str(tmp_path / "walk.gif"), "--frames", "5"]) == 0
    assert cli.main(["interpolate", style, "-o", str(tmp_path / "walk.png"), "--frames", "5"]) == 0
    assert cli.main(["mix", style, "-o", str(tmp_path / "mix.png"), "--rows", "2"]) == 0
    assert cli.main(["sample", style, "-o", str(tmp_path / "s.png"), "--truncation", "0.5"]) == 0
    assert capsys.readouterr().out.count("wrote ") == 4
    tile = 3 * 8 + 2  # an 8 x 8 image enlarged 3 times, as the grids show it, and the border
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (tile + 2, tile + 2)
    assert Image.open(tmp_path / "walk.png").size == (5 * tile + 2, tile + 2)
    assert Image.open(tmp_path / "mix.png").size == (6 * tile + 2, 3 * tile + 2)


def test_mix_and_interpolate_draw_the_weights_asked(runs, tmp_path):
    import numpy as np
    from PIL import Image

    from gankit import cli

    def drawn(*argv: str) -> np.ndarray:
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.png"
        assert cli.main([*argv[:1], str(runs / "style"), "-o", str(out), *argv[1:]]) == 0
        return np.asarray(Image.open(out))

    for command in ("mix", "interpolate"):
        default, ema, raw = (
            drawn(command),
            drawn(command, "--weights", "ema"),
            drawn(command, "--weights", "raw"),
        )
        assert np.array_equal(default, ema) and not np.array_equal(ema, raw)
