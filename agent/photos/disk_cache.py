"""The photo thumbnail cache on disk: one PNG per (member, source), atomic writes, age and size bounds.

Files live in :func:`default_folder` (platformdirs' user cache folder of the app, ``photos`` below it). A file's
name is a hash of the member id and the photo's source (URL, or a hash of the ``bytea`` bytes), so a changed URL
or a changed picture is a new name and is fetched again; the old file ages out. Freshness is the file's
modification time (the time it was written). Any thread: writes go to a temp file in the same folder and are
renamed over the target (:func:`os.replace`), so a reader never sees half a file; concurrent trims tolerate files
vanishing under them. Files are created readable by the user only (``mkstemp`` makes them 0600 on POSIX; the
folder is made 0700); on Windows the per-user ``%LOCALAPPDATA%`` ACL applies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs

from agent import APP_ID

log = logging.getLogger(__name__)

SUFFIX = ".png"
_TEMP_PREFIX = ".tmp-"
_TEMP_MAX_AGE_S = 3600.0
"""A temp file older than this is a leftover of a crash: removed by :meth:`DiskCache.trim`."""


def default_folder() -> Path:
    """``<user cache dir>/photos``: ``~/.cache/AvisoEntradas/photos`` on Linux,
    ``%LOCALAPPDATA%\\AvisoEntradas\\Cache\\photos`` on Windows, ``~/Library/Caches/AvisoEntradas/photos`` on macOS
    (platformdirs ``user_cache_dir``)."""
    return Path(platformdirs.user_cache_dir(APP_ID, appauthor=False)) / "photos"


def cache_key(member_id: int | str, source: str) -> str:
    """The file stem for ``member_id``'s photo from ``source``: 40 hex digits of SHA-256 (no id or URL readable
    in the folder listing)."""
    raw = f"{type(member_id).__name__}:{member_id}\x00{source}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


class DiskCache:
    """Thumbnails on disk. ``max_age_s``: older files are stale (not returned, removed by :meth:`trim`);
    ``max_bytes``: the folder's bound, oldest files removed first. ``wall``: the wall clock (file times are wall
    time), injectable for tests."""

    def __init__(
        self, folder: Path, *, max_age_s: float, max_bytes: int, wall: Callable[[], float] = time.time
    ) -> None:
        self.folder = folder
        self._max_age_s = max_age_s
        self._max_bytes = max_bytes
        self._wall = wall

    def path_for(self, key: str) -> Path:
        """Where the thumbnail of ``key`` (a :func:`cache_key`) lives, whether or not it exists."""
        return self.folder / (key + SUFFIX)

    def fresh(self, key: str) -> Path | None:
        """The thumbnail of ``key`` when it exists and is younger than ``max_age_s``, else None. One ``stat``."""
        path = self.path_for(key)
        try:
            age = self._wall() - path.stat().st_mtime
        except OSError:
            return None
        return path if age < self._max_age_s else None

    def write(self, key: str, data: bytes) -> Path:
        """Store ``data`` as ``key``'s thumbnail (atomically), then :meth:`trim`; returns its path. Raises
        ``OSError`` (disk full, no permission)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # members' faces: this user only (POSIX)
        target = self.path_for(key)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=_TEMP_PREFIX, suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except PermissionError:
            # Windows refuses to replace a file another process holds open (a toast showing the old thumbnail
            # of the same source): keep that one; the next fetch after it expires tries again.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if not target.is_file():
                raise
            return target
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.trim()
        return target

    def trim(self) -> int:
        """Remove stale thumbnails, leftover temp files, then the oldest files until the folder is within
        ``max_bytes``. Returns how many files were removed. Never raises for files vanishing meanwhile."""
        now = self._wall()
        files: list[tuple[float, int, Path]] = []
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        for entry in entries:
            try:
                st = entry.stat()
            except OSError:
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            path = Path(entry.path)
            is_temp = entry.name.startswith(_TEMP_PREFIX)
            if (is_temp and now - st.st_mtime > _TEMP_MAX_AGE_S) or (
                not is_temp and entry.name.endswith(SUFFIX) and now - st.st_mtime >= self._max_age_s
            ):
                removed += _unlink(path)
            elif not is_temp and entry.name.endswith(SUFFIX):
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _mtime, size, path in sorted(files):
            if total <= self._max_bytes:
                break
            removed += _unlink(path)
            total -= size
        return removed


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
    except OSError as exc:  # Windows: a toast may still hold the file open
        log.debug("photo cache: could not remove %s: %s", path.name, exc)
        return 0
