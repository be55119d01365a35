"""Single instance per user on Linux/macOS: an exclusive ``flock`` on a lock file. Thin adapter.

The lock file is ``<user runtime dir>/<name>.lock`` (platformdirs; ``$XDG_RUNTIME_DIR`` on Linux, private to the
user). The kernel drops the lock when the process ends, even after a crash, so there is no stale-lock cleanup.
The file holds the owner's PID, for people.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def default_lock_dir(app_id: str) -> Path:
    """The per-user runtime directory for ``app_id`` (created when missing)."""
    import platformdirs

    path = platformdirs.user_runtime_path(app_id, appauthor=False, ensure_exists=True)
    return Path(path)


class LockFileInstance:
    """``acquire()`` → True when this is the only instance named ``name`` for this user."""

    def __init__(self, name: str, directory: Path) -> None:
        self.path = directory / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it. Raises ``OSError`` when the
        lock file cannot be created."""
        if sys.platform == "win32":
            raise OSError("use the named-mutex single instance on Windows")
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel at exit). Idempotent."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
