"""Write failures on demand: the OSError a full disk (ENOSPC), a quota (EDQUOT), a read-only
folder (EROFS) or a missing permission (EACCES, EPERM) gives, raised by the very calls gankit
writes through (`open`, the file's `write`, `os.write`, `os.fsync`, `os.replace` in gankit.files),
for files whose path contains a given text. A failing write first writes half of its bytes, as a
disk that fills up mid-write does."""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

from gankit import files
from gankit.files import TEMP_NAME

CALLS = ("open", "write", "fsync", "replace")
#: (errno, the words gankit's one-line error gives for it)
ERRORS = [
    (errno.ENOSPC, "disk full"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"),
    (errno.EPERM, "permission denied"),
]


class _Os:
    """`os` with some calls replaced, for gankit.files only."""

    def __init__(self, replaced: dict):
        self._replaced = replaced

    def __getattr__(self, name: str):
        return self._replaced.get(name) or getattr(os, name)


class _HalfWritingFile:
    """A real file whose `write` puts half the bytes down, then fails."""

    def __init__(self, f, raise_error):
        self._f, self._raise = f, raise_error

    def write(self, data) -> int:
        data = bytes(data)
        self._f.write(data[: len(data) // 2])
        self._raise()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()

    def __getattr__(self, name: str):
        return getattr(self._f, name)


class FailingDisk:
    """Makes the `nth` call of kind `call` on a path containing `target` raise OSError(`error`)."""

    def __init__(
        self, monkeypatch, target: str, call: str = "write", error: int = errno.ENOSPC, nth: int = 1
    ):
        assert call in CALLS
        self.target, self.call, self.error, self.nth = target, call, error, nth
        self.seen = 0
        replaced = {}
        if call in ("open", "write"):
            monkeypatch.setattr(files, "open", self._open, raising=False)
        if call == "write":
            replaced["write"] = self._os_write
        if call == "fsync":
            replaced["fsync"] = self._fsync
        if call == "replace":
            replaced["replace"] = self._replace
        monkeypatch.setattr(files, "os", _Os(replaced))

    @property
    def failed(self) -> bool:
        return self.seen >= self.nth

    def _due(self, path) -> bool:
        if self.target not in str(path):
            return False
        self.seen += 1
        return self.seen == self.nth

    def _raise(self) -> None:
        raise OSError(self.error, os.strerror(self.error))

    def _open(self, path, mode="r", *args, **kwargs):
        if self.call == "open" and self._due(path):
            self._raise()
        f = builtins.open(path, mode, *args, **kwargs)
        if self.call == "write" and "w" in mode and self._due(path):
            return _HalfWritingFile(f, self._raise)
        return f

    def _os_write(self, fd: int, data) -> int:
        if self._due(_fd_path(fd)):
            os.write(fd, bytes(data)[: len(data) // 2])
            self._raise()
        return os.write(fd, data)

    def _fsync(self, fd: int) -> None:
        if self._due(_fd_path(fd)):
            self._raise()
        os.fsync(fd)

    def _replace(self, src, dst) -> None:
        if self._due(dst):
            self._raise()
        os.replace(src, dst)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of gankit's writes left anywhere under `folder`."""
    return [p for p in Path(folder).rglob("*") if TEMP_NAME.match(p.name)]
