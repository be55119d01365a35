"""Atomic file replacement for the few files the agent writes for other readers (the per-user settings file, the
Windows roots PEM for libpq).

Which thread: any. Each writer uses a temporary file of its own (``tempfile.mkstemp``: mode 0600 on POSIX) in the
target's folder, then ``os.replace``: a reader never sees half a file, and concurrent writers (``configure`` and the
settings page; the tray's threads and a ``doctor`` started meanwhile) never take each other's temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_text_atomic(path: Path, text: str, *, encoding: str) -> None:
    """Replace ``path`` with ``text`` (``\\n`` line endings, ``encoding``), creating its folder. Raises ``OSError``
    (the temporary file is removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
