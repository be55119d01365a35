"""The listener engine: one worker thread, one connection, zero loss, no duplicates.

Two modes (``EngineConfig.mode``, docs/engine.md):

* ``notify`` — on every (re)connect: **LISTEN first, then catch up from the table, then go live**; a NOTIFY that
  arrives while catching up waits in the connection and is deduplicated against what catch-up delivered. NOTIFY
  is only a hint: every entry is (re)read from ``registro_entradas`` by id, in **one batched query per wakeup**.
  After ``heartbeat_s`` seconds without traffic the engine runs the catch-up itself (*sweep*), which must answer
  within ``query_timeout_s``: a silently dead link is noticed within ``heartbeat_s + query_timeout_s`` seconds, and
  an entry whose NOTIFY was skipped is still delivered by the next sweep.
* ``poll`` — no trigger, no LISTEN (works on a hot-standby replica): one index-backed query every
  ``poll_interval_s`` seconds (:meth:`agent.db.queries.EntrySelect.pending_ids_sql`), the same ledger, window and
  re-read as the NOTIFY mode, and the full catch-up every ``heartbeat_s``.

Every statement is bounded by an index (docs/engine.md "Index use"); the session's limits are the agent's own
(:mod:`agent.db.session`). Sockets and waits: :mod:`agent.db.waiting`; the ledger's file:
:mod:`agent.db.ledger_store`.

Threads: :meth:`ListenerEngine.start`, :meth:`stop`, :meth:`abandon`, :meth:`reconnect_now` and :meth:`ack` may be
called from any thread. The worker only posts immutable events (:mod:`agent.core.events`) to the queue given at
construction. :meth:`stop` returns within ``timeout_s`` even while connecting to an unreachable host or waiting
for a DNS server that never answers (libpq's non-blocking API; the host name is resolved in a helper thread first,
:mod:`agent.db.resolve`; every wait watches a wake-up socket). Should the worker still be stuck in a call that
cannot be interrupted, :meth:`stop` says False and :meth:`abandon` makes sure it writes and posts nothing more.
The worker closes every socket it opened (connection, wake-up pair) when it ends.

Persistence: the ledger is written at most once per ``persist_interval_s``, once no NOTIFY has arrived for
:data:`PERSIST_QUIET_S` (or after :data:`PERSIST_MAX_DEFER_S` of uninterrupted traffic), and at stop. Entries
older than ``replay_max_age_s`` found at catch-up become one :class:`agent.core.events.BacklogSummary`.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable

import psycopg2
from psycopg2 import sql

from agent.core import advice
from agent.core.advice import Problem
from agent.core.backoff import Backoff
from agent.core.events import ConnState, Event, StateChanged
from agent.core.model import Source
from agent.core.state import ConnectionMachine
from agent.db import queries
from agent.db.connect import connection_kwargs
from agent.db.delivery import PERSIST_MAX_DEFER_S, PERSIST_QUIET_S, Delivery
from agent.db.engine_config import MODES, EngineConfig
from agent.db.ledger_store import LedgerStore
from agent.db.session import Failure, Session, failure, open_session
from agent.db.waiting import Interrupted, Waker, wait_fds

__all__ = ["MODES", "PERSIST_MAX_DEFER_S", "PERSIST_QUIET_S", "EngineConfig", "ListenerEngine"]

log = logging.getLogger("agent.engine")


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
        self._waker = Waker()
        self._thread = threading.Thread(target=self._run, name="aviso-listener", daemon=True)
        self._machine = ConnectionMachine(
            Backoff(base_s=config.backoff_base_s, cap_s=config.backoff_cap_s, rng=rng or random.Random()),  # noqa: S311 (jitter, not crypto)
            auth_retry_s=config.auth_retry_s,
        )
        self._store = LedgerStore(config.cursor_path, lookback_s=config.lookback_s)
        self._delivery = Delivery(config, self._store, self._post, clock)
        self._started_clock = clock()
        self._post_lock = threading.Lock()
        self._abandoned = False
        self._counts = {"queries": 0, "connects": 0, "polls": 0}
        self._session: Session | None = None
        self.server = ""
        self._port = _first_port(config.dsn)

    @property
    def stats(self) -> dict[str, int]:
        """Counters for tests and benchmarks: queries, notifies, delivered, rejected_payloads, connects, polls."""
        live = self._session.queries if self._session is not None else 0
        return {**self._counts, "queries": self._counts["queries"] + live, **self._delivery.stats}

    # -- public API (any thread) -----------------------------------------------------------------------------
    def start(self) -> None:
        """Claim the cursor file (an older engine on it stops writing) and start the worker; returns at once."""
        self._store.claim()
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Ask the worker to stop and wait up to ``timeout_s`` seconds; True if it has ended (its sockets closed,
        its ledger saved). False: it is stuck (a DNS lookup inside libpq); see :meth:`abandon`."""
        self._stop.set()
        self._waker.wake()
        if self._thread.ident is None:  # never started: nothing else will close the wake-up sockets
            self._waker.close()
            return True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def abandon(self) -> None:
        """Give up on this engine without waiting: it posts no event and writes no ledger file from now on (a
        write in progress finishes first), and ends on its own when its blocking call returns. For the desk's
        reload swap when :meth:`stop` returned False (issue 11 item 6). Any thread; returns at once."""
        with self._post_lock:
            self._abandoned = True
        self._store.disable()
        self._stop.set()
        self._waker.wake()

    def reconnect_now(self) -> None:
        """Drop the connection (if any) and reconnect at once, resetting the backoff."""
        self._reconnect.set()
        self._waker.wake()

    def ack(self, entry_id: int) -> None:
        """The consumer is done with ``entry_id`` (shown, printed, or folded into a summary). Any thread; only
        meaningful with ``require_ack`` and a ``cursor_path``."""
        self._delivery.ack(entry_id)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    # -- worker -----------------------------------------------------------------------------------------------
    def _post(self, event: Event) -> None:
        with self._post_lock:
            if not self._abandoned:
                self.events.put(event)

    def _post_state(self, state: ConnState, problem: Problem | None = None, retry_in_s: float | None = None) -> None:
        reason = advice.explain(problem, self.lang, port=self._port) if problem is not None else ""
        self._post(StateChanged(state, reason, retry_in_s, self.server))

    def _interrupted(self) -> bool:
        return self._stop.is_set() or self._reconnect.is_set()

    def _run(self) -> None:
        self._started_clock = self._clock()
        try:
            while not self._stop.is_set():
                if self._machine.state in (ConnState.BACKING_OFF, ConnState.AUTH_FAILED):
                    self._sleep_until_retry()
                    continue
                self._session_once()
                if self._reconnect.is_set() and not self._stop.is_set():
                    self._reconnect.clear()
                    self._waker.drain()
                    log.info("reconnect requested")
                    self._machine.reconnect_now(self._clock())
        except Exception:  # a bug: say so loudly, never die silently
            log.exception("listener worker crashed")
            self._post(StateChanged(ConnState.STOPPED, advice.explain(Problem.OTHER, self.lang), None, self.server))
            raise
        finally:
            self._delivery.persist(force=True)
            self._store.release()
            self._waker.close()
            self._machine.stop()
            self._post_state(ConnState.STOPPED)

    def _session_once(self) -> None:
        """Connect, catch up and run the live loop until a failure, stop or reconnect; the session is closed."""
        self._post_state(ConnState.CONNECTING)
        session = None
        try:
            session = self._session = self._connect()
            if self.config.mode == "notify":
                session.query(sql.SQL("LISTEN {}").format(sql.Identifier(self.config.channel)).as_string(session.conn))
            self._delivery.prepare(session, self._started_clock)
            self._machine.connected(self._clock())
            self._post_state(ConnState.LISTENING)
            if self.config.mode == "notify":  # the seed's line, which IT greps the log file for
                log.info("Escuchando canal PostgreSQL: %s (%s)", self.config.channel, self.server)
            else:
                log.info(
                    "Consultando registro_entradas cada %g s (modo poll, sin trigger) (%s)",
                    self.config.poll_interval_s,
                    self.server,
                )
            if self.config.mode == "poll":
                self._poll_loop(session)
            else:
                self._live(session)
        except Interrupted:
            pass
        except (Failure, psycopg2.Error, OSError, queries.SchemaError) as exc:
            self._on_failure(session.failure(exc) if session is not None else failure(exc))
        except ValueError as exc:  # a malformed DSN or setting: connection_kwargs says which, safely
            self._on_failure(Failure(Problem.OTHER, str(exc)))
        finally:
            if session is not None:
                self._session = None
                self._counts["queries"] += session.queries
                session.close()

    def _on_failure(self, f: Failure) -> None:
        if self._stop.is_set():
            return
        delay = self._machine.failed(self._clock(), f.problem, f.detail)
        log.warning("connection problem (%s): %s; retry in %.1f s", f.problem.value, f.detail, delay)
        self._post_state(self._machine.state, f.problem, delay)

    def _sleep_until_retry(self) -> None:
        while not self._stop.is_set():
            if self._reconnect.is_set():
                self._reconnect.clear()
                self._waker.drain()
                self._machine.reconnect_now(self._clock())
                return
            now = self._clock()
            if self._machine.due(now):
                self._machine.retry(now)
                return
            assert self._machine.retry_at is not None
            wait_fds([], [], self._machine.retry_at - now, self._waker)

    def _connect(self) -> Session:
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
        self._counts["connects"] += 1
        session = open_session(
            kwargs,
            connect_timeout_s=c.connect_timeout_s,
            query_timeout_s=c.query_timeout_s,
            waker=self._waker,
            clock=self._clock,
            interrupted=self._interrupted,
        )
        self.server = session.server
        return session

    def _live(self, s: Session) -> None:
        """Wait for NOTIFY; re-read each batch from the table; sweep on schedule. Returns on stop/reconnect."""
        d = self._delivery
        next_sweep = self._clock() + self.config.heartbeat_s
        while True:
            if s.notifies:
                # The sweep stays on its own schedule under traffic too: an entry whose NOTIFY was skipped
                # (queue guard, session_replication_role=replica...) must not wait for a quiet moment.
                d.handle_notifies(s)
                continue
            if self._interrupted():
                raise Interrupted
            # A NOTIFY that came in with the answer to our last query is already in libpq's input buffer, where
            # select() cannot see it: let psycopg2 parse what has been read (one non-blocking read) before waiting.
            s.poll()
            if s.notifies:
                continue
            if wait_fds([s], [], d.persist_wait(next_sweep - self._clock()), self._waker):
                s.poll()
                continue
            d.persist()
            if self._clock() >= next_sweep:
                d.catch_up(s, Source.CATCHUP)
                next_sweep = self._clock() + self.config.heartbeat_s

    def _poll_loop(self, s: Session) -> None:
        """Poll mode: one pending-ids query per interval (a full catch-up every ``heartbeat_s``)."""
        c, d = self.config, self._delivery
        next_poll = self._clock() + c.poll_interval_s
        next_sweep = self._clock() + c.heartbeat_s
        while True:
            if self._interrupted():
                raise Interrupted
            now = self._clock()
            if now >= next_poll:
                next_poll += c.poll_interval_s  # a steady schedule: no drift
                if next_poll <= now:  # a slow poll: skip the missed slots rather than poll back to back
                    next_poll = now + c.poll_interval_s
                self._counts["polls"] += 1
                if now >= next_sweep:
                    d.catch_up(s, Source.CATCHUP)
                    next_sweep = self._clock() + c.heartbeat_s
                else:
                    d.fetch_pending(s, Source.LIVE)
                continue
            if wait_fds([s], [], d.persist_wait(next_poll - now), self._waker):
                s.poll()  # nothing is expected: this raises when the server ended the session
            d.persist()


def _first_port(dsn: str) -> int | None:
    """The (first) TCP port ``dsn`` names, for advice that names the port; None: libpq's default or unknown."""
    try:
        from psycopg2.extensions import parse_dsn

        text = parse_dsn(dsn).get("port", "") if dsn else ""
        return int(text.split(",")[0]) if text else None
    except (ValueError, psycopg2.Error):
        return None
