"""``setup-db``'s index step: build the indexes the agent relies on, without blocking the turnstile.

Each index of :func:`agent.doctor.judge_access.index_plan` is built with ``CREATE INDEX CONCURRENTLY IF NOT
EXISTS`` in autocommit (it cannot run inside a transaction block; it takes a ``SHARE UPDATE EXCLUSIVE`` lock, so
the turnstile's INSERTs go on: PostgreSQL docs, "CREATE INDEX", "Building Indexes Concurrently"). A concurrent
build that fails (cancelled, deadlock, the session dropped) leaves an INVALID index behind that the planner
ignores but every INSERT still maintains; it is found in ``pg_index.indisvalid`` at the next run, dropped with
``DROP INDEX CONCURRENTLY`` and built again.

While a build runs, a second connection reads ``pg_stat_progress_create_index`` for the building backend every
``progress_interval_s`` seconds and hands a line to ``progress`` (a large table takes minutes: the person at the
console sees it move). Which thread: the caller's; the progress reader is a daemon thread that ends with the build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from agent.core.i18n import tr
from agent.doctor.judge_access import IndexPlan

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexOutcome:
    """What happened to one planned index: ``ok`` False when its build failed (``detail`` says why)."""

    plan: IndexPlan
    ok: bool
    seconds: float
    detail: str = ""


def build(
    conn: Any,
    plan: list[IndexPlan],
    *,
    lang: str,
    progress: Progress | None = None,
    progress_interval_s: float = 2.0,
) -> Iterator[IndexOutcome]:
    """Build every index of ``plan`` on ``conn`` (switched to autocommit, restored afterwards), yielding each
    outcome as soon as that build ends. Never raises for a failed build: it is an :class:`IndexOutcome` with ``ok``
    False (the INVALID leftover is rebuilt next time)."""
    import psycopg2

    say = progress or (lambda _line: None)
    was = conn.autocommit
    conn.autocommit = True
    try:
        for item in plan:
            table = sql.Identifier(item.table)
            index = sql.Identifier(item.name)
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in item.columns)
            say(tr("setup.index_creating", lang, index=item.name, table=item.table, columns=", ".join(item.columns)))
            started = time.monotonic()
            watcher = _Watcher(conn, item.name, lang, say, progress_interval_s) if progress else None
            try:
                with conn.cursor() as cur:
                    if item.invalid:
                        cur.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index))
                    if watcher:
                        watcher.start()
                    cur.execute(
                        sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})").format(index, table, cols)
                    )
                outcome = IndexOutcome(item, True, time.monotonic() - started)
            except psycopg2.Error as exc:
                outcome = IndexOutcome(item, False, time.monotonic() - started, " ".join(str(exc).split()))
            finally:
                if watcher:
                    watcher.stop()
            yield outcome
    finally:
        conn.autocommit = was


def progress_line(
    index: str, phase: str, blocks: int, blocks_total: int, tuples: int, tuples_total: int, *, lang: str
) -> str:
    """One progress line: the phase, and blocks (table scan) or tuples (tree loading) done of total. Pure."""
    if blocks_total:
        return tr("setup.index_progress", lang, index=index, phase=phase, done=blocks, total=blocks_total)
    if tuples_total:
        return tr("setup.index_progress_tuples", lang, index=index, phase=phase, done=tuples, total=tuples_total)
    return tr("setup.index_progress_phase", lang, index=index, phase=phase)


class _Watcher:
    """Reads ``pg_stat_progress_create_index`` for ``conn``'s backend on its own connection (PostgreSQL docs,
    "Progress Reporting", CREATE INDEX Progress Reporting: ``phase``, ``blocks_done``/``blocks_total``)."""

    def __init__(self, conn: Any, index: str, lang: str, say: Progress, interval_s: float) -> None:
        self._pid = conn.info.backend_pid
        self._params = {**conn.get_dsn_parameters(), "password": conn.info.password}
        self._params.pop("passfile", None)
        self._index = index
        self._lang = lang
        self._say = say
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="setup-db index progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:  # one exception barrier: progress is a courtesy, never a reason to fail the build
        import psycopg2

        try:
            other = psycopg2.connect(**{k: v for k, v in self._params.items() if v})
        except psycopg2.Error:
            return
        try:
            other.autocommit = True
            while not self._stop.wait(self._interval_s):
                with other.cursor() as cur:
                    cur.execute(
                        "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total"
                        " FROM pg_stat_progress_create_index WHERE pid = %s",
                        (self._pid,),
                    )
                    row = cur.fetchone()
                if row is not None:
                    self._say(progress_line(self._index, *row, lang=self._lang))
        except Exception:  # noqa: S110 (the build itself reports its own errors)
            pass
        finally:
            other.close()
