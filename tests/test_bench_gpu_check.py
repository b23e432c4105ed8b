"""bench/gpu_check.sh: its sections, limits and summary, checked where no GPU is (sections that need
one fail quickly and must not stop the rest)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.sh"
pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="needs bash and coreutils' timeout",
)


def run(*args, out):
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, OUT=str(out)),
        timeout=120,
    )


def test_bad_arguments_give_one_line_and_exit_2(tmp_path, mnist_dir):
    result = run(str(mnist_dir), "cuda-tests", "warp-drive", out=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gpu_check: unknown section 'warp-drive' (one of: stylegan progan cuda-tests "
        "step-compiled speed-fp32 speed-bf16 other-tests profile scaling)"
    ]
    result = run(str(tmp_path / "missing"), out=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"gpu_check: no MNIST folder at '{tmp_path / 'missing'}'"
    assert not (tmp_path / "summary.txt").exists()


def test_a_failed_section_is_summarised_and_does_not_stop_the_next(tmp_path, mnist_dir):
    result = run(str(mnist_dir), "speed-fp32", "scaling", out=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    summary = (tmp_path / "summary.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in summary] == ["speed-fp32", "scaling"]
    assert summary[0].startswith("speed-fp32: rc 2, ")
    assert summary[1].startswith("scaling: rc 0, ")
    assert "sees no CUDA device" in (tmp_path / "speed-fp32.log").read_text()
    assert (
        tmp_path / "scaling.log"
    ).read_text().strip() == "fewer than two GPUs: no scaling to measure"
    assert "torch" in (tmp_path / "gpu.txt").read_text()


def test_the_stylegan_sections_commands_parse(tmp_path):
    """The section cannot run without a GPU: its gankit commands are parsed and the training
    config built (and checked) as the CLI would, with the script's folders filled in."""
    import shlex

    from gankit import cli

    text = SCRIPT.read_text()
    start = text.index("stylegan() {")
    body = text[start : text.index("\n}\n", start)].replace("\\\n", " ")
    folders = {"$DATA": "/data", "$RUNS": str(tmp_path), "$RESULTS": str(tmp_path)}
    commands = []
    for line in body.splitlines():
        if "python3 -m gankit" not in line:
            continue
        command = line.split("python3 -m gankit", 1)[1].split("||")[0]
        for name, folder in folders.items():
            command = command.replace(name, folder)
        commands.append(shlex.split(command))
    assert [c[0] for c in commands] == ["train", "sample", "mix", "interpolate"]
    for argv in commands:
        args = cli.parse_args(argv)
        assert args.command == argv[0]
        if args.command == "train":
            cfg = cli.train_config(args)
            assert (cfg.preset, cfg.train.device, cfg.train.amp) == ("stylegan", "cuda", "bf16")
            assert cfg.data.resolution == 64
        else:
            assert args.device == "cuda"
