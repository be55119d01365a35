"""Local picture files as the photo source meets them: is this a picture, and does its EXIF orientation turn it?
Header reads only, memoised; any thread (one lock).

A FIFO, a device or a folder is refused without being read: opening a FIFO for reading waits for a writer
forever, and :meth:`LocalPictures.verdict` runs on the desk's thread (the file is opened non-blocking and checked
with ``fstat``, so a file swapped for a FIFO after the ``stat`` cannot hang it either).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from PIL import Image

from agent.photos.thumbnail import FORMATS

MEMO_MAX = 1024
"""Verdicts kept (by path, size and modification time); the table is emptied when it grows past this."""


class LocalPictures:
    """``verdict(path)``: ``"ok"``, ``"rotate"`` or ``""``, memoised by (path, size, mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, int, int], str] = {}

    def verdict(self, path: Path) -> str:
        """``"ok"`` (a picture of an accepted format, upright as stored), ``"rotate"`` (a picture whose EXIF
        orientation turns it) or ``""`` (missing, not a regular file, not a usable picture). One ``stat`` when
        known, else a header read. Never raises."""
        try:
            st = path.stat()
        except (OSError, ValueError):  # ValueError: a NUL in the path
            return ""
        if not stat.S_ISREG(st.st_mode):
            return ""
        memo = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            known = self._memo.get(memo)
        if known is None:
            known = picture_verdict(path)
            with self._lock:
                if len(self._memo) > MEMO_MAX:
                    self._memo.clear()
                self._memo[memo] = known
        return known


def picture_verdict(path: Path) -> str:
    """``"ok"`` when ``path`` is a regular file whose header Pillow reads as one of :data:`FORMATS`, ``"rotate"``
    when its EXIF orientation (tag 0x0112) is 2-8, else ``""``. Never blocks on a FIFO or device (``O_NONBLOCK``
    open, ``fstat`` on the opened file); never raises."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        with os.fdopen(fd, "rb", closefd=False) as fh, Image.open(fh, formats=FORMATS) as img:
            return "rotate" if img.getexif().get(0x0112, 1) in range(2, 9) else "ok"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""
    finally:
        os.close(fd)
