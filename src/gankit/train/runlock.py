"""One writer per run directory: the lock a training run holds on its folder while it runs.

Two runs writing the same folder would interleave their checkpoints, logs and grids. A run takes
an exclusive `flock` on `RUN/.gankit.lock` (non-blocking: a second run is refused at once, told
who holds it) and writes its pid, host and start time into the file for that message. The kernel
drops the lock when the holder's last descriptor closes, a process killed by SIGKILL included,
so the file may stay behind but never blocks: it is the lock, not its existence, that counts.
Where there is no `flock` (Windows) or the file system refuses it, the run goes on unlocked and
says so in a warning.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import warnings
from datetime import datetime
from pathlib import Path

from ..errors import CheckpointError, RunInUseError
from ..files import reason

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".gankit.lock"

#: errors of a file system that has no flock (some network and FUSE file systems)
UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


class RunLock:
    """The lock on one run directory; `acquire` makes the folder if needed and takes the lock."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._made: list[Path] = []  # what this lock created (undone by `release(undo=True)`)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise RunInUseError naming the process that holds it."""
        if self._fd is not None:
            return
        made_dir = self._make_dir()
        while True:
            fd, made_file = self._open()
            try:
                locked = _try_lock(fd)
            except OSError as e:
                if e.errno not in UNSUPPORTED:
                    os.close(fd)
                    raise CheckpointError(f"cannot lock {self.path} ({reason(e)})") from None
                locked = True
                warnings.warn(
                    f"cannot lock {self.run_dir} ({reason(e)}): a second run started on it "
                    "will not be refused",
                    stacklevel=3,
                )
            if not locked:
                holder = _read(fd)
                os.close(fd)
                raise RunInUseError(
                    f"{self.run_dir} is in use by another gankit run ({describe(holder)}): "
                    "wait for it to end, or choose another --out"
                )
            if self._still_named(fd):
                break
            # a run that cleaned up removed the file after we opened it: lock the new one
            os.close(fd)
        self._fd = fd
        self._made = [*([self.path] if made_file else []), *([self.run_dir] if made_dir else [])]
        _write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.now().astimezone().isoformat(timespec="seconds"),
                }
            ),
        )

    def release(self, undo: bool = False) -> None:
        """Let the lock go; `undo` also removes the lock file and folder if this lock created them
        (a run refused after taking it leaves the place as it found it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _write(fd, "")  # no stale holder in a file nobody holds
        if undo:
            for path in self._made:
                try:
                    path.unlink() if path == self.path else path.rmdir()  # a folder only if empty
                except OSError:
                    pass
        os.close(fd)  # the kernel drops the flock with the last descriptor

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit, os may be gone already
            pass

    def _make_dir(self) -> bool:
        if self.run_dir.is_dir():
            return False
        try:
            self.run_dir.mkdir(parents=True)
        except FileExistsError:
            return False  # made by a run started at the same time: the lock decides between us
        except OSError as e:
            raise CheckpointError(f"cannot create {self.run_dir} ({reason(e)})") from None
        return True

    def _open(self) -> tuple[int, bool]:
        try:
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
            except FileExistsError:
                return os.open(self.path, os.O_RDWR), False
        except OSError as e:
            raise CheckpointError(
                f"could not write {self.path} ({reason(e)}): the run cannot lock {self.run_dir}"
            ) from None

    def _still_named(self, fd: int) -> bool:
        try:
            named, opened = os.stat(self.path), os.fstat(fd)
        except OSError:
            return False
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _try_lock(fd: int) -> bool:
    """True when this descriptor now holds the lock, False when another holds it; OSError when
    the platform or file system has no such lock."""
    if fcntl is None:
        raise OSError(errno.ENOSYS, "no flock on this platform")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        holder = json.loads(os.read(fd, 4096) or b"null")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _write(fd: int, text: str) -> None:
    """The holder's line; a full disk only costs the refused run its description of the holder."""
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, text.encode())
    except OSError:
        pass


def describe(holder: dict) -> str:
    """`pid 4242 on host-a, started 2025-06-01T10:00:00+00:00`, or what is known of it."""
    if not holder.get("pid"):
        return "its process did not say who it is"
    this = (
        " (this process)"
        if holder["pid"] == os.getpid() and holder.get("host") == socket.gethostname()
        else ""
    )
    host, started = holder.get("host", "?"), holder.get("started", "?")
    return f"pid {holder['pid']}{this} on {host}, started {started}"
