"""The progress bars of the long commands, under one rule: shown on a terminal, silent otherwise.

`progress` is None (the rule: a bar when stderr is a terminal), True (always) or False (never:
`--no-progress`), the same in every command and API call that draws a bar.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def shows(progress: bool | None) -> bool:
    """Whether a bar is drawn: as asked, else when stderr is a terminal (not a log or a pipe)."""
    if progress is not None:
        return bool(progress)
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(total: float, desc: str, unit: str, progress: bool | None) -> tqdm:
    """A tqdm bar on stderr, erased when done, drawn only when `shows(progress)`."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not shows(progress),
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
