"""The photo source the desk uses (:class:`Photos`, a :class:`agent.photos.api.PhotoSource`): local files as they
are; ``http(s)://`` URLs, files on a share (``\\\\servidor\\fotos\\1.jpg``: :mod:`agent.photos.share_read`) and
``bytea`` bytes turned into cached thumbnails by a small thread pool.

Threads: :meth:`Photos.cached` and :meth:`Photos.needs_fetch` run on the caller's thread (a ``stat``, at most a
header read of a local file, never a share or the network); :meth:`Photos.fetch` queues work on the pool and
returns at once; the pool threads do the network, share, Pillow and disk work and call ``done`` behind one
exception barrier (:meth:`Photos._run`). Shared state (in-flight table, negative cache, log limiter) is under one lock.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from agent.core.config import PhotoSettings
from agent.core.model import Member
from agent.photos.disk_cache import DiskCache, cache_key, default_folder
from agent.photos.http_get import DeadlineSocket, Fetcher, FetchError, browser_slashes, parse_target, redacted
from agent.photos.local_files import LocalPictures
from agent.photos.pool import DaemonPool
from agent.photos.ratelimit import LogLimiter, NegativeCache
from agent.photos.share_read import is_share, read_share, share_host
from agent.photos.thumbnail import NotAnImage, make_thumbnail

log = logging.getLogger(__name__)

HARD_CAP_S = 10.0
"""Longest a fetch may take in all (connect + TLS + redirects + body). The desk stops waiting after
``photos.budget_ms``; the fetch goes on to this cap and caches the photo for the next entry."""
WORKERS = 3
FETCHED = ("http", "data", "share", "rotated")
"""Kinds whose photo is made into a cached thumbnail on the pool (never touched on the caller's thread)."""
HOST_DOWN_S = 60.0
"""After a fetch from a server failed for the network's sake (``timeout``, ``network``, ``tls``), photos from that
server (scheme, host, port) are not fetched for this long: without it, a photo server that went down at opening
time filled the queue with one 10 s fetch per member and the members entering after it came back waited behind
them (with 3 threads, about 3 s per queued member)."""
NETWORK_REASONS = frozenset({"timeout", "network", "tls"})
REFRESH_S = 3600.0
"""A fetched thumbnail older than this is still shown, and fetched again in the background when its member
enters (once per member per hour at most): gym programs keep a retaken photo at the same URL or file name
(``fotos/<id>.jpg``), and without this the old face stayed until ``photos.cache_max_age_days`` (7 days)."""
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
        self._down = NegativeCache(HOST_DOWN_S)
        self._log_limit = LogLimiter()
        self._local = LocalPictures()
        self._closed = False
        self._pool = DaemonPool(workers, "photos")
        self._pool.submit(_trim, self.cache)

    # -- the port ----------------------------------------------------------------------------------------------
    def cached(self, member: Member) -> Path | None:
        """A fresh thumbnail (or the member's local image file, as is, unless its EXIF says to turn it), else None.
        No network; any thread."""
        kind, value = self._kind(member)
        if kind == "local":
            return self._local_image(Path(value))
        if kind not in FETCHED:
            return None
        key = self._key(member, kind, value)
        found = self.cache.fresh_with_age(key)
        if found is None:
            return None
        if found[1] > REFRESH_S and kind != "data":  # bytea keys hash the bytes: a new picture is a new key
            self._refresh(member, kind, value, key)
        return found[0]

    def needs_fetch(self, member: Member) -> bool:
        """True for an ``http(s)`` URL, share path or ``bytea`` photo not cached yet, not failed in the last minutes,
        and not on a server that did not answer in the last :data:`HOST_DOWN_S` seconds (then the desk need not
        wait). A URL that could never be fetched (``http://[roto``) is False at once, its failure logged like any
        other (once per host per hour). No network; any thread."""
        kind, value = self._kind(member)
        if kind not in FETCHED:
            return False
        key = self._key(member, kind, value)
        if self.cache.fresh(key) is not None or self._blocked(kind, value, key):
            return False
        if kind == "http":
            try:
                parse_target(value)  # pure: scheme, host, port, encoding
            except FetchError as exc:
                self._failed(member, key, _host(value), value, exc)
                return False
        return True

    def fetch(self, member: Member, done: DONE) -> None:
        """Queue ``member``'s photo; ``done(path_or_None)`` runs once on a pool thread. Concurrent fetches of the
        same photo share one download. After :meth:`close` nothing is queued and ``done`` is not called."""
        kind, value = self._kind(member)
        key = self._key(member, kind, value) if kind in FETCHED else ""
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

    def _refresh(self, member: Member, kind: str, value: str, key: str) -> None:
        """Fetch ``member``'s photo again in the background (see :data:`REFRESH_S`); nothing when a fetch of it is
        running, it failed recently or its server is away. Returns at once."""
        if self._blocked(kind, value, key):
            return
        with self._lock:
            if self._closed or key in self._inflight:
                return
            self._inflight[key] = []
        try:
            self._pool.submit(self._run, member, kind, value, key, True)
        except RuntimeError:
            with self._lock:
                self._inflight.pop(key, None)

    def close(self) -> None:
        """Stop the pool: queued fetches are dropped, running ones are woken (their sockets shut down) and end
        with ``done(None)`` at once. Returns without waiting for them. Any thread; idempotent."""
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        self._pool.shutdown()
        for sock in sockets:
            sock.abort()

    # -- pool side ---------------------------------------------------------------------------------------------
    def _run(self, member: Member, kind: str, value: str, key: str, refresh: bool = False) -> None:
        """Fetch or decode, thumbnail, cache; then call every waiting ``done``. ``refresh``: fetch even when a fresh
        thumbnail exists (it stays if the fetch fails). The pool threads' one exception barrier: nothing raises out
        of here."""
        path: Path | None = None
        try:
            path = None if refresh else self.cache.fresh(key)
            if path is None and not self._blocked(kind, value, key):
                path = self._produce(member, kind, value, key)
        except Exception:  # the barrier: a bug here must not kill the pool thread or skip ``done``
            log.exception("photo of member %s: unexpected error", member.member_id)
            path = None
        finally:
            with self._lock:
                callbacks = self._inflight.pop(key, [])
            _call(callbacks, path)

    def _run_local(self, member: Member, done: DONE) -> None:
        """``done`` with the local file (or None) for a member without anything to fetch. Exception barrier."""
        path: Path | None = None
        try:
            path = self.cached(member)
        except Exception:
            log.exception("photo of member %s: unexpected error", member.member_id)
        _call([done], path)

    def _produce(self, member: Member, kind: str, value: str, key: str) -> Path | None:
        host = {"data": "bytea", "rotated": "local file"}.get(kind) or _host(value)
        try:
            if kind == "data":
                data = member.photo_data or b""
                if len(data) > self._settings.max_bytes:
                    raise FetchError("too large", f"{len(data)} bytes in the photo column")
            elif kind in ("share", "rotated"):
                data = read_share(value, self._settings.max_bytes)
            else:
                data = self._fetcher.get(
                    value, max_bytes=self._settings.max_bytes, timeout_s=self._timeout_s, auth_header=self._auth(value)
                )
            path = self.cache.write(key, make_thumbnail(data))
        except (FetchError, NotAnImage, OSError) as exc:
            self._failed(member, key, host, "bytea" if kind == "data" else value, exc)
            return None
        with self._lock:
            self._negative.forget(key)
        return path

    def _key(self, member: Member, kind: str, value: str) -> str:
        return _key(member, kind, value, self._settings.max_bytes)

    def _blocked(self, kind: str, value: str, key: str) -> bool:
        """Whether this photo failed recently, or its server did not answer recently (see :data:`HOST_DOWN_S`)."""
        now = self._clock()
        with self._lock:
            return self._negative.blocked(key, now) or (
                kind in ("http", "share") and self._down.blocked(_origin(value), now)
            )

    def _failed(self, member: Member, key: str, host: str, where: str, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            if self._closed:  # woken by close(): not the server's fault, nothing to remember or log at exit
                return
            self._negative.failed(key, now)
            if isinstance(exc, FetchError) and exc.reason in NETWORK_REASONS and where != "bytea":
                self._down.failed(_origin(where), now)
            loud = self._log_limit.allow(host, now)
        # FetchError/NotAnImage texts are short tags; an OSError here is the cache folder's (full, not writable,
        # not ours): its text names that folder, which is what the person reading the log must fix.
        reason = str(exc) if isinstance(exc, (FetchError, NotAnImage)) else f"photo cache: {exc}"
        if loud:
            log.warning(
                "member photo from %s unavailable (%s); the notice goes without it. Further photo failures from"
                " this host are not logged for an hour.",
                host,
                reason,
            )
        log.debug("photo of member %s from %s failed: %s", member.member_id, redacted(where), reason)

    def _auth(self, url: str) -> str | None:
        if self._auth_header and self._auth_host and _host(url) == self._auth_host:
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

    def _kind(self, member: Member) -> tuple[str, str]:
        """:func:`classify`, with a local picture whose EXIF orientation turns it (a phone photo copied into a
        folder) as ``"rotated"``: it is thumbnailed upright like a web photo, because notification servers show
        the file's pixels as stored (gdk-pixbuf, which dunst uses, ignores the tag unless asked: swaylock#361;
        seen here in a screenshot of dunst 1.9 showing an orientation-6 JPEG sideways)."""
        kind, value = classify(member)
        if kind == "local" and self._local.verdict(Path(value)) == "rotate":
            return "rotated", value
        return kind, value

    def _local_image(self, path: Path) -> Path | None:
        """``path`` when it is a regular file Pillow identifies as one of the accepted formats, upright as stored."""
        return path if self._local.verdict(path) == "ok" else None


def _call(callbacks: list[DONE], path: Path | None) -> None:
    """Each ``done(path)``; one that raises is logged and the others still run (pool thread)."""
    for done in callbacks:
        try:
            done(path)
        except Exception:  # a caller's bug must not stop the other callbacks or the pool
            log.exception("photo done-callback raised")


def _trim(cache: DiskCache) -> None:
    """:meth:`DiskCache.trim` behind a barrier (pool thread, at start)."""
    try:
        cache.trim()
    except Exception:
        log.exception("photo cache trim failed")


def classify(member: Member) -> tuple[str, str]:
    """``(kind, value)`` of ``member``'s photo: ``("data", "")`` for ``bytea`` bytes (they win over the URL, as
    ``photos.column`` is read *instead of* ``foto_url``), ``("http", url)``, ``("share", path)`` for a UNC path or
    a ``file://server/...`` URL, ``("local", path)`` for another path or ``file://`` URL, else ``("none", "")``.
    Pure; never raises, whatever the column holds (an unparsable ``http(s)`` URL is still ``"http"``: its fetch
    fails as ``url``, logged once per hour like any failure)."""
    if member.photo_data:
        return "data", ""
    url = (member.photo_url or "").strip()
    if not url:
        return "none", ""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[broken" (Invalid IPv6 URL)
        return ("http", url) if url.lower().startswith(("http://", "https://")) else ("none", "")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return "http", url
    if scheme == "file":
        host = parts.netloc if parts.netloc.lower() not in ("", "localhost") else ""
        path = url2pathname(f"//{host}{parts.path}" if host else parts.path)  # file://server/share: UNC
    elif scheme == "" or len(scheme) == 1:  # no scheme, or a Windows drive letter (C:\fotos\1.jpg)
        path = url
    else:
        return "none", ""
    return ("share" if is_share(path) else "local"), path


def _host(url: str) -> str:
    """The lower-case host of ``url`` or share path (for logs and the auth check), ``?`` when there is none or it
    cannot be parsed. Never raises."""
    if is_share(url):
        return share_host(url)
    try:
        return (urlsplit(browser_slashes(url)).hostname or "?").lower()
    except ValueError:
        return "?"


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (``share://host`` of a share path): the key of a server that is down, or
    ``?``. Never raises."""
    if is_share(url):
        return "share://" + share_host(url)
    try:
        parts = urlsplit(browser_slashes(url))
        scheme = parts.scheme.lower()
        return f"{scheme}://{(parts.hostname or '?').lower()}:{parts.port or (443 if scheme == 'https' else 80)}"
    except ValueError:
        return "?"


def _key(member: Member, kind: str, value: str, max_bytes: int) -> str:
    """The cache key of ``member``'s photo. ``bytea`` bytes are named by their SHA-256, except bytes over
    ``max_bytes`` (refused anyway): hashing them ran on the desk's thread at every entry (a 20 MB column value
    cost 45 ms per entry here), so they are named by their length only."""
    if kind == "data":
        data = member.photo_data or b""
        digest = f"too-large-{len(data)}" if len(data) > max_bytes else hashlib.sha256(data).hexdigest()
        value = "bytea:" + digest
    return cache_key(member.member_id, value)
