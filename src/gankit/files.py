"""Writing files so that a failed write (disk full, read-only folder, no permission) loses nothing.

A whole file is written to a temporary name, fsynced and renamed, so its name shows either the old
content or the complete new one; a line appended to a log is cut back off when it fails, so the
log never ends in half a line. Every failure is one `CheckpointError` (a `GankitError`, and an
`OSError`) naming the file and the reason.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import CheckpointError, GankitError

#: the temporary name of a file being written: `.NAME.tmpPID`
TEMP_NAME = re.compile(r"^\..+\.tmp(\d+)$")

REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def reason(e: OSError) -> str:
    """What went wrong, in a few words a user acts on."""
    return REASONS.get(e.errno or 0) or e.strerror or str(e)


def write_error(path: Path, e: OSError) -> CheckpointError:
    return CheckpointError(f"could not write {path} ({reason(e)}); earlier files are kept")


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # a folder that refuses the unlink refused the write too: there is nothing to clean


def fsync_dir(folder: Path) -> None:
    """Make a rename durable; a file system that cannot sync a folder
    has renamed it all the same."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A file to write whose content appears under `path` all at once when the block
    ends (temp file, fsync, rename), or not at all: on any failure the temp file
    goes and `path` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        _discard(tmp)
        if isinstance(e, OSError) and not isinstance(e, GankitError):
            raise write_error(path, e) from None
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Temp file, fsync, rename: the target is either the old file or the complete new one."""
    with atomic_writer(path) as f:
        f.write(data)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder to fill whose files appear under `path` all at once when the block ends
    (renamed onto `path`, which must not exist or be empty), or not at all: on any failure the
    temporary folder goes and `path` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # this process's name: left by nobody else
        tmp.mkdir()
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, GankitError):
            raise write_error(path, e) from None
        raise
    fsync_dir(path.parent)


def append_line(path: str | Path, line: str) -> None:
    """Append `line` and a newline; on failure the file is cut back to its old length."""
    path, data = Path(path), memoryview((line + "\n").encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        size = os.fstat(fd).st_size
        try:
            while data:  # a full disk may take part of the line before it refuses the rest
                data = data[os.write(fd, data) :]
        except OSError as e:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise write_error(path, e) from None
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temp files of writes that a killed process never finished (their process is
    gone); a caller holding the run directory's lock knows no other run writes there."""
    removed = []
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return removed
    for path in entries:
        match = TEMP_NAME.match(path.name)
        if match and not _process_alive(int(match.group(1))):
            _discard(path)
            removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no harmless way to ask elsewhere: keep the file
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, someone else's
    return True
