"""``setup-db``'s index step: build the indexes the agent relies on, without blocking the turnstile.

Each index of :func:`agent.db.kit_plan.index_plan` is built with ``CREATE INDEX CONCURRENTLY IF NOT
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

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from agent.core.i18n import tr
from agent.db.kit_plan import IndexPlan

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexOutcome:
    """What happened to one planned index: ``ok`` False when its build failed (``detail`` says why)."""

    plan: IndexPlan
    ok: bool
    seconds: float
    detail: str = ""
    attached: int = 0
    """Partitioned parent only: partition indexes attached to it by this run."""
    unattached: tuple[str, ...] = ()
    """Partitioned parent only: partitions with no matching index to attach (the parent index stays invalid)."""


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
        with conn.cursor() as cur:  # a database-level statement_timeout must not cancel a build of minutes
            cur.execute("SET statement_timeout = 0")
            cur.execute("SET lock_timeout = 0")
        for item in plan:
            if not item.invalid:  # a new index: under a name no other relation of that schema has
                item = dataclasses.replace(item, name=_free_name(conn, item))
            if item.partitioned:
                yield _partitioned(conn, item)
                continue
            table = _qualified(item.schema, item.table)
            index = sql.Identifier(item.name)  # CREATE INDEX puts it in the table's schema
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in item.columns)
            say(tr("setup.index_creating", lang, index=item.name, table=item.table, columns=", ".join(item.columns)))
            started = time.monotonic()
            watcher = _Watcher(conn, item.name, lang, say, progress_interval_s) if progress else None
            try:
                with conn.cursor() as cur:
                    if item.invalid:
                        cur.execute(
                            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(_qualified(item.schema, item.name))
                        )
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


_FREE_NAME_SQL = """
SELECT c.n FROM (SELECT %(name)s::text AS n, 0 AS k
                 UNION ALL SELECT left(%(name)s, 60) || g, g FROM generate_series(1, 99) AS g) AS c
 WHERE NOT EXISTS (SELECT FROM pg_class AS r WHERE r.relname = c.n AND r.relnamespace =
                      (SELECT t.relnamespace FROM pg_class AS t WHERE t.oid = to_regclass(%(table)s)))
 ORDER BY c.k LIMIT 1
"""


def _free_name(conn: Any, item: IndexPlan) -> str:
    """``item.name``, or ``<name>1`` ... ``<name>99`` when another relation of the table's schema has it: a table
    rotated by renaming (``ALTER TABLE registro_entradas RENAME TO registro_entradas_2019``, then a new one)
    keeps its index names, and ``CREATE INDEX ... IF NOT EXISTS`` then skipped ours while setup-db said "built"
    (on every run; the new table never got its index)."""
    with conn.cursor() as cur:
        cur.execute(_FREE_NAME_SQL, {"name": item.name, "table": _qualified(item.schema, item.table).as_string(cur)})
        row = cur.fetchone()
    return str(row[0]) if row else item.name


def _qualified(schema: str, name: str) -> sql.Composable:
    """``schema.name`` quoted (a partition may live off the search_path), or just ``name`` when no schema."""
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


_ATTACHABLE_SQL = """
SELECT DISTINCT ON (c.oid) c.relname::text, ci.relname::text, ni.nspname::text
  FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
  LEFT JOIN pg_index AS x ON x.indrelid = c.oid AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
       AND NOT x.indisunique
       AND NOT EXISTS (SELECT FROM pg_inherits AS j WHERE j.inhrelid = x.indexrelid)
       AND array(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n) = %(cols)s
  LEFT JOIN pg_class AS ci ON ci.oid = x.indexrelid
  LEFT JOIN pg_namespace AS ni ON ni.oid = ci.relnamespace
 WHERE i.inhparent = to_regclass(%(parent)s)
   AND NOT EXISTS (SELECT FROM pg_inherits AS j JOIN pg_index AS y ON y.indexrelid = j.inhrelid
                    WHERE y.indrelid = c.oid AND j.inhparent = to_regclass(%(index)s))
 ORDER BY c.oid, ci.relname
"""
"""Direct partitions of ``parent`` not yet attached to ``index``, each with an index of exactly ``cols`` that is
free to attach (NULL when it has none) and that index's schema. ``parent`` and ``index``: quoted, qualified names."""


def _partitioned(conn: Any, item: IndexPlan) -> IndexOutcome:
    """``CREATE INDEX IF NOT EXISTS ... ON ONLY`` the partitioned table (catalog only: invalid until every partition
    has an attached index), then ``ALTER INDEX ... ATTACH PARTITION`` each partition's matching index (PostgreSQL
    docs, "Table Partitioning", *Partition Maintenance*). Once all are attached the index is valid and a partition
    created later gets its own index from the server."""
    import psycopg2

    started = time.monotonic()
    index = sql.Identifier(item.name)
    qualified_index = _qualified(item.schema, item.name)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in item.columns)
    attached = 0
    missing: list[str] = []
    try:
        with conn.cursor() as cur:
            create = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON ONLY {} ({})").format(
                index, _qualified(item.schema, item.table), cols
            )
            _without_queueing(cur, create)
            names = {
                "parent": _qualified(item.schema, item.table).as_string(cur),
                "index": qualified_index.as_string(cur),
                "cols": list(item.columns),
            }
            cur.execute(_ATTACHABLE_SQL, names)
            for partition, child_index, child_schema in cur.fetchall():
                if child_index is None:
                    missing.append(str(partition))
                    continue
                cur.execute(
                    sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(
                        qualified_index, _qualified(str(child_schema), str(child_index))
                    )
                )
                attached += 1
    except psycopg2.Error as exc:
        return IndexOutcome(item, False, time.monotonic() - started, " ".join(str(exc).split()), attached)
    return IndexOutcome(item, True, time.monotonic() - started, "", attached, tuple(missing))


SHORT_LOCK_TIMEOUT = "100ms"
"""How long one attempt at a lock that conflicts with the turnstile's INSERTs may wait (they queue behind it)."""
SHORT_LOCK_ATTEMPTS = 50
SHORT_LOCK_PAUSE_S = 0.4


def _without_queueing(cur: Any, statement: sql.Composable) -> None:
    """Run ``statement`` (autocommit), which needs a lock that conflicts with INSERTs, without ever keeping the
    turnstile's INSERTs waiting behind it for more than :data:`SHORT_LOCK_TIMEOUT`: a waiting lock request makes
    every later conflicting one wait behind it (PostgreSQL docs, "Explicit Locking"), so behind a long transaction
    a plain ``CREATE INDEX ... ON ONLY`` (``SHARE`` lock) would hold up every INSERT until it ended. Retries every
    :data:`SHORT_LOCK_PAUSE_S` s, :data:`SHORT_LOCK_ATTEMPTS` times; then raises the last ``LockNotAvailable``."""
    import psycopg2.errors

    cur.execute("SET lock_timeout = %s", (SHORT_LOCK_TIMEOUT,))
    try:
        for attempt in range(SHORT_LOCK_ATTEMPTS):
            try:
                cur.execute(statement)
                return
            except psycopg2.errors.LockNotAvailable:
                if attempt == SHORT_LOCK_ATTEMPTS - 1:
                    raise
                time.sleep(SHORT_LOCK_PAUSE_S)
    finally:
        cur.execute("SET lock_timeout = 0")


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
