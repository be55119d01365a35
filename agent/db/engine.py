"""The listener engine: one worker thread, one LISTEN connection, zero loss, no duplicates.

On every (re)connect: **LISTEN first, then catch up from the table, then go live** — a NOTIFY that arrives while
catching up waits in the connection and is deduplicated against what catch-up delivered. NOTIFY is only a hint:
every entry is (re)read from ``registro_entradas`` by id, in **one batched query per wakeup**, so a forged or
truncated payload never reaches the front desk and a NOTIFY naming a non-existent id is dropped.

Liveness: the connection has TCP keepalives and ``tcp_user_timeout`` (libpq, PostgreSQL docs "Parameter Key
Words"), and after ``heartbeat_s`` seconds without a successful query the engine runs the catch-up query itself
(*sweep*), which must answer within ``query_timeout_s``; so a silently dead link (no RST: NAT timeout, cable,
sleep) is noticed within ``heartbeat_s + query_timeout_s`` seconds (default 15 + 10 = 25 s), and an entry whose
NOTIFY was skipped by the trigger (queue nearly full) is still delivered by the next sweep.

Threads: :meth:`ListenerEngine.start`, :meth:`stop` and :meth:`reconnect_now` may be called from any thread. The
worker only posts immutable events (:mod:`agent.core.events`) to the queue given at construction; it never calls
UI code. :meth:`stop` returns within ``timeout_s`` even while connecting to an unreachable host: the connection is
made with libpq's non-blocking API and every wait also watches a wake-up socket. (A DNS lookup of ``host`` is
blocking inside libpq; use an IP address or ``hostaddr`` where DNS may hang.)

Persistence: the ledger (cursor + recently delivered ids) is written to ``cursor_path`` at most once per
``persist_interval_s``, once no NOTIFY has arrived for :data:`PERSIST_QUIET_S` (or after
:data:`PERSIST_MAX_DEFER_S` of uninterrupted traffic), and at stop, so an agent restart also catches up.
Entries older than ``replay_max_age_s`` found at catch-up become one :class:`agent.core.events.BacklogSummary`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from agent.core import advice, names
from agent.core.advice import Problem
from agent.core.backoff import Backoff
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.core.ledger import Ledger
from agent.core.model import Entry, Source
from agent.core.payload import PayloadError, parse
from agent.core.state import ConnectionMachine
from agent.db import queries
from agent.db.connect import connection_kwargs

log = logging.getLogger("agent.engine")

# A SQL_ASCII database holds bytes in whatever encoding the turnstile software wrote (PostgreSQL docs, "Character
# Set Support": no conversion, no validation); psycopg2 decodes it as strict ASCII, so one 'ñ' would fail the whole
# batch. Latin-1 maps every byte to a character: never fails, right for the usual Windows/Latin-1 turnstiles.
psycopg2.extensions.encodings["SQL_ASCII"] = "latin-1"

PERSIST_QUIET_S = 0.2
"""Seconds without a NOTIFY before the ledger is saved: writing it costs time proportional to the entries in the
lookback window (25-40 ms for the 6,000 that 60 s at 100 entries/s leave), which must not hold up an arriving entry
(README "Benchmarks": at 100 entries/s with a full window, p99 latency went from 78 ms to 12.5 ms on a busy 2-core
machine where the raw psycopg2 loop's p99 was 7.7 ms)."""
PERSIST_MAX_DEFER_S = 30.0
"""Under uninterrupted traffic the ledger is still saved this often (a crash loses at most this much of it: those
entries are replayed once, as catch-up, after a restart)."""


@dataclass(frozen=True)
class EngineConfig:
    """How to reach the server and the engine's bounds (seconds unless the name says otherwise).

    ``dsn`` is a libpq conninfo string or URL *without* the password; ``password`` is passed to libpq separately
    and never appears in ``repr``, logs or events.
    """

    dsn: str
    password: str | None = field(default=None, repr=False)
    channel: str = names.DEFAULT_CHANNEL
    cursor_path: Path | None = None
    application_name: str = "aviso-entradas"
    connect_timeout_s: float = 5.0
    heartbeat_s: float = 15.0
    query_timeout_s: float = 10.0
    keepalive_idle_s: int = 10
    keepalive_interval_s: int = 5
    keepalive_count: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    auth_retry_s: float = 60.0
    lookback_s: float = 60.0
    replay_max_age_s: float = 600.0
    persist_interval_s: float = 1.0
    require_ack: bool = False
    """True: an entry counts as delivered in the saved ledger only once the consumer called
    :meth:`ListenerEngine.ack` for it, so entries still in the queue at exit (``listen --count``, Ctrl+C, quit) are
    replayed after a restart instead of lost. False: handing it to the queue is enough."""
    catch_up_page: int = 5000
    sslmode: str = ""
    """libpq ``sslmode`` ('' = the DSN's or libpq's default ``prefer``)."""
    sslrootcert: str = ""
    extra_connect_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    """More libpq keywords (e.g. ``target_session_attrs``)."""


class _Failure(Exception):
    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


class _Interrupted(Exception):
    """stop() or reconnect_now() while waiting."""


def _failure(exc: BaseException) -> _Failure:
    """A :class:`_Failure` from a driver exception; the text is libpq's/the server's (never has the password)."""
    if isinstance(exc, queries.SchemaError):
        return _Failure(Problem.SCHEMA, str(exc))
    detail = " ".join(str(exc).split())[:300]
    return _Failure(advice.classify(getattr(exc, "pgcode", None), detail), detail)


class ListenerEngine:
    """See the module docstring. ``events`` receives :data:`agent.core.events.Event` objects."""

    def __init__(
        self,
        config: EngineConfig,
        events: queue.Queue[Event],
        *,
        lang: str = "es",
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.lang = lang
        self._clock = clock
        self._stop = threading.Event()
        self._reconnect = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="aviso-listener", daemon=True)
        self._machine = ConnectionMachine(
            Backoff(base_s=config.backoff_base_s, cap_s=config.backoff_cap_s, rng=rng or random.Random()),  # noqa: S311 (jitter, not crypto)
            auth_retry_s=config.auth_retry_s,
        )
        self._ledger = Ledger(lookback_s=config.lookback_s)
        self._ledger_server: str | None = None
        self._dirty = False
        self._last_persist = 0.0
        self._select: queries.EntrySelect | None = None
        self._started_clock = clock()
        self._server_clock: tuple[dt.datetime, float] | None = None
        self._pending: dict[int, dt.datetime] = {}
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._tracking = config.require_ack and config.cursor_path is not None
        """Acknowledgements only matter for a saved ledger; without one nothing is kept (no growth)."""
        self.server = ""
        self.stats = {"queries": 0, "notifies": 0, "delivered": 0, "rejected_payloads": 0, "connects": 0}
        """Counters for tests and benchmarks (written by the worker only)."""

    # -- public API (any thread) -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread; returns at once."""
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Ask the worker to stop and wait up to ``timeout_s`` seconds; True if it has ended."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def reconnect_now(self) -> None:
        """Drop the connection (if any) and reconnect at once, resetting the backoff."""
        self._reconnect.set()
        self._wake()

    def ack(self, entry_id: int) -> None:
        """The consumer is done with ``entry_id`` (shown, printed, or folded into a summary). Any thread; only
        meaningful with ``require_ack`` and a ``cursor_path``."""
        if self._tracking:
            self._acks.put(entry_id)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- worker ----------------------------------------------------------------------------------------------
    def _post(self, event: Event) -> None:
        self.events.put(event)

    def _post_state(self, state: ConnState, problem: Problem | None = None, retry_in_s: float | None = None) -> None:
        reason = advice.explain(problem, self.lang) if problem is not None else ""
        self._post(StateChanged(state, reason, retry_in_s, self.server))

    def _run(self) -> None:
        self._started_clock = self._clock()
        try:
            while not self._stop.is_set():
                if self._machine.state in (ConnState.BACKING_OFF, ConnState.AUTH_FAILED):
                    self._sleep_until_retry()
                    continue
                self._post_state(ConnState.CONNECTING)
                conn = None
                try:
                    conn = self._connect()
                    self._listen_and_catch_up(conn)
                    self._machine.connected(self._clock())
                    self._post_state(ConnState.LISTENING)
                    log.info("Escuchando canal PostgreSQL: %s (%s)", self.config.channel, self.server)
                    self._live(conn)
                except _Interrupted:
                    pass
                except _Failure as f:
                    self._on_failure(f)
                except (psycopg2.Error, OSError, queries.SchemaError) as exc:
                    self._on_failure(_failure(exc))
                except ValueError as exc:  # a malformed DSN or setting: connection_kwargs says which, safely
                    self._on_failure(_Failure(Problem.OTHER, str(exc)))
                finally:
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                if self._reconnect.is_set() and not self._stop.is_set():
                    self._reconnect.clear()
                    self._drain_wake()
                    log.info("reconnect requested")
                    self._machine.reconnect_now(self._clock())
        except Exception:  # a bug: say so loudly, never die silently
            log.exception("listener worker crashed")
            self._post(StateChanged(ConnState.STOPPED, advice.explain(Problem.OTHER, self.lang), None, self.server))
            raise
        finally:
            self._persist(force=True)
            self._machine.stop()
            self._post_state(ConnState.STOPPED)

    def _on_failure(self, f: _Failure) -> None:
        if self._stop.is_set():
            return
        delay = self._machine.failed(self._clock(), f.problem, f.detail)
        log.warning("connection problem (%s): %s; retry in %.1f s", f.problem.value, f.detail, delay)
        self._post_state(self._machine.state, f.problem, delay)

    def _sleep_until_retry(self) -> None:
        while not self._stop.is_set():
            if self._reconnect.is_set():
                self._reconnect.clear()
                self._drain_wake()
                self._machine.reconnect_now(self._clock())
                return
            now = self._clock()
            if self._machine.due(now):
                self._machine.retry(now)
                return
            assert self._machine.retry_at is not None
            self._wait_fds([], [], self._machine.retry_at - now)

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _wait_fds(self, rlist: list[Any], wlist: list[Any], timeout_s: float) -> bool:
        """select() on the fds plus the wake socket; True if an fd of ours is ready."""
        r, w, _ = select.select([*rlist, self._wake_r], wlist, [], max(0.0, timeout_s))
        if self._wake_r in r:
            self._drain_wake()
        return bool([x for x in r if x is not self._wake_r] or w)

    def _check_interrupt(self) -> None:
        if self._stop.is_set() or self._reconnect.is_set():
            raise _Interrupted

    def _poll_until_ready(self, conn: psycopg2.extensions.connection, timeout_s: float, problem: Problem) -> None:
        """Drive an async connection/query to completion, or raise :class:`_Failure` after ``timeout_s``."""
        deadline = self._clock() + timeout_s
        while True:
            self._check_interrupt()
            state = conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise _Failure(problem, f"no answer from the server within {timeout_s:g} s")
            if state == psycopg2.extensions.POLL_READ:
                self._wait_fds([conn], [], remaining)
            elif state == psycopg2.extensions.POLL_WRITE:
                self._wait_fds([], [conn], remaining)
            else:  # pragma: no cover - psycopg2 raises instead
                raise _Failure(Problem.OTHER, f"unexpected poll state {state}")

    def _connect(self) -> psycopg2.extensions.connection:
        c = self.config
        kwargs = connection_kwargs(
            c.dsn,
            password=c.password,
            sslmode=c.sslmode or None,
            sslrootcert=c.sslrootcert or None,
            connect_timeout_s=max(2, int(c.connect_timeout_s)),
            application_name=c.application_name,
            keepalives_idle_s=c.keepalive_idle_s,
            keepalives_interval_s=c.keepalive_interval_s,
            keepalives_count=c.keepalive_count,
            tcp_user_timeout_ms=int((c.heartbeat_s + c.query_timeout_s) * 1000),
        )
        kwargs.update(c.extra_connect_kwargs)
        dsn = kwargs.pop("dsn")
        self.stats["connects"] += 1
        conn: psycopg2.extensions.connection = psycopg2.connect(dsn, async_=True, **kwargs)
        try:
            self._poll_until_ready(conn, c.connect_timeout_s, Problem.TIMEOUT)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        info = conn.info
        self.server = f"{info.host}:{info.port}/{info.dbname}"
        return conn

    def _query(self, conn: psycopg2.extensions.connection, text: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            cur.execute(text, params)
            self._poll_until_ready(conn, self.config.query_timeout_s, Problem.HEARTBEAT_TIMEOUT)
            self.stats["queries"] += 1
            return cur.fetchall() if cur.description is not None else []
        finally:
            cur.close()

    def _listen_and_catch_up(self, conn: psycopg2.extensions.connection) -> None:
        listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.config.channel)).as_string(conn)
        self._query(conn, listen, {})
        readable = self._query(
            conn, queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE}
        )
        self._select = queries.EntrySelect.from_readable([(str(t), str(c)) for t, c in readable])
        ((server_now,),) = self._query(conn, "SELECT statement_timestamp()", {})
        self._server_clock = (server_now, self._clock())
        self._load_ledger()
        if not self._ledger.initialized:
            elapsed = max(0.0, self._clock() - self._started_clock)
            (max_id, start_time), *_ = self._query(conn, queries.START_SQL, {"elapsed_s": elapsed})
            self._ledger.start_at(int(max_id), start_time)
            self._dirty = True
            log.info("first start on %s: delivering entries after id %s", self.server, max_id)
        self._catch_up(conn)

    def _ledger_key(self) -> str:
        return f"{self.server}#{self.config.channel}"

    def _load_ledger(self) -> None:
        key = self._ledger_key()
        if self._ledger_server == key:
            return  # same server as before: keep the in-memory ledger
        self._ledger_server = key
        self._ledger = Ledger(lookback_s=self.config.lookback_s)
        path = self.config.cursor_path
        if path is None or not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("delivery cursor %s unreadable (%s): starting from the table's end", path, exc)
            return
        self._ledger = Ledger.from_dict(data, key, lookback_s=self.config.lookback_s)
        if self._ledger.initialized:
            log.info("delivery cursor loaded: after id %s, %s", self._ledger.cursor_id, self._ledger.cursor_time)

    def _persist(self, force: bool = False, min_age_s: float = 0.0) -> None:
        path = self.config.cursor_path
        if path is None or not self._dirty or self._ledger_server is None:
            return
        now = self._clock()
        if not force and now - self._last_persist < max(self.config.persist_interval_s, min_age_s):
            return
        self._last_persist = now  # also after a failure: retry once per interval, not on every wakeup
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            while True:
                try:
                    self._pending.pop(self._acks.get_nowait(), None)
                except queue.Empty:
                    break
            ledger = self._ledger.without(self._pending) if self._pending else self._ledger
            tmp.write_text(json.dumps(ledger.to_dict(self._ledger_server)), encoding="utf-8")
            os.replace(tmp, path)
            self._dirty = bool(self._pending)  # save again once the consumer has acknowledged them
        except OSError as exc:
            log.warning("could not save the delivery cursor to %s: %s", path, exc)

    def _server_now(self) -> dt.datetime | None:
        """The server's clock, estimated from the reading at connect plus our monotonic time since."""
        if self._server_clock is None:
            return None
        at, mono = self._server_clock
        return at + dt.timedelta(seconds=self._clock() - mono)

    def _deliver(self, entries: Iterable[Entry], source: Source) -> None:
        fresh: list[int] = []
        for entry in entries:
            if not self._ledger.is_new(entry.entry_id, entry.occurred_at):
                continue
            self._ledger.mark(entry.entry_id, entry.occurred_at, self._server_now())
            if self._tracking:
                self._pending[entry.entry_id] = entry.occurred_at
            self._dirty = True
            self.stats["delivered"] += 1
            self._post(EntryReceived(entry, source, self._clock()))
            fresh.append(entry.entry_id)
        for entry_id in fresh:  # logged after the whole batch was handed over: file I/O must not delay it
            log.info("Procesando entrada ID: %s (%s)", entry_id, source.value)
        self._persist(min_age_s=PERSIST_MAX_DEFER_S)  # otherwise saved by _live() when the link is quiet

    def _catch_up(self, conn: psycopg2.extensions.connection) -> None:
        """Replay what the table has and we have not delivered: old ones as one summary, recent ones one by one."""
        assert self._select is not None
        c = self.config
        count, oldest, newest, max_id = self._query(
            conn,
            queries.BACKLOG_SQL,
            {"member": names.MEMBER_ACCESS, "after_id": self._ledger.cursor_id, "max_age_s": c.replay_max_age_s},
        )[0]
        if count:
            log.info("catch-up: %s entries older than %s s reported as one summary", count, c.replay_max_age_s)
            self._ledger.skip_to(int(max_id), newest, self._server_now())
            self._dirty = True
            self._post(BacklogSummary(int(count), oldest, newest))
        page_after = 0
        while True:
            rows = self._query(
                conn,
                self._select.catch_up_sql(),
                {
                    "member": names.MEMBER_ACCESS,
                    "after_id": self._ledger.cursor_id,
                    "since": self._ledger.since(),
                    "max_age_s": c.replay_max_age_s,
                    "page_after": page_after,
                    "limit": c.catch_up_page,
                },
            )
            self._deliver((self._select.row_to_entry(r) for r in rows), Source.CATCHUP)
            if len(rows) < c.catch_up_page:
                break
            page_after = int(rows[-1][0])
        self._ledger.prune()

    def _live(self, conn: psycopg2.extensions.connection) -> None:
        """Wait for NOTIFY; re-read each batch from the table; sweep when idle. Returns on stop/reconnect."""
        next_sweep = self._clock() + self.config.heartbeat_s
        while True:
            if conn.notifies:
                # The sweep stays on its own 15 s schedule under traffic too: an entry whose NOTIFY was skipped
                # (queue guard, session_replication_role=replica...) must not wait for a quiet moment.
                self._handle_notifies(conn)
                continue
            self._check_interrupt()
            # A NOTIFY that came in with the answer to our last query is already in libpq's input buffer, where
            # select() cannot see it: let psycopg2 parse what has been read (one non-blocking read) before waiting.
            conn.poll()
            if conn.notifies:
                continue
            wait = next_sweep - self._clock()
            if self._dirty and self.config.cursor_path is not None:  # save the ledger once the link is quiet
                due = self._last_persist + self.config.persist_interval_s - self._clock()
                wait = min(wait, max(PERSIST_QUIET_S, due))
            if self._wait_fds([conn], [], wait):
                conn.poll()
                continue
            self._persist()
            if self._clock() >= next_sweep:
                self._catch_up(conn)
                next_sweep = self._clock() + self.config.heartbeat_s

    def _handle_notifies(self, conn: psycopg2.extensions.connection) -> None:
        assert self._select is not None
        batch = list(conn.notifies)
        del conn.notifies[:]
        ids: list[int] = []
        for n in batch:
            self.stats["notifies"] += 1
            log.debug("Notificación recibida: %.200s", n.payload)
            try:
                hint = parse(n.payload)
            except PayloadError as exc:
                self.stats["rejected_payloads"] += 1
                log.warning("NOTIFY payload from backend pid %s ignored: %s", n.pid, exc)
                continue
            if hint.warning:
                log.info("NOTIFY payload for entry %s: %s (re-read from the table)", hint.entry_id, hint.warning)
            if hint.entry_id not in self._ledger.recent:
                ids.append(hint.entry_id)
        if not ids:
            return
        rows = self._query(conn, self._select.by_ids_sql(), {"member": names.MEMBER_ACCESS, "ids": sorted(set(ids))})
        entries = [self._select.row_to_entry(r) for r in rows]
        found = {e.entry_id for e in entries}
        for missing in sorted(set(ids) - found):
            log.warning("NOTIFY names entry %s, which is not a member entry in the table: ignored", missing)
        self._deliver(entries, Source.LIVE)
