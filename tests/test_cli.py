"""The CLI end to end, in subprocesses: exit codes, one-line errors, files written."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import gankit_together
from PIL import Image

from gankit import cli
from gankit.train import checkpoint as ckpt
from gankit.train import runtime

TINY = ["model.width=8", "train.log_every=5", "train.sample_every=10", "train.checkpoint_every=10"]


def gankit(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gankit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gankit: error: ")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = gankit("train", "--steps", 20, "--out", out, "--seed", 1, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "checkpoint:" in proc.stdout and "samples:" in proc.stdout and "health:" in proc.stdout
    assert "step      20 | loss D" in proc.stderr
    return out


def test_sample_png_and_npz(run_dir, tmp_path):
    proc = gankit(
        "sample",
        run_dir,
        "-n",
        10,
        "-o",
        tmp_path / "g.png",
        "--npz",
        tmp_path / "s.npz",
        "--seed",
        2,
    )
    assert proc.returncode == 0, proc.stderr
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (10, 8, 8) and images.dtype == np.uint8
    assert Image.open(tmp_path / "g.png").size == (4 * 26 + 2, 3 * 26 + 2)  # 8x8 tiles drawn 3x
    again = gankit("sample", run_dir, "-n", 10, "--npz", tmp_path / "t.npz", "--seed", 2)
    assert again.returncode == 0 and np.array_equal(np.load(tmp_path / "t.npz")["images"], images)


def test_info_prints_config_step_and_health(run_dir):
    proc = gankit("info", run_dir)
    assert proc.returncode == 0
    assert (
        "step: 20" in proc.stdout
        and "preset: dcgan" in proc.stdout
        and "last health:" in proc.stdout
    )


def test_resume_extends_a_run(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    proc = gankit("train", "--out", copy, "--resume", "--steps", 30)
    assert proc.returncode == 0, proc.stderr
    assert ckpt.load(ckpt.resolve(copy))["step"] == 30


BAD_INPUT = [
    (["train", "--preset", "biggan"], "unknown preset 'biggan'"),
    (["train", "--data", "imagenet"], "unknown data source 'imagenet'"),
    (["train", "--frobnicate"], "unrecognized arguments"),
    (["train", "model.depth=3"], "unknown option 'model.depth'"),
    (["train", "--data", "mnist", "--data-dir", "/no/such/dir"], "does not exist"),
    (["train", "--data", "digits", "data.resolution=30"], "cannot build resolution 30"),
    (["train", "--steps", "0"], "steps must be at least 1"),
    (["sample", "/no/such/run", "-o", "x.png"], "does not exist"),
    # NaN passes `x <= 0` checks: these crashed in torch, --minutes nan after writing
    # config.yaml
    (["train", "optim.lr_g=nan"], "optim.lr_g must be a finite number, got nan"),
    (["train", "optim.beta1=2"], "optim.beta1 must be in [0, 1), got 2.0"),
    (["train", "--minutes", "nan"], "argument --minutes: must be a finite number, got 'nan'"),
    (
        ["train", "--seed", "8796093022208"],
        "argument --seed: must be in -8796093022208..8796093022207, got 8796093022208",
    ),
    (
        ["train", "--preset", "seed-mlp", "data.resolution=0"],
        "data.resolution must be at least 1",
    ),
    (
        ["sample", "/no/such/run", "-o", "x.png", "--seed", "-99999999999999999999"],
        "argument --seed: must be in",
    ),
    (
        ["bench", "time-to-quality", "--data-dir", "/no/such/dir", "--minutes", "1"],
        "time-to-quality gives both sides the same CPU time: use --cpu-minutes",
    ),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """Each BAD_INPUT command's result and its --out folder, the commands run side by side."""
    outs = [tmp_path_factory.mktemp("refused") / "r" for _ in BAD_INPUT]
    commands = [
        [*args, "--out", out] if args[0] in ("train", "bench") else args
        for (args, _), out in zip(BAD_INPUT, outs, strict=True)
    ]
    return list(zip(gankit_together(*commands), outs, strict=True))


@pytest.mark.parametrize("args, fragment", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(args, fragment, refused):
    proc, out = refused[BAD_INPUT.index((args, fragment))]
    assert_one_line_error(proc, fragment)
    assert not out.exists()  # refused before anything is written


def test_a_torchrun_rank_leaves_without_teardown_however_it_ends(monkeypatch, capsys):
    """Under torchrun (WORLD_SIZE > 1) every command's end, a refusal included, goes through
    os._exit with the command's code: gloo's teardown at interpreter exit can abort a finished
    rank, and torchrun then reports a SIGABRT in place of the one-line error."""
    left = []

    def record_exit(code):
        left.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(cli.os, "_exit", record_exit)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit):
        cli.main(["train", "--preset", "no-such-preset"])
    assert left == [2]
    assert capsys.readouterr().err.count("gankit: error:") == 1
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert cli.main(["train", "--preset", "no-such-preset"]) == 2
    assert left == [2]  # alone, the interpreter ends the process as usual


def test_empty_image_folder_and_corrupt_images(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        gankit(
            "train", "--data", "folder", "--data-dir", tmp_path / "empty", "--out", tmp_path / "r"
        ),
        "has no images",
    )
    good = tmp_path / "imgs"
    good.mkdir()
    for i in range(8):
        Image.new("L", (20, 20), 30 * i).save(good / f"{i}.png")
    (good / "bad.png").write_bytes(b"not an image")
    proc = gankit(
        "train",
        "--data",
        "folder",
        "--data-dir",
        good,
        "--out",
        tmp_path / "f",
        "--steps",
        2,
        "data.resolution=8",
        "data.channels=1",
        "optim.batch_size=4",
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipping unreadable image" in proc.stderr and "bad.png" in proc.stderr


def test_a_config_file_names_a_known_preset_that_the_flags_agree_with(tmp_path):
    (tmp_path / "nope.yaml").write_text("preset: nope\n")
    (tmp_path / "gp.yaml").write_text("preset: wgan-gp\n")
    nope, disagree = gankit_together(
        ["train", "--config", tmp_path / "nope.yaml", "--out", tmp_path / "r"],
        ["train", "--config", tmp_path / "gp.yaml", "--preset", "dcgan", "--out", tmp_path / "r"],
    )
    assert_one_line_error(nope, "unknown preset 'nope'")
    assert_one_line_error(disagree, "names preset 'wgan-gp', not --preset 'dcgan'")
    assert not (tmp_path / "r").exists()


def test_a_table_preset_in_train_points_to_tabular_fit(tmp_path):
    """`gankit train --preset ctgan` said "unknown data source 'table'"."""
    assert_one_line_error(
        gankit("train", "--preset", "ctgan", "--steps", 1, "--out", tmp_path / "r"),
        "preset 'ctgan' models tables: use gankit tabular fit TABLE.csv --model ctgan --out RUN",
    )
    assert not (tmp_path / "r").exists()


def test_checkpoints_that_are_not_ours(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    # ours, but not a training run's
    stepped = ckpt.save(tmp_path / "stepped.safetensors", {"step": 3})
    sample, info, no_config = gankit_together(
        ["sample", bad, "-o", tmp_path / "g.png"], ["info", bad], ["info", stepped]
    )
    assert_one_line_error(sample, "not a gankit checkpoint")
    assert_one_line_error(info, "not a gankit checkpoint")
    assert_one_line_error(no_config, "holds no run configuration")


def test_existing_run_is_never_overwritten(run_dir):
    before = ckpt.resolve(run_dir).read_bytes()
    assert_one_line_error(gankit("train", "--out", run_dir, "--steps", 5), "already holds a run")
    assert ckpt.resolve(run_dir).read_bytes() == before


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gankit",
            "train",
            "--steps",
            "100000",
            "--out",
            str(out),
            "--no-progress",
            *TINY,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout and "--resume" in stderr and "Traceback" not in stderr
    step = ckpt.load(ckpt.resolve(out))["step"]
    assert 5 <= step < 100000
    resumed = gankit("train", "--out", out, "--resume", "--steps", step + 5)
    assert resumed.returncode == 0 and ckpt.load(ckpt.resolve(out))["step"] == step + 5


def test_disk_full_while_saving_is_one_line_and_keeps_files(tmp_path):
    import resource

    out = tmp_path / "run"
    assert gankit("train", "--steps", 10, "--out", out, *TINY).returncode == 0
    before = ckpt.resolve(out).read_bytes()

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, len(before) // 2))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gankit",
            "train",
            "--out",
            str(out),
            "--resume",
            "--steps",
            "20",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert_one_line_error(
        proc,
        "(file too large); earlier files are kept: training stopped at step 20; "
        "--resume continues from step_0000010.safetensors",
    )
    assert ckpt.resolve(out).read_bytes() == before
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


def test_eval_of_a_toy2d_run_counts_modes(tmp_path):
    import json

    out = tmp_path / "ring"
    proc = gankit(
        "train",
        "--preset",
        "seed-mlp",
        "--data",
        "toy2d",
        "--steps",
        30,
        "--out",
        out,
        "model.hidden=[32,32]",
        "train.log_every=10",
    )
    assert proc.returncode == 0, proc.stderr
    proc, features = gankit_together(
        ["eval", out, "-n", 500, "--json", tmp_path / "e.json"],
        ["eval", tmp_path / "ring", "--data", "digits"],
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "e.json").read_text())
    assert (
        result["n_modes"] == 8
        and 0 <= result["modes_captured"] <= 8
        and sum(result["per_mode_counts"]) <= 500
    )
    assert_one_line_error(features, "not images like")


def test_unwritable_output_is_one_line(run_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sample, train = gankit_together(
        ["sample", run_dir, "-o", blocker / "grid.png"],
        ["train", "--steps", 5, "--out", blocker / "run"],
    )
    assert_one_line_error(sample, "could not write")
    assert_one_line_error(train, "file")


def test_sample_and_classifier_argument_errors(run_dir, tmp_path):
    png = tmp_path / "g.png"
    grid, nrow, memory, overflow, huge, classifier, split = gankit_together(
        ["sample", run_dir, "-o", tmp_path / "grid.xyz"],
        ["sample", run_dir, "-o", png, "--nrow", -1],
        ["sample", run_dir, "-o", png, "-n", 10**12],
        ["sample", run_dir, "-o", png, "-n", 10**17],
        ["sample", run_dir, "-o", png, "-n", 10**20],
        ["train-classifier", "--data", "digits", "--holdout", "0.95"]
        + ["-o", tmp_path / "c.safetensors"],
        ["train", "--data", "mnist", "--data-dir", tmp_path, "--download", "data.split=foo"]
        + ["--out", tmp_path / "r"],
    )
    assert_one_line_error(grid, "give the grid a .png name")
    assert_one_line_error(nrow, "at least 1")
    # more samples than memory: torch's allocator raised a RuntimeError with a traceback
    assert_one_line_error(
        memory,
        "too large for memory (ask for fewer samples, a smaller batch or resolution): "
        "can't allocate memory",
    )
    assert_one_line_error(overflow, "too large for memory", "Storage size calculation overflowed")
    assert_one_line_error(huge, "n must be in 1..9223372036854775807")
    assert not png.exists()
    assert_one_line_error(classifier, "need at least one batch")
    assert_one_line_error(split, "unknown mnist split")


def test_conditional_sampling_by_label_and_by_class(tmp_path):
    out = tmp_path / "c"
    assert gankit("train", "--preset", "cgan", "--steps", 10, "--out", out, *TINY).returncode == 0
    proc, seven, ten, both = gankit_together(
        ["sample", out, "--by-class", "-n", 35, "-o", tmp_path / "rows.png"]
        + ["--npz", tmp_path / "r.npz"],
        ["sample", out, "--label", 7, "-n", 4, "--npz", tmp_path / "7.npz"],
        ["sample", out, "--label", 10, "-o", tmp_path / "x.png"],
        ["sample", out, "--label", 1, "--by-class", "-o", tmp_path / "x.png"],
    )
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "r.npz")["images"].shape[0] == 30  # 3 per class, one row each
    width, height = Image.open(tmp_path / "rows.png").size
    assert height > width  # 10 rows of 3
    assert seven.returncode == 0
    assert_one_line_error(ten, "not a class")
    assert_one_line_error(both, "not allowed with")


def test_labels_for_an_unconditional_model_are_refused(run_dir, tmp_path):
    assert_one_line_error(
        gankit("sample", run_dir, "--label", 3, "-o", tmp_path / "x.png"), "conditional model"
    )


FAULTS_PER_STEP = """
import resource, sys, torch
from torch import nn
from gankit.train.runtime import keep_freed_memory
if sys.argv[1] == "on":
    keep_freed_memory()
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                    nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 49, 1))
opt = torch.optim.Adam(net.parameters())
x = torch.randn(64, 1, 28, 28)
def step():
    opt.zero_grad(); net(x).square().mean().backward(); opt.step()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(not runtime.glibc(), reason="the allocator setting is glibc's")
def test_cli_process_reuses_freed_memory(monkeypatch, tmp_path):
    """DCGAN-sized CPU steps page-fault hundreds of times each under glibc's defaults and almost
    never once the CLI has set the allocator (docs/results/speed.md); the CLI sets it before any
    command, unless the environment holds allocator settings of the user's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in runtime.ALLOCATOR_SETTINGS and k != "LD_PRELOAD"
    }
    faults = {
        mode: float(
            subprocess.run(
                [sys.executable, "-c", FAULTS_PER_STEP, mode],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
        )
        for mode in ("off", "on")
    }
    assert faults["on"] < 0.1 * faults["off"], faults
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(1))
    assert cli.main(["info", str(tmp_path / "no-run")]) == 2 and calls == [1]


def test_eval_prints_stacked_digit_shares_as_percentages_a_channel_at_a_time():
    from gankit.cli import _eval_value

    shares = [[0.1] * 10, [0.2, 0.0] + [0.1] * 8, [0.05, 0.15] + [0.1] * 8]
    line = _eval_value("digit_shares", shares)
    assert line.startswith("channel 0: 10.0 10.0") and "channel 1: 20.0 0.0 10.0" in line
    assert "channel 2: 5.0 15.0" in line and line.endswith("(% of 0-9)")
    assert _eval_value("fid", 1.23456) == "1.2346" and _eval_value("n", 26000) == "26000"
