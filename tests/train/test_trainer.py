import json
import re
import time

import numpy as np
import pytest
import torch
from conftest import tiny_config

import gankit
from gankit.data import Dataset
from gankit.errors import ConfigError
from gankit.train import Trainer
from gankit.train import checkpoint as ckpt


def _weights(run_dir):
    state = ckpt.load(ckpt.resolve(run_dir))
    return {f"{n}/{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}, state


def test_resume_continues_bit_for_bit(tmp_path):
    straight = Trainer(tiny_config(steps=40), tmp_path / "a", progress=False).run()
    Trainer(tiny_config(steps=20), tmp_path / "b", progress=False).run()
    resumed = Trainer(tiny_config(steps=40), tmp_path / "b", resume=True, progress=False).run()
    assert straight.step == resumed.step == 40
    (wa, sa), (wb, sb) = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(torch.equal(sa["ema"]["G"][k], sb["ema"]["G"][k]) for k in sa["ema"]["G"])
    lines_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert (
        [r["step"] for r in lines_b]
        == [r["step"] for r in lines_a]
        == [5, 10, 15, 20, 25, 30, 35, 40]
    )
    assert [r["loss_d"] for r in lines_b] == [r["loss_d"] for r in lines_a]


def test_run_writes_logs_grids_and_checkpoints(tmp_path):
    result = Trainer(tiny_config(steps=20), tmp_path, progress=False).run()
    assert result.status == "completed" and (tmp_path / "config.yaml").exists()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 4
    for key in (
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "d_acc",
        "grad_norm_g",
        "grad_norm_d",
        "diversity",
        "verdict",
    ):
        assert key in records[-1]
    assert 0.0 <= records[-1]["d_real"] <= 1.0 and records[-1]["grad_norm_g"] > 0
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_0000010.png",
        "step_0000020.png",
    ]
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [
        "step_0000010.safetensors",
        "step_0000020.safetensors",
    ]


def test_wall_clock_budget_stops_the_run(tmp_path):
    """The run stops at the first step past its budget: not before it, and not more than a step
    or two after it, however slow a loaded machine makes each step."""
    cfg = tiny_config(steps=None, minutes=0.02)
    trainer = Trainer(cfg, tmp_path, progress=False)
    start = time.monotonic()
    result = trainer.run()
    wall = time.monotonic() - start
    # train_seconds counts the steps alone; the budget is wall-clock (logs, grids, checkpoints)
    seconds = result.summary["train_seconds"]
    assert result.status == "completed" and result.step >= 2 and wall >= 1.2
    assert seconds <= 1.2 + 2 * seconds / result.step + 0.5


def test_a_toy2d_run_counts_its_modes_at_every_log_step(tmp_path):
    cfg = tiny_config("seed-mlp", steps=4, log_every=2)
    cfg.data.source, cfg.data.toy = "toy2d", "grid"
    trainer = Trainer(cfg, tmp_path, progress=False, echo=lambda line: None)
    trainer.run()
    last = trainer.health.history[-1]
    assert last["modes_total"] == 25 and 0 <= last["modes_seen"] <= 25
    assert last["modes_share"] == last["modes_seen"] / 25 and 0.0 <= last["hq_share"] <= 1.0
    # the same count the benchmark makes, on the probe's fixed latents
    from gankit.metrics.modes import mixture, mode_coverage_2d

    latents = trainer.recipe.latents(2500, torch.Generator().manual_seed(cfg.train.seed + 4))
    cov = mode_coverage_2d(trainer.sample(latents), *mixture("grid"))
    assert last["modes_seen"] == cov["modes_captured"]
    assert last["hq_share"] == cov["high_quality_share"]


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config("seed-mlp", steps=10, log_every=5)
    cfg.data.source = "toy2d"
    Trainer(cfg, tmp_path, progress=False).run()
    good = ckpt.resolve(tmp_path)
    good_bytes = good.read_bytes()
    poisoned = Dataset(torch.full((256, 2), float("nan")), name="nan")
    cfg.train.steps = 30
    result = Trainer(cfg, tmp_path, resume=True, progress=False, data=poisoned).run()
    assert result.status == "diverged" and result.summary["final_verdict"] == "diverged"
    assert ckpt.resolve(tmp_path) == good and good.read_bytes() == good_bytes


@pytest.fixture(scope="module")
def seed_mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    gankit.train(tiny_config("seed-mlp", steps=2), out=out, progress=False)
    return out


def test_api_train_and_sample_are_deterministic(tmp_path):
    run = gankit.train(tiny_config("seed-mlp", steps=10), out=tmp_path, progress=False)
    model = gankit.load(run.run_dir)
    a, b = model.sample(7, seed=3), model.sample(7, seed=3)
    assert a.shape == (7, 1, 8, 8) and torch.equal(a, b) and a.abs().max() <= 1
    assert not torch.equal(a, model.sample(7, seed=4))
    # NumPy integers are integers
    assert torch.equal(model.sample(np.int64(7), seed=np.int32(3)), a)
    # chunks draw nothing of their own (the same to matmul rounding, which depends on the batch)
    torch.testing.assert_close(model.sample(7, seed=3, batch_size=2), a, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.sample(0), "n must be in 1..9223372036854775807, got 0"),
        (lambda m: m.sample(2.5), "n must be an integer, got 2.5"),
        (lambda m: m.sample("4"), "n must be an integer, got '4'"),
        (lambda m: m.sample(4, batch_size=0), "batch_size must be at least 1, got 0"),
        (lambda m: m.sample(4, seed=None), "seed must be an integer, got None"),
        (lambda m: m.sample(4, seed=2**44), "seed must be in -8796093022208..8796093022207"),
        (
            lambda m: m.sample(np.int64(0)).shape[0] == 0,
            "n must be in 1..9223372036854775807, got 0",
        ),
        (
            lambda m: gankit.load(None),
            "load needs the path of a run folder or checkpoint, got None",
        ),
        (
            lambda m: gankit.load(m.path, device="tpu"),
            "unknown device 'tpu' (choose from: auto, cpu, cuda, cuda:N)",
        ),
    ],
)
def test_api_argument_errors_are_typed(seed_mlp_run, call, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        call(gankit.load(seed_mlp_run))


def test_a_run_folder_that_is_a_file_or_no_path_is_a_typed_error(tmp_path):
    (tmp_path / "afile").write_text("keep me")
    for out, message in [
        (tmp_path / "afile", "is a file, not a folder"),
        (tmp_path / "afile" / "run", "is a file"),
        (None, "the run folder must be a path, got None"),
        (5, "must be a path, got 5"),
    ]:
        with pytest.raises(ConfigError, match=message):
            gankit.train(tiny_config("seed-mlp", steps=2), out=out, progress=False)
    assert (tmp_path / "afile").read_text() == "keep me"
    with pytest.raises(ConfigError, match="override 5 is not a 'key=value' string"):
        gankit.make_config("dcgan", overrides=[5])


def test_dcgan_trains_on_rgb_16px_and_points_with_the_mlp(tmp_path):
    cfg = tiny_config(steps=3)
    cfg.data.resolution, cfg.data.channels = 16, 3
    Trainer(cfg, tmp_path / "rgb", progress=False).run()
    assert gankit.load(tmp_path / "rgb").sample(2).shape == (2, 3, 16, 16)
    cfg = tiny_config("seed-mlp", steps=3)
    cfg.data.source = "toy2d"
    Trainer(cfg, tmp_path / "pts", progress=False).run()
    points = gankit.load(tmp_path / "pts").sample(5)
    assert points.shape == (5, 2) and points.abs().max() > 0  # linear output: not squashed by tanh


def test_resume_refuses_changes_to_what_is_trained(tmp_path):
    import pytest

    from gankit.errors import GankitError

    Trainer(tiny_config(steps=10), tmp_path, progress=False).run()
    changed = tiny_config(steps=20)
    changed.optim.lr_g = 0.1
    with pytest.raises(GankitError, match="cannot change optim.lr_g"):
        Trainer(changed, tmp_path, resume=True, progress=False)
    longer = tiny_config(steps=20, log_every=2)
    assert Trainer(longer, tmp_path, resume=True, progress=False).run().step == 20


def test_resume_survives_a_log_line_cut_short(tmp_path):
    Trainer(tiny_config(steps=10), tmp_path, progress=False).run()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 11, "ti')
    Trainer(tiny_config(steps=15), tmp_path, resume=True, progress=False).run()
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15]


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_over(tmp_path):
    """A run killed before its first save left config.yaml and log lines but no checkpoint: a fresh
    run refuses the folder, and --resume said "nothing to resume"; it starts over from step 0."""
    straight = tmp_path / "straight"
    Trainer(tiny_config(steps=10), straight, progress=False).run()
    killed = tmp_path / "killed"
    Trainer(tiny_config(steps=10), killed, progress=False).run()
    for path in (killed / "checkpoints").iterdir():  # as if killed at step 9
        path.unlink()
    with open(killed / "metrics.jsonl", "a") as f:
        f.write('{"step": 11, "ti')
    with pytest.warns(
        UserWarning, match="no checkpoint in .* yet: the run starts over from step 0"
    ):
        Trainer(tiny_config(steps=10), killed, resume=True, progress=False).run()
    (wa, _), (wb, _) = _weights(straight), _weights(killed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [json.loads(x)["step"] for x in (killed / "metrics.jsonl").read_text().splitlines()] == [
        5,
        10,
    ]
    with pytest.raises(gankit.CheckpointError, match="nothing to resume"):  # no run there at all
        Trainer(tiny_config(steps=10), tmp_path / "empty", resume=True, progress=False)


def test_fresh_run_never_overwrites_files_of_an_earlier_run(tmp_path):
    import pytest

    from gankit.errors import GankitError

    (tmp_path / "metrics.jsonl").write_text('{"step": 3}\n')
    with pytest.raises(GankitError, match="already holds metrics.jsonl"):
        Trainer(tiny_config(steps=5), tmp_path, progress=False)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 3}\n'


def test_nan_weights_at_a_checkpoint_end_the_run_as_diverged(tmp_path):
    trainer = Trainer(tiny_config(steps=10), tmp_path, progress=False)
    trainer.run()
    good = ckpt.resolve(tmp_path).read_bytes()
    trainer.cfg.train.steps = 20
    with torch.no_grad():
        next(trainer.recipe.nets["G"].parameters()).fill_(float("inf"))
    result = trainer.run()
    assert result.status == "diverged" and ckpt.resolve(tmp_path).read_bytes() == good


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda s: s["optimizers"]["D"]["state"][0].update(exp_avg=torch.zeros(3)),
            "optimizer state 'exp_avg'",
        ),
        (lambda s: s["optimizers"]["G"]["state"][1].pop("exp_avg_sq"), "lacks entries"),
        (
            lambda s: s["optimizers"]["G"]["param_groups"][0].pop("betas"),
            "optimizer option 'betas' is 'missing'",
        ),
        (
            lambda s: s["optimizers"]["G"]["param_groups"][0].update(amsgrad=True),
            "optimizer option 'amsgrad' is True",
        ),
        (
            lambda s: s.update(fixed_latents=torch.zeros(2)),
            "fixed_latents is \\(2,\\) torch.float32",
        ),
        (lambda s: s["health"].update(history=None), "health history is not a list"),
        (lambda s: s.pop("config"), "a config is a mapping"),
    ],
)
def test_resume_refuses_a_checkpoint_whose_state_does_not_fit_the_run(tmp_path, damage, message):
    """A moment smaller than its parameter crashed the fused Adam kernel (a segmentation fault);
    other entries were read unchecked (found by the checkpoint fuzz tests)."""
    Trainer(tiny_config(steps=10), tmp_path, progress=False).run()
    path = ckpt.resolve(tmp_path)
    state = ckpt.load(path)
    damage(state)
    ckpt.save(path, state)
    with pytest.raises(gankit.GankitError, match=message):
        Trainer(tiny_config(steps=20), tmp_path, resume=True, progress=False)
