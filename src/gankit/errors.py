"""Typed errors: everything a user can get wrong raises one of these, never a bare traceback.

The CLI turns any `GankitError` into a one-line message and exit code 2.
"""


class GankitError(Exception):
    """Base class for errors caused by user input (config, data, files)."""

    def __str__(self) -> str:
        # one line, whatever it quotes (a column name or a YAML key may hold a line break)
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(GankitError, ValueError):
    """Unknown preset, option or value; an architecture that cannot be built."""


class DataError(GankitError, ValueError):
    """A data source that is missing, empty, corrupt or of the wrong format."""


class CheckpointError(GankitError, OSError):
    """A checkpoint that is not gankit's, is truncated, or could not be written."""


class DivergedError(GankitError, ArithmeticError):
    """Training diverged (NaN/Inf) before there was a checkpoint to keep: nothing to return
    (the CLI exits with 1, as for any diverged run)."""


class RunInUseError(GankitError):
    """Another process is training into the same run directory (it holds the folder's lock)."""
