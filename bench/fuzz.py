"""Every fuzz target of the test suite with a larger budget, and the count per parser of the
examples tried, those that worked, those refused with a one-line error, and failures.

    python bench/fuzz.py                      # the ci profile (timed), then the long one
    python bench/fuzz.py --profile ci         # the suite's own budget
    python bench/fuzz.py --markdown docs/results/fuzz.md --json docs/results/fuzz.json

The long profile tries 20x the ci profile's examples. Runs `pytest tests/**/test_fuzz_*.py` with
`GANKIT_FUZZ=PROFILE` (tests/conftest.py: derandomised, no example database, so a run tries the same
inputs each time) and `GANKIT_FUZZ_COUNTS` naming a file where tests/fuzzing.py adds up its counts.
Exits with pytest's status: a failure found is a failing run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(profile: str, extra: list[str]) -> tuple[int, dict[str, dict[str, int]], float]:
    """(pytest's exit status, the counts per parser, seconds)."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_fuzz_*.py"))
    with tempfile.TemporaryDirectory() as folder:
        counts_file = Path(folder) / "counts.json"
        env = {**os.environ, "GANKIT_FUZZ": profile, "GANKIT_FUZZ_COUNTS": str(counts_file)}
        start = time.perf_counter()
        status = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, *extra],
            cwd=ROOT,
            env=env,
        )
        seconds = time.perf_counter() - start
        counts = json.loads(counts_file.read_text()) if counts_file.is_file() else {}
    return status, counts, seconds


def rows(counts: dict[str, dict[str, int]]) -> list[dict[str, object]]:
    """One row a parser: inputs it was given (the examples a test tried, or for a parser a test
    reaches after another, those that got that far), worked, refused, diverged runs, failed."""
    out = []
    for parser, c in sorted(counts.items()):
        worked, refused, failed = c.get("worked", 0), c.get("refused", 0), c.get("failed", 0)
        tried = c.get("tried", worked + refused + c.get("diverged", 0) + failed)
        out.append(
            {
                "parser": parser,
                "tried": tried,
                "worked": worked,
                "refused": refused,
                "diverged": c.get("diverged", 0),
                "failed": failed,
            }
        )
    return out


def markdown(
    table: list[dict[str, object]],
    profile: str,
    status: int,
    seconds: float,
    command: str,
    ci: tuple[int, int, float] | None,
) -> str:
    lines = [
        "# Fuzzing the inputs: examples tried per parser",
        "",
        f"Profile `{profile}`, {seconds / 60:.1f} minutes, pytest exit status {status} "
        f"({'no failure' if status == 0 else 'FAILURES'}). Python {platform.python_version()}, "
        + ", ".join(
            f"{p} {version(p)}"
            for p in ("hypothesis", "torch", "numpy", "pandas", "pillow", "pyyaml", "safetensors")
        )
        + ".",
        "",
        *(
            [
                f"The test suite runs the same tests under the `ci` profile: {ci[1]:,} inputs "
                f"in {ci[2]:.0f} s here (pytest exit status {ci[0]})."
            ]
            if ci
            else []
        ),
        "Examples are derandomised; the checkpoint the checkpoint tests damage is trained "
        "afresh each run (its recorded training time differs), so their counts vary by a few "
        "between runs.",
        "",
        "An input *worked* when the parser returned a valid result (and the test's checks of it "
        "held), was *refused* when it raised a GankitError with a one-line message (the CLI: "
        "exit 2, one `gankit: error:` line, no file left behind); anything else is a *failure*. "
        "A parser a test reaches after another (infer_kinds after read_table) counts the inputs "
        "that got that far.",
        "",
        "| parser | inputs tried | worked | refused in one line | diverged (exit 1) | failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table:
        lines.append(
            f"| {r['parser']} | {r['tried']:,} | {r['worked']:,} | {r['refused']:,} "
            f"| {r['diverged']:,} | {r['failed']:,} |"
        )
    total = {
        k: sum(r[k] for r in table) for k in ("tried", "worked", "refused", "diverged", "failed")
    }
    lines += [
        f"| **all parsers** | **{total['tried']:,}** | {total['worked']:,} "
        f"| {total['refused']:,} | {total['diverged']:,} | **{total['failed']:,}** |",
        "",
        "Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="long", help="long (default: 20x the CI examples) or ci")
    ap.add_argument(
        "--markdown", default=None, help="write the table here (e.g. docs/results/fuzz.md)"
    )
    ap.add_argument("--json", default=None, help="write the counts here")
    ap.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --), e.g. -k table")
    args = ap.parse_args()
    ci = None
    if args.profile != "ci":  # the suite's own budget, timed for comparison
        ci_status, ci_counts, ci_seconds = run("ci", args.pytest_args)
        ci = (ci_status, sum(r["tried"] for r in rows(ci_counts)), ci_seconds)
    status, counts, seconds = run(args.profile, args.pytest_args)
    table = rows(counts)
    command = " ".join(["python bench/fuzz.py", *sys.argv[1:]])
    text = markdown(table, args.profile, status, seconds, command, ci)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "profile": args.profile,
                    "status": status,
                    "seconds": round(seconds),
                    "ci": ci and {"status": ci[0], "examples": ci[1], "seconds": round(ci[2])},
                    "parsers": table,
                },
                indent=1,
            )
            + "\n"
        )
    sys.exit(status or (ci[0] if ci else 0))


if __name__ == "__main__":
    main()
