"""Kill -9 soak: train through the CLI in a subprocess, SIGKILL it at random moments (some while a
checkpoint is being written), resume it, N times; then check what a crash may never do.

    python bench/soak.py --kills 50 --json docs/results/soak_kill9.json

Two runs, `--mode image|table|both`: `gankit train` (dcgan, width 8, on the embedded digits, EMA
on) and `gankit tabular fit` (ctgan, small networks, on scikit-learn's bundled wine table, class as
the target). Both save every `--interval` steps and log every step. An uninterrupted run of the
same config and seed (it only keeps all its checkpoints) is the reference. Each kill is drawn
from `--seed`: during start-up, at a random step, or the moment a checkpoint's temp file appears.
After every kill, every checkpoint on disk must load and equal the reference's of its step, and
the next `--resume` must continue from the newest one. Steps lost per kill: the last step the
killed process logged (the trainer logs a step as it completes, before saving it) minus the step
the next process resumed from; at most one save interval. At the end, after the last process
ran to the end uninterrupted: the final checkpoint (weights, EMA, optimizer state, RNG, health
history) equals the reference's bit for bit, and metrics.jsonl holds each step once, in order,
with the reference's values. Exit 1 when any check fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.errors import CheckpointError
from gankit.train import checkpoint as ckpt

STEP_LINE = re.compile(rb"^step +(\d+) \|", re.MULTILINE)
RESUMING_LINE = re.compile(rb"^resuming .* at step (\d+)$", re.MULTILINE)
KEEP_ALL = "train.keep_checkpoints=1000000"
POLL_S = 0.0005
#: the share of kills aimed at start-up, at a checkpoint write (the rest: at a random step)
STARTUP_SHARE, WRITE_SHARE = 0.15, 0.40
TIMING_KEYS = {"time_s", "img_per_s"}


class SoakFailed(Exception):
    """A run the soak cannot go on without (the reference) failed."""


class SoakParser(argparse.ArgumentParser):
    """Bad arguments: one line and exit 2, as the gankit CLI reports them."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"soak: error: {message}", file=sys.stderr)
        raise SystemExit(2)


# ---- the two runs ----------------------------------------------------------------------------
@dataclass
class Mode:
    """How to start, resume and reference one kind of run through the CLI."""

    name: str
    start: list[str]  # `gankit ...` arguments of a fresh run, without --out
    resume: list[str]  # the same for --resume
    options: list[str]  # key=value overrides of the fresh run

    def command(self, out: Path, resume: bool = False, reference: bool = False) -> list[str]:
        args = (
            [*self.resume, "--out", str(out)]
            if resume
            else [*self.start, "--out", str(out), *self.options]
        )
        return [sys.executable, "-m", "gankit", *args, *([KEEP_ALL] if reference else [])]


def common_options(interval: int) -> list[str]:
    return [
        f"train.checkpoint_every={interval}",
        "train.log_every=1",
        "train.threads=1",
        "train.device=cpu",
    ]


def image_mode(steps: int, interval: int, seed: int, work: Path) -> Mode:
    start = [
        "train",
        "--preset",
        "dcgan",
        "--data",
        "digits",
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--no-progress",
    ]
    options = [
        "model.width=8",
        "train.ema=0.99",
        f"train.sample_every={3 * interval}",
        *common_options(interval),
    ]
    return Mode("image", start, ["train", "--resume", "--no-progress"], options)


TABLE_BATCH = 50


def table_mode(steps: int, interval: int, seed: int, work: Path) -> Mode:
    """ctgan on the wine table (178 rows, 13 numeric columns, the class as text):
    its epochs are chosen so the fit runs about `steps` steps (the soak reads the
    count from the reference's log)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "class_0", 1: "class_1", 2: "class_2"})
    csv = work / "wine.csv"
    frame.to_csv(csv, index=False)
    epochs = steps * TABLE_BATCH / len(frame)
    start = [
        "tabular",
        "fit",
        str(csv),
        "--target",
        "target",
        "--epochs",
        repr(epochs),
        "--seed",
        str(seed),
        "--no-progress",
    ]
    options = [
        "model.hidden=[32,32]",
        "model.d_hidden=[32]",
        "model.z_dim=16",
        "model.pack=5",
        f"optim.batch_size={TABLE_BATCH}",
        *common_options(interval),
    ]
    return Mode("table", start, ["tabular", "fit", str(csv), "--resume", "--no-progress"], options)


MODES = {"image": image_mode, "table": table_mode}


# ---- one training process, watched through its log -------------------------------------------
class Watched:
    """A training process whose stderr goes to a file that the soak reads as it grows: the steps
    it logged (one line a step) tell how far it got."""

    def __init__(self, command: list[str], log: Path):
        self.log_path = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        self.started = time.monotonic()
        self.first_step_s: float | None = None
        self.steps: list[int] = []
        self._reader = open(log, "rb")
        self._pending = b""

    def read(self) -> None:
        data = self._pending + self._reader.read()
        whole, _, self._pending = data.rpartition(b"\n")
        found = [int(m) for m in STEP_LINE.findall(whole + b"\n")] if whole else []
        if found and not self.steps:
            self.first_step_s = time.monotonic() - self.started
        self.steps += found

    @property
    def last_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def kill(self) -> bool:
        """SIGKILL; False when the process had ended on its own just before."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.finish()
        return self.proc.returncode == -signal.SIGKILL

    def finish(self) -> None:
        self.read()
        self._reader.close()

    def text(self) -> bytes:
        return self.log_path.read_bytes()


@dataclass
class Moment:
    """When to kill: `startup` after `delay` s (at the first logged step if that comes sooner);
    `step` once step `target` is logged, then `delay` s more; `write` as soon as the temp file of
    checkpoint `target` appears (or, missed, at the next step)."""

    kind: str
    target: int = 0
    delay: float = 0.0


def draw_moment(
    rng: random.Random, base: int, interval: int, startup_s: float, allow_startup: bool
) -> Moment:
    """A random kill moment of a process whose first checkpoint still to come is past `base`."""
    r = rng.random()
    if allow_startup and r < STARTUP_SHARE:
        return Moment("startup", delay=rng.uniform(0.0, startup_s))
    if r < STARTUP_SHARE + WRITE_SHARE:
        return Moment("write", target=base + interval * rng.randint(1, 2))
    return Moment("step", target=base + rng.randint(1, 2 * interval), delay=rng.uniform(0.0, 0.01))


def temp_files(folder: Path) -> set[str]:
    """Temp files of interrupted atomic writes (`.NAME.tmpPID`), never checkpoints."""
    try:
        return {p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name}
    except FileNotFoundError:
        return set()


def kill_at(process: Watched, moment: Moment, ckpt_dir: Path) -> bool:
    """Wait for the moment and SIGKILL the process; False when it ended on its own first."""
    before = temp_files(ckpt_dir)
    while process.proc.poll() is None:
        process.read()
        step = process.last_step or 0
        if moment.kind == "startup" and (
            time.monotonic() - process.started >= moment.delay or process.steps
        ):
            break
        if moment.kind == "step" and step >= moment.target:
            time.sleep(moment.delay)
            break
        if (
            moment.kind == "write"
            and step >= moment.target
            and (temp_files(ckpt_dir) - before or step > moment.target)
        ):
            break
        time.sleep(POLL_S)
    else:
        process.finish()
        return False
    return process.kill()


# ---- checks ----------------------------------------------------------------------------------
def leaves(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A checkpoint state as {path: tensor or JSON text} (JSON so that NaN equals NaN)."""
    if isinstance(obj, dict):
        return {
            k: v for key, value in obj.items() for k, v in leaves(value, f"{prefix}/{key}").items()
        }
    if isinstance(obj, (list, tuple)) and any(
        isinstance(v, (dict, list, tuple, torch.Tensor)) for v in obj
    ):
        return {
            k: v for i, value in enumerate(obj) for k, v in leaves(value, f"{prefix}/{i}").items()
        }
    return {prefix: obj if isinstance(obj, torch.Tensor) else json.dumps(obj)}


def state_difference(soaked: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """The parts of two checkpoint states that differ, besides the config (the reference keeps
    every checkpoint) and the wall-clock seconds."""
    a, b = (
        {k: v for k, v in s.items() if k not in ("config", "elapsed")} for s in (soaked, reference)
    )
    la, lb = leaves(a), leaves(b)
    differing = sorted(set(la) ^ set(lb))
    for key in sorted(set(la) & set(lb)):
        x, y = la[key], lb[key]
        same = (
            same_bits(x, y)
            if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
            else x == y
        )
        if not same:
            differing.append(key)
    return differing


def same_bits(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Bit for bit: torch.equal alone would take -0.0 for 0.0 and never a NaN for itself."""
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    return torch.equal(
        x.contiguous().reshape(-1).view(torch.uint8), y.contiguous().reshape(-1).view(torch.uint8)
    )


@dataclass
class DiskCheck:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    newest_loadable: int | None = None


def check_checkpoints(ckpt_dir: Path, reference_dir: Path) -> DiskCheck:
    """Every checkpoint on disk loads (gankit's own loader) and equals
    the reference's of its step."""
    result = DiskCheck()
    for path in ckpt.list_checkpoints(ckpt_dir):
        result.checked += 1
        try:
            state = ckpt.load(path)
        except CheckpointError:
            result.corrupt.append(path.name)
            continue
        result.newest_loadable = state["step"]
        reference = ckpt.load(reference_dir / path.name)
        if difference := state_difference(state, reference):
            result.differing.append(f"{path.name}: {', '.join(difference[:3])}")
    return result


def metrics_rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def metrics_problems(run: Path, reference: Path) -> list[str]:
    """Each step logged once, in order, with the values the reference logged (timing aside)."""
    rows, expected = metrics_rows(run), metrics_rows(reference)
    steps = [r["step"] for r in rows]
    problems = []
    if steps != sorted(set(steps)):
        problems.append("metrics.jsonl: steps repeated or out of order")
    if steps != [r["step"] for r in expected]:
        problems.append(
            f"metrics.jsonl: steps {steps[:3]}..{steps[-3:]} differ from the reference's"
        )
    untimed = [
        [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rs]
        for rs in (rows, expected)
    ]
    if json.dumps(untimed[0]) != json.dumps(untimed[1]):
        first = next((a["step"] for a, b in zip(*untimed, strict=False) if a != b), None)
        problems.append(
            f"metrics.jsonl: logged values differ from the reference's (first at step {first})"
        )
    return problems


def unreadable_grids(run: Path) -> list[str]:
    from PIL import Image

    bad = []
    for png in sorted((run / "samples").glob("*.png")):
        try:
            with Image.open(png) as image:
                image.load()
        except OSError:
            bad.append(png.name)
    return bad


# ---- the soak --------------------------------------------------------------------------------
@dataclass
class Kill:
    moment: str
    started_at: int  # the step the killed process started from
    reached: int  # the last step it logged (or started_at)
    during_write: bool  # it left a checkpoint temp file behind
    logged_steps: int  # steps it logged (0: killed in its start-up)
    resumed_from: int | None = None

    @property
    def lost(self) -> int | None:
        return None if self.resumed_from is None else self.reached - self.resumed_from


def run_reference(mode: Mode, work: Path) -> tuple[Path, int]:
    """The uninterrupted run (every checkpoint kept) and its last step."""
    out = work / f"{mode.name}-reference"
    done = subprocess.run(
        mode.command(out, reference=True),
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"]
        raise SoakFailed(
            f"the uninterrupted {mode.name} run exited with {done.returncode}: {said[-1]}"
        )
    return out, metrics_rows(out)[-1]["step"]


def resume_problems(process: Watched, start_step: int, says_resuming: bool) -> list[str]:
    """A resumed process (killed or ended) went on from `start_step`, the newest checkpoint that
    loads: it said so (`gankit train` does) and the first step it logged is the next one."""
    problems = []
    said = [int(s) for s in RESUMING_LINE.findall(process.text())]
    if says_resuming and process.steps and said[:1] != [start_step]:
        problems.append(
            f"a resumed run said it resumed at step {said[:1] or 'none'}, not {start_step}"
        )
    if process.steps and process.steps[0] != start_step + 1:
        problems.append(
            f"a run resumed from step {start_step} logged step {process.steps[0]} first"
        )
    if process.proc.returncode not in (0, -signal.SIGKILL):
        problems.append(
            f"a resumed run exited with {process.proc.returncode}: {last_line(process)}"
        )
    return problems


def last_line(process: Watched) -> str:
    lines = process.text().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


class Soak:
    """One mode's soak: launches, kills, the checks after each kill, and the tallies."""

    def __init__(self, mode: Mode, reference: Path, run: Path, interval: int, seed: int):
        self.mode, self.reference, self.run, self.interval = mode, reference, run, interval
        self.ckpt_dir = run / "checkpoints"
        self.logs = run.with_name(f"{run.name}-logs")
        self.logs.mkdir(exist_ok=True)
        self.rng = random.Random(f"{seed}-{mode.name}")
        self.kills: list[Kill] = []
        self.problems: list[str] = []
        self.failed_resumes = self.checked = self.corrupt = 0
        self.start_step, self.startup_s, self.launches = 0, 3.0, 0
        self.startups: list[float] = []  # seconds from launch to the first logged step

    def launch(self) -> Watched:
        resume = self.launches > 0
        self.launches += 1
        return Watched(
            self.mode.command(self.run, resume=resume), self.logs / f"{self.launches:03d}.log"
        )

    def until(self, kills: int) -> None:
        """Kill and resume until `kills` kills, then let the last process run to the end (or stop
        early when a process reaches the end before its kill, or a resume fails)."""
        while True:
            first, process = self.launches == 0, self.launch()
            if len(self.kills) >= kills:
                process.proc.wait()
                process.finish()
                killed = False
            else:
                # the first process is killed only after its first checkpoint:
                # before, nothing could resume
                base = (
                    self.start_step - self.start_step % self.interval
                    if not first
                    else self.interval
                )
                moment = draw_moment(
                    self.rng, base, self.interval, self.startup_s, allow_startup=not first
                )
                before = temp_files(self.ckpt_dir)
                killed = kill_at(process, moment, self.ckpt_dir)
            if process.first_step_s is not None:
                self.startups.append(process.first_step_s)
            if not first:
                found = resume_problems(
                    process, self.start_step, says_resuming=self.mode.name == "image"
                )
                self.failed_resumes += bool(found)
                self.problems += found
            if not killed:
                if first and process.proc.returncode != 0:
                    self.problems.append(
                        f"the first run exited with {process.proc.returncode}: {last_line(process)}"
                    )
                return
            self.startup_s = process.first_step_s or self.startup_s
            kill = Kill(
                moment.kind,
                self.start_step,
                max(self.start_step, process.last_step or 0),
                during_write=bool(temp_files(self.ckpt_dir) - before),
                logged_steps=len(process.steps),
            )
            if not self.after_kill(kill):
                return

    def after_kill(self, kill: Kill) -> bool:
        """Every checkpoint on disk loads and equals the reference's; the next resume starts from
        the newest. False when nothing could be resumed."""
        disk = self.check_disk(f"after kill {len(self.kills) + 1}")
        if disk.newest_loadable is None:
            self.problems.append(f"after kill {len(self.kills) + 1}: no checkpoint to resume from")
            return False
        kill.resumed_from = self.start_step = disk.newest_loadable
        self.kills.append(kill)
        return True

    def check_disk(self, when: str) -> DiskCheck:
        disk = check_checkpoints(self.ckpt_dir, self.reference / "checkpoints")
        self.checked += disk.checked
        self.corrupt += len(disk.corrupt)
        self.problems += [f"{when}: {p} does not load" for p in disk.corrupt]
        self.problems += [f"{when}: {p} differs from the reference" for p in disk.differing]
        return disk

    def final_difference(self, total: int) -> list[str]:
        """What differs between the soaked run's final checkpoint and the reference's."""
        disk = self.check_disk("at the end")
        if disk.newest_loadable != total:
            return [f"the run ended at step {disk.newest_loadable}, not {total}"]
        self.problems += metrics_problems(self.run, self.reference)
        name = ckpt.checkpoint_path(self.ckpt_dir, total).name
        return state_difference(
            ckpt.load(self.ckpt_dir / name), ckpt.load(self.reference / "checkpoints" / name)
        )


def soak(
    mode_name: str, kills: int, steps: int, interval: int, seed: int, work: Path
) -> dict[str, Any]:
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    mode = MODES[mode_name](steps, interval, seed, work)
    reference, total = run_reference(mode, work)
    run = Soak(mode, reference, work / mode.name, interval, seed)
    run.until(kills)
    difference = run.final_difference(total)
    run.problems += [f"sample grid {p} does not decode" for p in unreadable_grids(run.run)]
    lost = [k.lost for k in run.kills if k.lost is not None]
    if len(run.kills) < kills:
        run.problems.append(
            f"the run reached its end after {len(run.kills)} of {kills} kills: give it more --steps"
        )
    if lost and max(lost) > interval:
        run.problems.append(
            f"a kill lost {max(lost)} steps, more than the save interval ({interval})"
        )
    if difference:
        run.problems.append(
            f"the final state differs from the uninterrupted run's: {', '.join(difference[:5])}"
        )
    return {
        "mode": mode.name,
        "command": ["gankit", *mode.command(Path("RUN"))[3:]],
        "steps": total,
        "save_interval": interval,
        "kills": len(run.kills),
        "kills_during_checkpoint_write": sum(k.during_write for k in run.kills),
        "kills_by_moment": {
            kind: sum(k.moment == kind for k in run.kills) for kind in ("startup", "write", "step")
        },
        "kills_before_first_step": sum(k.logged_steps == 0 for k in run.kills),
        "startup_s_median": round(statistics.median(run.startups), 2) if run.startups else None,
        "checkpoint_files_checked": run.checked,
        "corrupt_checkpoint_files": run.corrupt,
        "stray_temp_files": len(temp_files(run.ckpt_dir)) + len(temp_files(run.run)),
        "failed_resumes": run.failed_resumes,
        "steps_lost": {
            "median": statistics.median(lost) if lost else None,
            "max": max(lost) if lost else None,
            "per_kill": lost,
        },
        "final_bit_equal": not difference,
        "problems": run.problems,
        "wall_s": round(time.monotonic() - started, 1),
    }


# ---- the command -----------------------------------------------------------------------------
def positive(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = SoakParser(prog="soak", description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=positive(1), default=50, help="SIGKILLs per mode (default 50)")
    p.add_argument("--mode", choices=("image", "table", "both"), default="both")
    p.add_argument(
        "--interval", type=positive(2), default=10, help="steps between checkpoints (default 10)"
    )
    p.add_argument(
        "--steps",
        type=positive(1),
        default=None,
        help="steps of each run (default 2 x (kills + 2) x interval: a kill lets the run advance "
        "by at most 2 intervals, 3 for the first, so every kill lands before the end)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the kill moments and the training")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument(
        "--work", default=None, help="folder for the runs (default: a temporary one, removed after)"
    )
    args = p.parse_args(argv)
    args.steps = args.steps or 2 * (args.kills + 2) * args.interval
    if args.steps <= 3 * args.interval:
        p.error(
            f"--steps {args.steps} leaves no room for a kill: "
            f"give more than 3 x --interval ({3 * args.interval})"
        )
    return args


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'mode':6} {'kills':>5} {'in ckpt write':>13} {'corrupt files':>13} "
        f"{'failed resumes':>14} {'steps lost median/max (interval)':>32} {'bit-equal':>9} "
        f"{'wall s':>7}"
    )
    for r in results:
        lost = f"{r['steps_lost']['median']} / {r['steps_lost']['max']} ({r['save_interval']})"
        print(
            f"{r['mode']:6} {r['kills']:>5} {r['kills_during_checkpoint_write']:>13} "
            f"{r['corrupt_checkpoint_files']:>13} {r['failed_resumes']:>14} {lost:>32} "
            f"{'yes' if r['final_bit_equal'] else 'no':>9} {r['wall_s']:>7.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gankit-soak-"))
    modes = ("image", "table") if args.mode == "both" else (args.mode,)
    try:
        results = [
            soak(m, args.kills, args.steps, args.interval, args.seed, work / m) for m in modes
        ]
    except SoakFailed as e:
        print(f"soak: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "kills_asked": args.kills,
                    "seed": args.seed,
                    "torch": torch.__version__,
                    "results": results,
                },
                indent=1,
            )
            + "\n"
        )
    problems = [f"{r['mode']}: {p}" for r in results for p in r["problems"]]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
