"""The "Entradas de hoy" page's state: today's rows, the live (Server-Sent Events) clients, and the page's life.

A :class:`TodayPage` holds a fresh unguessable token (``secrets.token_urlsafe(24)``: 192 random bits) for every URL.
:func:`agent.web.server.start_page` creates one, binds its server on 127.0.0.1 and serves it on its own daemon
thread (``aviso-web``; each request gets a daemon thread of its own, as ``ThreadingHTTPServer`` does). This module
does not import the server (the server depends on it, not the other way round).

Threads: :meth:`TodayPage.publish` may be called from any thread (the desk's controller thread calls it for every
member entry it handled); it only builds one small row and puts it on each live client's bounded queue, never
blocking. :meth:`TodayPage.close` from any thread, once. Everything else runs on the server's request threads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.core.config import Settings
from agent.core.model import Entry, Member
from agent.core.notify_text import Notice
from agent.db.today import DEFAULT_LIMIT, local_day_start
from agent.photos.api import NoPhotos, PhotoSource
from agent.web.rows import RowRules, build_row
from agent.web.settings_form import SettingsForm

log = logging.getLogger(__name__)

ReadToday = Callable[[dt.datetime], list[Entry]]
"""``read_today(since) -> entries`` newest first (:func:`table_reader`); raises on database trouble."""
Click = Callable[[int | str], bool]
"""``click(member_id) -> True`` when a click action ran (False: none configured). Called on a request thread."""

MAX_CLIENTS = 8
"""Live clients served at once (a desk has one or two tabs open); more get ``503`` and their browser retries."""
CLIENT_QUEUE = 512
"""Rows waiting for one live client; a client that falls this far behind is dropped (its browser reconnects and
re-reads the day)."""
HEARTBEAT_S = 15.0
"""A comment line to every live client after this long without a row, so dead connections are noticed."""
PHOTO_FETCHES_PER_LOAD = 50
"""At most this many rows without a cached photo start a fetch per reading of the day (the newest first), so a page
load never queues a thousand downloads on the gym's photo server."""
MAX_MEMBERS = 20_000
"""Members remembered for photo and click look-ups."""
MEMORY_ROWS = DEFAULT_LIMIT
"""Rows received since start kept in memory (shown when the database cannot be read)."""


def table_reader(connect_kwargs: Mapping[str, Any]) -> ReadToday:
    """A :data:`ReadToday` that opens one short connection per call (page loads are rare). ``connect_kwargs``: the
    agent's hardened ``psycopg2.connect`` keywords (:meth:`agent.deploy.connection.ConnectionParams.connect_kwargs`,
    password included and hidden from ``repr``). Raises ``ConnectError``/``psycopg2.Error``."""

    def read(since: dt.datetime) -> list[Entry]:
        from agent.db.connect import open_connection
        from agent.db.today import read_today

        conn = open_connection(connect_kwargs)
        try:
            conn.autocommit = True
            return read_today(conn, since)
        finally:
            conn.close()

    return read


class _Client:
    """One live connection: its queue of SSE frames (``None`` ends it)."""

    def __init__(self) -> None:
        self.frames: queue.Queue[str | None] = queue.Queue(maxsize=CLIENT_QUEUE)


@dataclass
class PageOptions:
    """What the page shows and does. Every callable is optional: without ``read_today`` the page lists the rows
    published since start; without ``settings_form`` there is no settings section; without ``click`` a row click
    says no action is configured."""

    lang: str = "es"
    settings: Settings | None = None
    read_today: ReadToday | None = None
    photos: PhotoSource | None = None
    click: Click | None = None
    settings_form: SettingsForm | None = None
    standalone: bool = False
    """The ``settings`` command's page: its "Close" button ends the command."""
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()


class TodayPage:
    """The running page. ``url`` is the address to open (with the token); see the module docstring for threads."""

    def __init__(self, options: PageOptions, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.options = options
        self.token = secrets.token_urlsafe(24)
        self.heartbeat_s = heartbeat_s
        self.photos: PhotoSource = options.photos or NoPhotos()
        self.closed = threading.Event()
        """Set by :meth:`close` and by the page's "Close" button in standalone mode."""
        self._lock = threading.Lock()
        self._clients: list[_Client] = []
        self._rows: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._members: dict[str, Member] = {}
        self._rules = self._rules_of(options.settings)
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        """Where the page is served (set by :func:`agent.web.server.start_page`)."""
        self.port = 0
        self.url = ""
        self._stop: Callable[[], None] = lambda: None

    def attach(self, address: tuple[str, int], stop: Callable[[], None]) -> None:
        """Called once by :func:`agent.web.server.start_page` when the server is bound: where, and how to stop it."""
        self.address, self.port, self._stop = address, address[1], stop
        self.url = f"http://127.0.0.1:{self.port}/{self.token}/"

    def _rules_of(self, settings: Settings | None) -> RowRules:
        notif = (settings or Settings()).notifications
        return RowRules(self.options.lang, notif.expiry_warning_days, notif.repeat_entry_warning_min)

    # -- called by the desk ----------------------------------------------------------------------------------
    def publish(self, entry: Entry, notice: Notice | None = None) -> None:
        """Show ``entry`` (a member entry the desk handled) on every open page, live. Any thread; never blocks.
        ``notice`` is the desk's notice for it (unused beyond logging: the row is built from the entry so that rows
        read from the table and rows published live look the same)."""
        try:
            row = self._row(entry)
        except Exception:  # one odd row must not break the caller's loop
            log.exception("page row for entry %s failed", entry.entry_id)
            return
        with self._lock:
            self._rows[entry.entry_id] = row
            self._rows.move_to_end(entry.entry_id)
            while len(self._rows) > MEMORY_ROWS:
                self._rows.popitem(last=False)
        self._broadcast("entry", row)

    def _broadcast(self, event: str, data: object) -> None:
        """One SSE frame to every live client, without blocking; a client whose queue is full is dropped."""
        frame = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.frames.put_nowait(frame)
            except queue.Full:
                self._drop(client)

    def update_settings(self, settings: Settings, read_today: ReadToday | None = None) -> None:
        """New settings (after a reload): new row rules, and a new table reader when given. Any thread."""
        with self._lock:
            self.options.settings = settings
            if read_today is not None:
                self.options.read_today = read_today
            self._rules = self._rules_of(settings)

    def close(self) -> None:
        """Stop serving and end every live connection. Any thread; idempotent."""
        self.closed.set()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            self._end(client)
        stop, self._stop = self._stop, lambda: None
        stop()

    # -- used by the request handler -------------------------------------------------------------------------
    def _row(self, entry: Entry, fetch: bool = True) -> dict[str, Any]:
        """The row of ``entry``; with ``fetch``, a photo not cached yet is fetched in the background (the photo
        source's own bounded pool) and announced to the live clients (``event: photo``) when it arrives."""
        member = entry.member
        has_photo = False
        if member is not None:
            with self._lock:
                if len(self._members) >= MAX_MEMBERS:
                    self._members.clear()  # a bound: only today's members are needed, they come back with the rows
                self._members[str(member.member_id)] = member
            try:
                has_photo = self.photos.cached(member) is not None
                if not has_photo and fetch and self.photos.needs_fetch(member):
                    key = str(member.member_id)
                    self.photos.fetch(member, lambda path: self._photo_ready(key, path))
            except Exception:
                log.debug("photo lookup failed for member %s", member.member_id, exc_info=True)
        return build_row(entry, self._rules, has_photo=has_photo)

    def _photo_ready(self, key: str, path: object) -> None:
        """A photo fetch ended (on the photo source's thread): tell the live clients when there is a photo."""
        if path is not None:
            self._broadcast("photo", key)

    def day_start(self) -> dt.datetime:
        """Start of the page's "today" (local midnight of the page's clock)."""
        return local_day_start(self.options.clock())

    def today_rows(self) -> tuple[list[dict[str, Any]], bool]:
        """Today's rows newest first, and whether the table could be read (else only rows received since start)."""
        since = self.day_start()
        ok = True
        by_id: dict[int, dict[str, Any]] = {}
        reader = self.options.read_today
        if reader is not None:
            try:
                fetches = 0
                for entry in reader(since):  # newest first: the first members get their photos fetched
                    wanted = fetches < PHOTO_FETCHES_PER_LOAD
                    by_id[entry.entry_id] = row = self._row(entry, fetch=wanted)
                    fetches += 0 if row["photo"] else 1
            except Exception as exc:
                log.warning("today's entries could not be read: %s", _safe_error(exc))
                ok = False
        with self._lock:
            remembered = list(self._rows.values())
        for row in remembered:
            if row["id"] not in by_id and dt.datetime.fromisoformat(row["at"]) >= since:
                by_id[row["id"]] = row
        rows = sorted(by_id.values(), key=lambda r: (r["at"], r["id"]), reverse=True)
        return rows, ok

    def member(self, key: str) -> Member | None:
        """A member listed on the page (read from the table or published), by id as text."""
        with self._lock:
            return self._members.get(key)

    def add_client(self) -> _Client | None:
        """A new live client, or None when :data:`MAX_CLIENTS` are connected."""
        with self._lock:
            if len(self._clients) >= MAX_CLIENTS or self.closed.is_set():
                return None
            client = _Client()
            self._clients.append(client)
            return client

    def remove_client(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def _drop(self, client: _Client) -> None:
        log.info("a live page client fell %d rows behind: dropped (it reconnects)", CLIENT_QUEUE)
        self.remove_client(client)
        self._end(client)

    @staticmethod
    def _end(client: _Client) -> None:
        try:
            client.frames.put_nowait(None)
        except queue.Full:  # make room for the end marker
            with contextlib.suppress(queue.Empty):
                client.frames.get_nowait()
            client.frames.put_nowait(None)


def _safe_error(exc: BaseException) -> str:
    from agent.db.connect import redact

    return f"{type(exc).__name__}: {redact(str(exc).strip())}"
