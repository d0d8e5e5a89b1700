"""One server per JetStream store directory, enforced by a lock file.

Two servers writing the same streams corrupt each other, and a second server silently
serving the first one's streams is as bad; the reference has no guard. The lock is an
``flock`` on ``<store>/jetstream/LOCK`` held for the life of JetStream: the kernel drops it
when the process dies (no stale lock after a crash), and two servers in one process
conflict too, because each opens the file anew. The file records the holder's pid for the
error message; it is left in place (removing it would race with the next server).
"""

from __future__ import annotations

import os
from pathlib import Path

from pynatsd.server.internal import StartError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, as the reference
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "StoreLock"]

LOCK_NAME = "LOCK"


class StoreLock:
    """The held lock of one store root; :meth:`release` at stop."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StartError` naming the directory and holder."""
        if fcntl is None:  # pragma: no cover
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StartError(
                f"JetStream store directory {str(self.path.parent)!r} is in use by another server"
                f"{f' (pid {holder})' if holder else ''}: give each server a store_dir of its own"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
