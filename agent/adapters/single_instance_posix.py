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
    """The per-user runtime directory for ``app_id`` (created when missing). Main thread, at start-up.

    Without a usable ``$XDG_RUNTIME_DIR`` (headless sessions, ``su``, containers) platformdirs falls back to
    ``/run/user/<uid>`` or ``$TMPDIR/runtime-<uid>``, checked to be the user's own with mode 0700, and says so
    with a ``RuntimeDirWarning`` (platformdirs >= 4.10) that Python prints to stderr on every run. The fallback is
    fine for a lock file, so that one warning is turned into a log line here. ``warnings.catch_warnings`` changes
    process-wide filters: this runs once, before other threads start.
    """
    import logging
    import warnings

    import platformdirs

    category: type[Warning] = getattr(platformdirs, "RuntimeDirWarning", UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        path = Path(platformdirs.user_runtime_path(app_id, appauthor=False, ensure_exists=True))
    for warning in caught:
        if issubclass(warning.category, category):
            logging.getLogger("agent.single_instance").info("lock directory %s: %s", path, warning.message)
        else:  # not ours to silence
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return path


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
        if self._fd is not None:  # already ours
            return True
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
