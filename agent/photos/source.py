"""The photo source the desk uses (:class:`Photos`, a :class:`agent.photos.api.PhotoSource`): local files as they
are, ``http(s)://`` URLs and ``bytea`` bytes turned into cached thumbnails by a small thread pool.

Threads: :meth:`Photos.cached` and :meth:`Photos.needs_fetch` run on the caller's thread (a ``stat``, at most a
header read of a local file, no network); :meth:`Photos.fetch` queues work on the pool and returns at once; the
pool threads do the network, Pillow and disk work and call ``done`` behind one exception barrier
(:meth:`Photos._run`). Shared state (in-flight table, negative cache, log limiter) is under one lock.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from PIL import Image

from agent.core.config import PhotoSettings
from agent.core.model import Member
from agent.photos.disk_cache import DiskCache, cache_key, default_folder
from agent.photos.http_get import DeadlineSocket, Fetcher, FetchError, redacted
from agent.photos.ratelimit import LogLimiter, NegativeCache
from agent.photos.thumbnail import FORMATS, NotAnImage, make_thumbnail

log = logging.getLogger(__name__)

HARD_CAP_S = 10.0
"""Longest a fetch may take in all (connect + TLS + redirects + body). The desk stops waiting after
``photos.budget_ms``; the fetch goes on to this cap and caches the photo for the next entry."""
WORKERS = 3
DONE = Callable[[Path | None], None]


class Photos:
    """Member photos as local thumbnail files.

    ``settings``: the ``[photos]`` section (size cap, cache age and size). ``folder``: the cache folder (default
    :func:`agent.photos.disk_cache.default_folder`). ``timeout_s``: the hard cap of one fetch. ``ssl_context``: TLS
    verification for ``https`` (default: the OS trust store). ``auth_header`` + ``auth_host``: an
    ``Authorization`` value sent only to photo URLs on ``auth_host`` (and dropped on a redirect off that origin).
    ``clock``/``wall``: monotonic and wall clocks, injectable for tests.
    """

    def __init__(
        self,
        settings: PhotoSettings,
        *,
        folder: Path | None = None,
        workers: int = WORKERS,
        timeout_s: float = HARD_CAP_S,
        ssl_context: ssl.SSLContext | None = None,
        auth_header: str | None = None,
        auth_host: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._auth_header = auth_header
        self._auth_host = (auth_host or "").lower() or None
        self._clock = clock
        self.cache = DiskCache(
            folder or default_folder(),
            max_age_s=settings.cache_max_age_days * 86400.0,
            max_bytes=settings.cache_max_mb * 1_000_000,
            wall=wall,
        )
        self._lock = threading.Lock()
        self._sockets: set[DeadlineSocket] = set()
        self._fetcher = Fetcher(
            ssl_context=ssl_context, clock=clock, on_socket=self._opened, on_socket_done=self._finished
        )
        self._inflight: dict[str, list[DONE]] = {}
        self._negative = NegativeCache()
        self._log_limit = LogLimiter()
        self._local_ok: dict[tuple[str, int, int], bool] = {}
        self._closed = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photos")
        self._pool.submit(self._trim)

    # -- the port ----------------------------------------------------------------------------------------------
    def cached(self, member: Member) -> Path | None:
        """A fresh thumbnail (or the member's local image file, as is), else None. No network; any thread."""
        kind, value = classify(member)
        if kind == "local":
            return self._local_image(Path(value))
        if kind in ("http", "data"):
            return self.cache.fresh(_key(member, kind, value))
        return None

    def needs_fetch(self, member: Member) -> bool:
        """True for an ``http(s)`` URL or ``bytea`` photo not cached yet and not failed in the last minutes."""
        kind, value = classify(member)
        if kind not in ("http", "data"):
            return False
        key = _key(member, kind, value)
        if self.cache.fresh(key) is not None:
            return False
        with self._lock:
            return not self._negative.blocked(key, self._clock())

    def fetch(self, member: Member, done: DONE) -> None:
        """Queue ``member``'s photo; ``done(path_or_None)`` runs once on a pool thread. Concurrent fetches of the
        same photo share one download. After :meth:`close` nothing is queued and ``done`` is not called."""
        kind, value = classify(member)
        key = _key(member, kind, value) if kind in ("http", "data") else ""
        with self._lock:
            if self._closed:
                return
            if key:
                waiting = self._inflight.get(key)
                if waiting is not None:
                    waiting.append(done)
                    return
                self._inflight[key] = [done]
        try:
            if key:
                self._pool.submit(self._run, member, kind, value, key)
            else:
                self._pool.submit(self._run_local, member, done)
        except RuntimeError:  # the pool was shut down between the check and the submit
            with self._lock:
                self._inflight.pop(key, None)

    def close(self) -> None:
        """Stop the pool: queued fetches are dropped, running ones are woken (their sockets shut down) and end
        with ``done(None)`` at once. Returns without waiting for them. Any thread; idempotent."""
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for sock in sockets:
            sock.abort()

    # -- pool side ---------------------------------------------------------------------------------------------
    def _run(self, member: Member, kind: str, value: str, key: str) -> None:
        """Fetch or decode, thumbnail, cache; then call every waiting ``done``. The pool threads' one exception
        barrier: nothing raises out of here."""
        path: Path | None = None
        try:
            path = self.cache.fresh(key)
            with self._lock:
                blocked = self._negative.blocked(key, self._clock())
            if path is None and not blocked:
                path = self._produce(member, kind, value, key)
        except Exception:  # the barrier: a bug here must not kill the pool thread or skip ``done``
            log.exception("photo of member %s: unexpected error", member.member_id)
            path = None
        finally:
            with self._lock:
                callbacks = self._inflight.pop(key, [])
            self._call(callbacks, path)

    def _run_local(self, member: Member, done: DONE) -> None:
        """``done`` with the local file (or None) for a member without anything to fetch. Exception barrier."""
        path: Path | None = None
        try:
            path = self.cached(member)
        except Exception:
            log.exception("photo of member %s: unexpected error", member.member_id)
        self._call([done], path)

    def _produce(self, member: Member, kind: str, value: str, key: str) -> Path | None:
        host = "bytea" if kind == "data" else (urlsplit(value).hostname or "?")
        try:
            if kind == "data":
                data = member.photo_data or b""
                if len(data) > self._settings.max_bytes:
                    raise FetchError("too large", f"{len(data)} bytes in the photo column")
            else:
                data = self._fetcher.get(
                    value, max_bytes=self._settings.max_bytes, timeout_s=self._timeout_s, auth_header=self._auth(value)
                )
            path = self.cache.write(key, make_thumbnail(data))
        except (FetchError, NotAnImage, OSError) as exc:
            self._failed(member, key, host, value if kind == "http" else "bytea", exc)
            return None
        with self._lock:
            self._negative.forget(key)
        return path

    def _failed(self, member: Member, key: str, host: str, where: str, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            self._negative.failed(key, now)
            loud = self._log_limit.allow(host, now)
        reason = str(exc) if isinstance(exc, (FetchError, NotAnImage)) else type(exc).__name__
        if loud:
            log.warning(
                "member photo from %s unavailable (%s); the notice goes without it. Further photo failures from"
                " this host are not logged for an hour.",
                host,
                reason,
            )
        log.debug("photo of member %s from %s failed: %s", member.member_id, redacted(where), reason)

    @staticmethod
    def _call(callbacks: list[DONE], path: Path | None) -> None:
        for done in callbacks:
            try:
                done(path)
            except Exception:  # a caller's bug must not stop the other callbacks or the pool
                log.exception("photo done-callback raised")

    def _trim(self) -> None:
        try:
            self.cache.trim()
        except Exception:
            log.exception("photo cache trim failed")

    def _auth(self, url: str) -> str | None:
        if self._auth_header and self._auth_host and (urlsplit(url).hostname or "").lower() == self._auth_host:
            return self._auth_header
        return None

    def _opened(self, sock: DeadlineSocket) -> None:
        with self._lock:
            self._sockets.add(sock)
            closed = self._closed
        if closed:
            sock.abort()

    def _finished(self, sock: DeadlineSocket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _local_image(self, path: Path) -> Path | None:
        """``path`` when it is a file Pillow identifies as one of the accepted formats (header only, memoised by
        size and mtime)."""
        try:
            st = path.stat()
        except OSError:
            return None
        memo = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            known = self._local_ok.get(memo)
        if known is None:
            try:
                with Image.open(path, formats=FORMATS):
                    known = True
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                known = False
            with self._lock:
                if len(self._local_ok) > 1024:
                    self._local_ok.clear()
                self._local_ok[memo] = known
        return path if known else None


def classify(member: Member) -> tuple[str, str]:
    """``(kind, value)`` of ``member``'s photo: ``("data", "")`` for ``bytea`` bytes (they win over the URL, as
    ``photos.column`` is read *instead of* ``foto_url``), ``("http", url)``, ``("local", path)`` for a path or a
    ``file://`` URL, else ``("none", "")``. Pure."""
    if member.photo_data:
        return "data", ""
    url = (member.photo_url or "").strip()
    if not url:
        return "none", ""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return "http", url
    if scheme == "file":
        parts = urlsplit(url)
        host = parts.netloc if parts.netloc.lower() not in ("", "localhost") else ""
        return "local", url2pathname(f"//{host}{parts.path}" if host else parts.path)  # file://server/share: UNC
    if scheme == "" or len(scheme) == 1:  # no scheme, or a Windows drive letter (C:\fotos\1.jpg)
        return "local", url
    return "none", ""


def _key(member: Member, kind: str, value: str) -> str:
    if kind == "data":
        value = "bytea:" + hashlib.sha256(member.photo_data or b"").hexdigest()
    return cache_key(member.member_id, value)
