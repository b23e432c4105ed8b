"""Data parallelism over torch.distributed: two CPU processes (gloo) against one process."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from conftest import tiny_config
from safetensors.torch import load_file

import gankit
from gankit import config as config_mod
from gankit import tabular
from gankit.data import load_dataset
from gankit.errors import ConfigError
from gankit.train import Trainer
from gankit.train.distributed import AveragingGradScaler, rank_slice

RANKS = 2
TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def mlp_config(batch: int, steps: int = 6):
    cfg = tiny_config("seed-mlp", steps=steps, log_every=3, sample_every=100, checkpoint_every=100)
    cfg.optim.batch_size = batch
    return config_mod.validate(cfg)


def ada_config(batch: int):
    """ADA with a p that moves at every other step: the ranks must add their r_t sums first."""
    cfg = mlp_config(batch)
    config_mod.update(cfg, ["loss.ada=true", "loss.ada_kimg=0.1", "loss.ada_interval=2"])
    return config_mod.validate(cfg)


def ddpm_config(batch: int):
    """A U-Net (GroupNorm: no batch statistics) whose timesteps and noise are drawn per sample."""
    cfg = tiny_config(
        "ddpm", steps=3, log_every=3, sample_every=100, checkpoint_every=100, ema=None
    )
    cfg.model.width, cfg.optim.batch_size = 8, batch
    return config_mod.validate(cfg)


def dcgan_config(steps: int):
    """G with batch norm (buffers that must stay equal across ranks) and EMA."""
    return tiny_config(
        "dcgan", steps=steps, log_every=2, sample_every=4, checkpoint_every=4, device="cpu"
    )


TABLE_OPTIONS = {
    "ctgan": ["model.hidden=[16,16]", "model.d_hidden=[16]", "model.pack=4"],
    "tvae": ["model.hidden=[16,16]"],
}


def table_fit(model: str, out, batch: int):
    """A few steps of `tabular.fit` (0.6 epochs of 200 rows: 3 steps of a global batch of 40),
    logging at every step (TVAE then draws samples for the health line from the noise stream)."""
    r = np.random.default_rng(0)
    fraud = r.random(200) < 0.1
    table = pd.DataFrame(
        {
            "amount": np.where(fraud, r.normal(500, 30, 200), r.lognormal(3, 0.5, 200)),
            "channel": np.where(fraud, "web", r.choice(["shop", "web"], 200)),
            "is_fraud": fraud.astype(int),
        }
    )
    options = [
        *TABLE_OPTIONS[model],
        "model.z_dim=8",
        f"optim.batch_size={batch}",
        "train.log_every=1",
        "train.device=cpu",
    ]
    fitted = tabular.fit(table, out, model=model, target="is_fraud", epochs=0.6, overrides=options)
    return {
        f"{n}/{k}": v.clone()
        for n, m in fitted.recipe.nets.items()
        for k, v in m.state_dict().items()
    }


def _state(trainer):
    nets = {
        f"{n}/{k}": v.clone() for n, m in trainer.nets.items() for k, v in m.state_dict().items()
    }
    ema = (
        {f"ema/{k}": v.clone() for k, v in trainer.ema.nets["G"].state_dict().items()}
        if trainer.ema
        else {}
    )
    return {**nets, **ema}


def _exit_now() -> None:
    """End a worker whose results are saved without the interpreter's teardown: with rank 0
    hosting the TCP store (mp.spawn, env://), PyTorch's teardown at exit aborted one run in about
    30 ('terminate called without an active exception') after both ranks had saved their results."""
    os._exit(0)


def _join_env(rank: int, port: int) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(RANKS),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def _refused_worker(rank: int, port: int, out: str, case: str) -> None:
    """A run refused after joining the group. Its own processes: joining a second group on the
    same port in one process races against the first one's teardown."""
    _join_env(rank, port)
    quiet = {"progress": False, "echo": lambda line: None}
    message = None
    try:
        if case == "batch":
            Trainer(mlp_config(batch=10**5), f"{out}/refused", **quiet)  # more than the digits
        else:  # rank 1 reads the digits in another order
            cfg = mlp_config(batch=8)
            data = load_dataset(cfg.data, cfg.train.seed)
            if rank == 1:
                data.x = data.x.flip(0)
            Trainer(cfg, f"{out}/refused", data=data, **quiet)
    except ConfigError as e:
        message = str(e)
    torch.save(
        {"left_group": not torch.distributed.is_initialized(), "message": message},
        f"{out}/refused{rank}.pt",
    )
    _exit_now()


def _worker(rank: int, port: int, out: str) -> None:
    _join_env(rank, port)
    quiet = {"progress": False, "echo": lambda line: None}
    mlp_cfg = mlp_config(batch=8)
    mlp_cfg.train.tensorboard = TENSORBOARD  # rank 0 alone writes the events
    mlp = Trainer(mlp_cfg, f"{out}/mlp", **quiet)
    mlp.run()
    half = mlp_config(batch=8)
    half.train.amp = "fp16"
    fp16 = Trainer(half, f"{out}/fp16", **quiet)
    fp16.run()
    overflow = _overflow_on_rank_one(rank)
    ddpm = Trainer(ddpm_config(batch=4), f"{out}/ddpm", **quiet)
    ddpm.run()
    Trainer(dcgan_config(steps=4), f"{out}/resumed", **quiet).run()
    resumed = Trainer(dcgan_config(steps=8), f"{out}/resumed", resume=True, **quiet)
    resumed.run()
    straight = Trainer(dcgan_config(steps=8), f"{out}/straight", **quiet)
    straight.run()
    tables = {model: table_fit(model, f"{out}/{model}", batch=20) for model in TABLE_OPTIONS}
    ada = Trainer(ada_config(batch=8), f"{out}/ada", **quiet)
    ada.run()
    compiled = mlp_config(batch=8)
    compiled.train.compile = "step"  # Dynamo traces the optimizer step and its all-reduce hook
    step_compiled = Trainer(compiled, f"{out}/step_compiled", **quiet)
    step_compiled.run()
    torch.save(
        {
            "mlp": _state(mlp),
            "step_compiled": _state(step_compiled),
            "fp16": _state(fp16),
            "fp16_scale": fp16.grad_scaler.get_scale(),
            "overflow": overflow,
            "ddpm": _state(ddpm),
            "resumed": _state(resumed),
            "straight": _state(straight),
            "ada": _state(ada),
            "ada_p": ada.recipe.ada.p,
            **tables,
        },
        f"{out}/rank{rank}.pt",
    )
    mlp.close()  # the first trainer joined the group and owns it
    _exit_now()


def _overflow_on_rank_one(rank: int) -> dict:
    """One fp16 step where only rank 1's gradient overflows: every rank must skip it alike."""
    layer = torch.nn.Linear(4, 2)
    torch.nn.init.ones_(layer.weight)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, fused=True)
    scaler = AveragingGradScaler("cpu", RANKS)
    before = scaler.get_scale()
    scaler.scale(layer(torch.ones(3, 4)).sum()).backward()
    if rank == 1:
        layer.weight.grad[0, 0] = float("inf")
    scaler.step(opt)
    scaler.update()
    return {"weight": layer.weight.detach().clone(), "scale_ratio": scaler.get_scale() / before}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=RANKS, join=True)
    return out, [torch.load(out / f"rank{r}.pt") for r in range(RANKS)]


@pytest.mark.parametrize("case, message", [("batch", "more than the"), ("data", "different data")])
def test_a_refused_run_leaves_the_process_group(tmp_path, case, message):
    """Refused on every rank alike (a batch larger than the data; ranks holding different data),
    after which no rank is left in the group."""
    mp.spawn(_refused_worker, args=(_free_port(), str(tmp_path), case), nprocs=RANKS, join=True)
    for r in range(RANKS):
        outcome = torch.load(tmp_path / f"refused{r}.pt")
        assert outcome["left_group"] and message in outcome["message"], outcome


def test_ranks_hold_identical_weights_and_buffers(two_ranks):
    _, (a, b) = two_ranks
    for run in ("mlp", "fp16", "ddpm", "resumed", "straight", "ctgan", "tvae", "step_compiled"):
        assert a[run].keys() == b[run].keys()
        assert all(torch.equal(a[run][k], b[run][k]) for k in a[run]), run
    # batch-norm statistics were compared too
    assert any("running_mean" in k for k in a["straight"])


def test_fp16_ranks_agree_on_their_grad_scaler_and_skip_overflows_together(two_ranks):
    _, (a, b) = two_ranks
    assert a["fp16_scale"] == b["fp16_scale"] > 0
    # fp16 did train otherwise
    assert any(not torch.equal(a["fp16"][k], a["mlp"][k]) for k in a["mlp"])
    # rank 0's gradient was finite, yet it skipped the step and halved the scale too
    for rank in (a, b):
        assert torch.equal(rank["overflow"]["weight"], torch.ones(2, 4))
        assert rank["overflow"]["scale_ratio"] == 0.5


def test_two_ranks_match_one_process_with_the_global_batch(two_ranks, tmp_path):
    _, (a, _) = two_ranks
    single = Trainer(
        mlp_config(batch=16), tmp_path / "single", progress=False, echo=lambda line: None
    )
    single.run()
    ref = _state(single)
    assert ref.keys() == a["mlp"].keys()
    for k in ref:
        torch.testing.assert_close(a["mlp"][k], ref[k], rtol=0, atol=2e-5)
    # the logged losses and D's view are the global batch's: the ranks average them at each log step
    out, _ = two_ranks
    logged = [
        [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for run in (out / "mlp", tmp_path / "single")
    ]
    assert [r["step"] for r in logged[0]] == [r["step"] for r in logged[1]] == [3, 6]
    for ranks, one in zip(*logged, strict=True):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "d_acc"):
            assert ranks[key] == pytest.approx(one[key], abs=1e-5), key


def test_ada_under_two_ranks_moves_p_as_one_process(two_ranks, tmp_path):
    """The ranks add their sign sums before each adjustment: every rank holds the p of one process
    with the global batch, and the weights follow."""
    _, (a, b) = two_ranks
    single = Trainer(
        ada_config(batch=16), tmp_path / "single", progress=False, echo=lambda line: None
    )
    single.run()
    assert a["ada_p"] == b["ada_p"] == single.recipe.ada.p > 0
    ref = _state(single)
    assert all(torch.equal(a["ada"][k], b["ada"][k]) for k in ref)
    for k in ref:
        torch.testing.assert_close(a["ada"][k], ref[k], rtol=0, atol=2e-5)


@pytest.mark.skipif(not TENSORBOARD, reason="the tensorboard package is not installed")
def test_only_rank_zero_writes_tensorboard_events(two_ranks):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = two_ranks[0] / "mlp"
    assert len(list((run / "tensorboard").iterdir())) == 1
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(e.step, e.value) for e in events.Scalars("train/loss_d")] == [
        (r["step"], float(np.float32(r["loss_d"]))) for r in logged
    ]


def test_a_compiled_step_under_two_ranks_trains_as_the_eager_one(two_ranks):
    """train.compile=step under torchrun: the gradient all-reduce runs outside compiled code
    (traced, it failed to compile), and the ranks end where the eager ranks do."""
    _, (a, _) = two_ranks
    for k in a["mlp"]:
        torch.testing.assert_close(a["step_compiled"][k], a["mlp"][k], rtol=0, atol=2e-5)


def test_diffusion_under_two_ranks_matches_one_process(two_ranks, tmp_path):
    """Each rank keeps its slice of the global draw of timesteps and noise
    (`recipes.base.rank_draw`), so the averaged gradients are those of one
    process with the global batch."""
    _, (a, _) = two_ranks
    single = Trainer(
        ddpm_config(batch=8), tmp_path / "single", progress=False, echo=lambda line: None
    )
    single.run()
    ref = _state(single)
    # Adam (lr 1e-3) turns float noise in a near-zero gradient into a step of up to lr, so a single
    # weight may differ by ~1e-3; the mean difference shows whether the draws matched: 6e-7 here,
    # 1.4e-3 when every rank drew the same noise instead of its slice
    diffs = torch.cat([(a["ddpm"][k] - ref[k]).abs().flatten() for k in ref])
    assert diffs.mean() < 1e-5


def test_tables_under_two_ranks_match_one_process(two_ranks, tmp_path):
    """`tabular.fit` under torchrun: rank 0 writes the run, 0.6 epochs are 3 steps of the global
    batch of 40, and TVAE (no batch statistics) ends where one process of batch 40 does; CTGAN's
    G normalises each rank's slice (its ranks agree, tested above)."""
    out, (a, _) = two_ranks
    assert tabular.load(out / "tvae").step == tabular.load(out / "ctgan").step == 3
    ref = table_fit("tvae", tmp_path / "tvae", batch=40)
    assert ref.keys() == a["tvae"].keys()
    for k in ref:
        torch.testing.assert_close(a["tvae"][k], ref[k], rtol=0, atol=2e-5)


def test_resume_under_ddp_continues_the_run(two_ranks):
    out, (a, _) = two_ranks
    assert all(torch.equal(a["resumed"][k], a["straight"][k]) for k in a["straight"])
    assert (out / "straight" / "metrics.jsonl").read_text().count("\n") == 4  # rank 0 alone logs
    assert sorted(p.name for p in (out / "straight" / "samples").iterdir()) == [
        "step_0000004.png",
        "step_0000008.png",
    ]


def test_rank_slices_partition_each_critic_batch():
    index = torch.arange(24)  # 2 critic batches of a global 12 = 2 ranks x 6
    r0, r1 = rank_slice(index, 2, 0, 2), rank_slice(index, 2, 1, 2)
    assert r0.tolist() == [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]
    assert sorted(r0.tolist() + r1.tolist()) == list(range(24))


def test_two_torchrun_nodes_train_through_the_cli_as_one_process(tmp_path):
    """docs/distributed.md's multi-node command, on one machine: two `torchrun --nnodes=2`
    launches of `gankit train` (one process each, static rendezvous), against `gankit train`
    with the global batch. Node 0 holds rank 0 and writes the run alone; the weights after 2
    steps agree to float rounding."""
    port, common = (
        _free_port(),
        [
            "--preset",
            "seed-mlp",
            "--data",
            "digits",
            "--steps",
            "2",
            "--no-progress",
            "train.device=cpu",
            "train.threads=1",
            "train.log_every=1",
            "model.hidden=[32,64]",
        ],
    )
    env = dict(os.environ, PYTHONPATH=str(Path(gankit.__file__).parents[1]), OMP_NUM_THREADS="1")
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                f"--node_rank={n}",
                "--nproc_per_node=1",
                "--master_addr=127.0.0.1",
                f"--master_port={port}",
                "-m",
                "gankit",
                "train",
                *common,
                "--out",
                str(tmp_path / "nodes"),
                "optim.batch_size=8",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for n in (1, 0)
    ]
    logs = [node.communicate(timeout=180)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs
    node1, node0 = logs
    assert "checkpoint:" in node0 and "checkpoint:" not in node1 and "step " not in node1
    single = subprocess.run(
        [sys.executable, "-m", "gankit", "train", *common, "--out", str(tmp_path / "single")]
        + ["optim.batch_size=16"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert single.returncode == 0, single.stdout + single.stderr
    runs = [
        load_file(tmp_path / run / "checkpoints" / "step_0000002.safetensors")
        for run in ("nodes", "single")
    ]
    weights = [k for k in runs[1] if k.startswith("s/nets/")]
    assert weights and runs[0].keys() == runs[1].keys()
    for k in weights:
        torch.testing.assert_close(runs[0][k], runs[1][k], rtol=0, atol=2e-5)
    logged = [
        (tmp_path / run / "metrics.jsonl").read_text().splitlines() for run in ("nodes", "single")
    ]
    assert len(logged[0]) == len(logged[1]) == 2
    for ranks, one in zip(*logged, strict=True):
        assert json.loads(ranks)["loss_d"] == pytest.approx(json.loads(one)["loss_d"], abs=1e-5)
