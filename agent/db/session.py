"""One listener session: an asynchronous psycopg2 connection with the agent's own limits, and bounded queries.

:func:`open_session` connects with libpq's non-blocking API (every wait interruptible, :mod:`agent.db.waiting`),
then makes the session's limits the agent's own (:func:`agent.db.queries.
session_limits_sql`: a role-level ``statement_timeout = '100ms'`` or ``idle_session_timeout = '4s'`` cannot break
the listener) and reads the server's clock. :meth:`Session.query` runs one statement within ``query_timeout_s``.

Errors: every failure is a :class:`Failure` carrying the :class:`agent.core.advice.Problem` (SQLSTATE first:
``57P05`` idle_session_timeout and ``57014`` statement_timeout name the setting) and libpq's/the server's text,
which never holds the password. Which thread: the engine's worker only; :meth:`Session.close` also at its end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions

from agent.core import advice
from agent.core.advice import Problem
from agent.db import queries
from agent.db.resolve import ResolveError, with_hostaddr
from agent.db.waiting import WaitTimeout, Waker, drive

# A SQL_ASCII database holds bytes in whatever encoding the turnstile software wrote (PostgreSQL docs, "Character
# Set Support": no conversion, no validation); psycopg2 decodes it as strict ASCII, so one 'ñ' would fail the whole
# batch. Latin-1 maps every byte to a character: never fails, right for the usual Windows/Latin-1 turnstiles.
psycopg2.extensions.encodings["SQL_ASCII"] = "latin-1"

IDLE_IN_TRANSACTION_MS = 60_000
"""``idle_in_transaction_session_timeout`` of our sessions: the agent runs in autocommit and never holds a
transaction open; a bound protects the turnstile's server should that ever change."""


class Failure(Exception):
    """A connection or query failed: ``problem`` (what kind) and ``detail`` (safe text, one line)."""

    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


def failure(exc: BaseException, timeout_problem: Problem = Problem.HEARTBEAT_TIMEOUT) -> Failure:
    """A :class:`Failure` from a driver, wait or schema exception (never quotes a password)."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, queries.SchemaError):
        return Failure(Problem.SCHEMA, str(exc))
    if isinstance(exc, WaitTimeout):
        return Failure(timeout_problem, str(exc))
    detail = " ".join(str(exc).split())[:300]
    return Failure(advice.classify(getattr(exc, "pgcode", None), detail), detail)


class Session:
    """An open connection; see the module docstring. Not thread-safe: the worker owns it."""

    def __init__(
        self,
        conn: psycopg2.extensions.connection,
        *,
        waker: Waker,
        clock: Callable[[], float],
        interrupted: Callable[[], bool],
        query_timeout_s: float,
    ) -> None:
        self.conn = conn
        self._waker = waker
        self._clock = clock
        self._interrupted = interrupted
        self.query_timeout_s = query_timeout_s
        info = conn.info
        self.server = f"{info.host}:{info.port}/{info.dbname}"
        self.server_clock: tuple[dt.datetime, float] | None = None
        """(server's ``statement_timestamp()``, our clock) read at connect."""
        self.queries = 0

    def fileno(self) -> int:
        """The connection's socket, for ``select``."""
        return int(self.conn.fileno())

    @property
    def notifies(self) -> list[Any]:
        """psycopg2's list of received ``Notify`` objects (the caller empties it)."""
        return self.conn.notifies  # type: ignore[no-any-return]

    def poll(self) -> None:
        """Read what has arrived without blocking (NOTIFYs, or the error of a session the server ended)."""
        self.conn.poll()

    def query(self, text: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (``[]`` for none). Raises :class:`Failure` (``HEARTBEAT_TIMEOUT`` after
        ``query_timeout_s``), ``psycopg2.Error``, or :class:`agent.db.waiting.Interrupted`."""
        cur = self.conn.cursor()
        try:
            cur.execute(text, params or {})
            try:
                drive(
                    self.conn,
                    self.query_timeout_s,
                    waker=self._waker,
                    clock=self._clock,
                    interrupted=self._interrupted,
                )
            except WaitTimeout as exc:
                raise failure(exc, Problem.HEARTBEAT_TIMEOUT) from None
            self.queries += 1
            return cur.fetchall() if cur.description is not None else []
        finally:
            cur.close()

    def failure(self, exc: BaseException) -> Failure:
        """:func:`failure` for an error on this session. When the server ended the session, libpq keeps the
        ``FATAL`` message as a *notice* and psycopg2 then raises only "server closed the connection unexpectedly"
        (no SQLSTATE; checked with ``idle_session_timeout``): the notice is what names the cause."""
        if isinstance(exc, psycopg2.Error) and getattr(exc, "pgcode", None) is None:
            fatal = [n for n in self.conn.notices if "FATAL" in n]
            if fatal:
                detail = " ".join(fatal[-1].split())[:300]
                return Failure(advice.classify(None, detail), detail)
        return failure(exc)

    def close(self) -> None:
        """Close the connection (idempotent, never raises)."""
        with contextlib.suppress(Exception):
            self.conn.close()


def open_session(
    kwargs: dict[str, Any],
    *,
    connect_timeout_s: float,
    query_timeout_s: float,
    waker: Waker,
    clock: Callable[[], float],
    interrupted: Callable[[], bool],
) -> Session:
    """Connect with ``kwargs`` (:func:`agent.db.connect.connection_kwargs` output; the host name is resolved
    first, interruptibly: :mod:`agent.db.resolve`), set the session limits and read the server clock. Raises
    :class:`Failure` (``UNKNOWN_HOST``; ``TIMEOUT`` after ``connect_timeout_s``), ``psycopg2.Error`` or
    :class:`agent.db.waiting.Interrupted`; on any failure the connection is closed."""
    try:
        kwargs = with_hostaddr(kwargs, timeout_s=connect_timeout_s, waker=waker, clock=clock, interrupted=interrupted)
    except ResolveError as exc:
        raise Failure(Problem.UNKNOWN_HOST, str(exc)) from None
    kwargs = dict(kwargs)
    dsn = kwargs.pop("dsn")
    conn: psycopg2.extensions.connection = psycopg2.connect(dsn, async_=True, **kwargs)
    try:
        try:
            drive(conn, connect_timeout_s, waker=waker, clock=clock, interrupted=interrupted)
        except WaitTimeout as exc:
            raise failure(exc, Problem.TIMEOUT) from None
        session = Session(conn, waker=waker, clock=clock, interrupted=interrupted, query_timeout_s=query_timeout_s)
        limits = queries.session_limits_sql(
            conn.server_version,
            statement_timeout_ms=int((query_timeout_s + 1.0) * 1000),
            idle_in_transaction_ms=IDLE_IN_TRANSACTION_MS,
        )
        session.query(limits)  # its own round trip: the SELECT below must run with the new isolation default
        ((server_now,),) = session.query("SELECT statement_timestamp()")
        session.server_clock = (server_now, clock())
        return session
    except BaseException:
        with contextlib.suppress(Exception):
            conn.close()
        raise
