"""What every fuzz test asserts, and the counts the fuzz benchmark reports.

The property (issue 20): a parser fed anything either works or raises a `GankitError` with a
one-line message; the CLI exits 0 or 2 with at most one `gankit: error: ...` line and no
traceback; nothing is left half-written; nothing hangs. `fuzz_target` counts, per parser, the
examples tried and those that failed; `outcome` counts which of them worked and which were
refused, so `bench/fuzz.py` can print both.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import signal
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis.errors import HypothesisException

from gankit.errors import GankitError

#: examples of a test with `examples(n)` under the CI profile: n; under
#: the long one, n x LONG_FACTOR
CI_EXAMPLES, LONG_FACTOR = 10, 20
#: an example still running after this long is a hang (the per-example deadline catches the slow)
HANG_SECONDS = 60
COUNTS: dict[str, Counter] = defaultdict(Counter)
COUNTS_FILE = "GANKIT_FUZZ_COUNTS"


def examples(n: int, **kwargs: Any) -> settings:
    """`n` examples under the CI profile, scaled with the profile in use (the long one: x20)."""
    scale = settings.default.max_examples / CI_EXAMPLES
    return settings(max_examples=max(1, math.ceil(n * scale)), **kwargs)


class Hang(BaseException):
    """An example ran past HANG_SECONDS. A BaseException, so a parser's `except Exception` (which
    turns a bad file into a skip) cannot swallow it."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def fire(signum, frame):  # noqa: ANN001
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fuzz_target(parser: str) -> Callable:
    """Count the examples a test tries and those that fail, under `parser`'s name, and fail an
    example that hangs. Goes under `@given`. Examples Hypothesis abandons while drawing them
    (its own exceptions: too much data, a failed `assume`) are not inputs tried."""

    def wrap(test: Callable) -> Callable:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> None:
            global _pending
            _pending = []
            try:
                with hang_guard():
                    test(*args, **kwargs)
            except (Exception, Hang) as e:  # (Hypothesis's StopTest, a BaseException, passes)
                if not isinstance(e, HypothesisException):  # a failure, counted where it happened
                    blamed = any(key == "failed" for _, key in _pending)
                    _keep(_pending + [(parser, "tried"), *([] if blamed else [(parser, "failed")])])
                raise
            else:
                _keep(_pending + [(parser, "tried")])
            finally:
                _pending = None

        return run

    return wrap


#: the counts of the example running, kept when it ends (not when Hypothesis abandons it)
_pending: list[tuple[str, str]] | None = None


def _count(parser: str, key: str) -> None:
    if _pending is None:
        _keep([(parser, key)])
    else:
        _pending.append((parser, key))


def _keep(counts: list[tuple[str, str]]) -> None:
    for parser, key in counts:
        COUNTS[parser][key] += 1


def outcome(parser: str, call: Callable[[], Any]) -> tuple[Any, GankitError | None]:
    """(result, None) when `call` works, (None, the error) when it raises a GankitError with a
    one-line message; any other exception propagates: that is the failure the fuzzing looks for."""
    try:
        result = call()
    except GankitError as e:
        message = str(e)
        if not message.strip() or breaks_lines(message):
            _count(parser, "failed")
            raise AssertionError(
                f"{type(e).__name__} message is not one line: {message!r}"
            ) from None
        _count(parser, "refused")
        return None, e
    except Exception:
        _count(parser, "failed")
        raise
    _count(parser, "worked")
    return result, None


def breaks_lines(text: str) -> bool:
    """Whether `text` would show on more than one line of a terminal."""
    return "\n" in text or "\r" in text


def run_cli(parser: str | None, argv: list[str]) -> tuple[int, str, str]:
    """`gankit ARGV` in this process: (exit code, stdout, stderr), after checking the CLI's half of
    the property: exit 0 or 2 (or 1 for a run that diverged, as the CLI documents), no traceback,
    at most one error line, every warning one line. Counted under `parser` (None: a plain test's
    call, not counted)."""
    from gankit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        code = main(argv)
    stderr = err.getvalue()
    assert code in (0, 2) or (code == 1 and "diverged" in stderr), (
        f"exit code {code}; stderr: {stderr!r}"
    )
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.split("\n") if line.startswith("gankit: error:")]
    assert not errors or stderr.endswith(errors[-1] + "\n"), (
        f"the error is not one last line: {stderr!r}"
    )
    assert len(errors) <= 1 and (code != 2 or errors), f"exit {code} with error lines {errors}"
    for w in caught:
        assert not breaks_lines(str(w.message).strip()), (
            f"a warning of several lines: {w.message!r}"
        )
    if parser:
        _count(parser, {0: "worked", 1: "diverged", 2: "refused"}[code])
    return code, out.getvalue(), stderr


def files_under(folder: Path) -> dict[str, str]:
    """Every file below `folder` with a hash of its bytes: what a failing command must leave as
    it found it."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_counts() -> None:
    """The counts as JSON to $GANKIT_FUZZ_COUNTS (merged with what is there: one file per pytest
    run of bench/fuzz.py)."""
    target = os.environ.get(COUNTS_FILE)
    if not target or not COUNTS:
        return
    path = Path(target)
    merged = json.loads(path.read_text()) if path.is_file() else {}
    for parser, counts in COUNTS.items():
        entry = merged.setdefault(parser, {})
        for key, value in counts.items():
            entry[key] = entry.get(key, 0) + value
    path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
