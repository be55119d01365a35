"""The photo thumbnail cache on disk: one PNG per (member, source), atomic writes, age and size bounds.

Files live in :func:`default_folder` (platformdirs' user cache folder of the app, ``photos`` below it). A file's
name is a hash of the member id and the photo's source (URL, or a hash of the ``bytea`` bytes), so a changed URL
or a changed picture is a new name and is fetched again; the old file ages out. Freshness is the file's
modification time (the time it was written). Any thread: writes go to a temp file in the same folder and are
renamed over the target (:func:`os.replace`), so a reader never sees half a file; concurrent trims tolerate files
vanishing under them. Files are created readable by the user only (``mkstemp`` makes them 0600 on POSIX; the
folder is made 0700); on Windows the per-user ``%LOCALAPPDATA%`` ACL applies.

A thumbnail is a member's face the desk checks identity against, so nobody else may put one there. On POSIX the
folder must be this user's: an existing folder of ours with group/other access is narrowed to 0700 before the
first write (an older version, or a umask, may have left it open); a folder owned by another user, or not a
folder, is not used at all (``fresh`` gives None, ``write`` raises ``PermissionError``). ``fresh`` returns only a
regular file owned by this user with one link, never a symlink (``lstat``), so a file planted by someone who
could write there is ignored. (The same rules as OpenSSH's for ``~/.ssh``.)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
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
        self._trusted: bool | None = None
        """None: not checked yet (or the folder did not exist); then whether the folder is ours (see above)."""

    def path_for(self, key: str) -> Path:
        """Where the thumbnail of ``key`` (a :func:`cache_key`) lives, whether or not it exists."""
        return self.folder / (key + SUFFIX)

    def fresh(self, key: str) -> Path | None:
        """The thumbnail of ``key`` when it is a regular file of ours (not a symlink, one link) younger than
        ``max_age_s``, in a folder of ours, else None. One ``lstat`` (two the first time: the folder's)."""
        found = self.fresh_with_age(key)
        return found[0] if found is not None else None

    def fresh_with_age(self, key: str) -> tuple[Path, float] | None:
        """:meth:`fresh` and the thumbnail's age in seconds (wall clock)."""
        path = self.path_for(key)
        try:
            st = path.lstat()
        except OSError:
            return None
        if not _own_file(st) or not self._folder_ok(create=False):
            return None
        age = self._wall() - st.st_mtime
        return (path, age) if age < self._max_age_s else None

    def write(self, key: str, data: bytes) -> Path:
        """Store ``data`` as ``key``'s thumbnail (atomically), then :meth:`trim`; returns its path. Raises
        ``OSError`` (disk full, no permission; ``PermissionError`` for a folder that is not ours)."""
        if not self._folder_ok(create=True):
            raise PermissionError(f"photo cache folder {self.folder} is not this user's own folder: not used")
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
        self.trim(keep=target)
        return target

    def trim(self, keep: Path | None = None) -> int:
        """Remove stale thumbnails, leftover temp files, then the oldest files until the folder is within
        ``max_bytes``; never ``keep`` (the thumbnail just written for a notice: with ``cache_max_age_days = 0``
        it is already "stale" and was deleted before the notifier could read it). Returns how many files were
        removed. Never raises for files vanishing meanwhile."""
        now = self._wall()
        files: list[tuple[float, int, Path]] = []
        removed = 0
        if not self._folder_ok(create=False):
            return 0
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
            if keep is not None and path == keep:  # counts toward the size bound, is never removed
                files.append((st.st_mtime, st.st_size, path))
                continue
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
            if path == keep:
                continue
            removed += _unlink(path)
            total -= size
        return removed

    def _folder_ok(self, create: bool) -> bool:
        """Whether the folder may be used (module docstring); ``create``: make it (0700) when missing. The answer
        is kept once known; a missing folder is asked again next time. Never raises."""
        if self._trusted is not None:
            return self._trusted
        try:
            if create:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.folder.lstat()
        except OSError:
            return False
        ok = stat.S_ISDIR(st.st_mode)
        if ok and hasattr(os, "geteuid"):
            ok = st.st_uid == os.geteuid()
            if ok and st.st_mode & 0o077:
                try:
                    os.chmod(self.folder, 0o700)
                    log.info("photo cache folder %s was open to other users: now 0700", self.folder)
                except OSError as exc:
                    log.warning(
                        "photo cache folder %s is open to other users and cannot be closed: %s", self.folder, exc
                    )
                    ok = False
        if not ok:
            log.warning("photo cache folder %s is not this user's own folder: the photo cache is not used", self.folder)
        self._trusted = ok
        return ok


def _own_file(st: os.stat_result) -> bool:
    """A regular file (not a symlink) with one link, owned by this user where the OS has owners (POSIX)."""
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return False
    return not hasattr(os, "geteuid") or st.st_uid == os.geteuid()


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
    except OSError as exc:  # Windows: a toast may still hold the file open
        log.debug("photo cache: could not remove %s: %s", path.name, exc)
        return 0
