"""Helpers for tests that run a real :class:`agent.db.engine.ListenerEngine` against a real server."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.db.engine import EngineConfig, ListenerEngine

FAST = {
    "heartbeat_s": 1.0,
    "query_timeout_s": 1.0,
    "connect_timeout_s": 2.0,
    "backoff_base_s": 0.05,
    "backoff_cap_s": 0.5,
    "persist_interval_s": 0.0,
}


class Running:
    """An engine plus a thread that drains its events into lists (the 'UI side' of the tests)."""

    def __init__(self, dsn: str, password: str | None, *, cursor_path: Path | None = None, **overrides: object) -> None:
        cfg = EngineConfig(dsn=dsn, password=password, cursor_path=cursor_path)
        self.config = replace(cfg, **{**FAST, **overrides})  # type: ignore[arg-type]
        self.queue: queue.Queue[Event] = queue.Queue()
        self.engine = ListenerEngine(self.config, self.queue)
        self.entries: list[EntryReceived] = []
        self.states: list[StateChanged] = []
        self.summaries: list[BacklogSummary] = []
        self._cond = threading.Condition()
        self._drainer = threading.Thread(target=self._drain, daemon=True)

    def __enter__(self) -> Running:
        self.engine.start()
        self._drainer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.stop(timeout_s=2)

    def _drain(self) -> None:
        while True:
            ev = self.queue.get()
            with self._cond:
                if isinstance(ev, EntryReceived):
                    self.entries.append(ev)
                elif isinstance(ev, StateChanged):
                    self.states.append(ev)
                else:
                    self.summaries.append(ev)
                self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_listening(self, timeout: float = 10.0, after: int = 0) -> bool:
        return self.wait(lambda: any(s.state is ConnState.LISTENING for s in self.states[after:]), timeout)

    def ids(self) -> list[int]:
        with self._cond:
            return [e.entry.entry_id for e in self.entries]

    def wait_ids(self, expected: set[int], timeout: float = 15.0) -> bool:
        return self.wait(lambda: expected <= {e.entry.entry_id for e in self.entries}, timeout)


def assert_exactly_once(delivered: list[int], inserted: set[int]) -> None:
    """Every inserted id delivered, none twice, nothing else."""
    dupes = [i for i, n in collections.Counter(delivered).items() if n > 1]
    assert not dupes, f"delivered twice: {dupes[:20]}"
    missing = inserted - set(delivered)
    assert not missing, f"never delivered: {sorted(missing)[:20]} ({len(missing)} of {len(inserted)})"
    extra = set(delivered) - inserted
    assert not extra, f"delivered but not inserted as member entries: {sorted(extra)[:20]}"


MEMBER_DATE_INDEX = (
    "CREATE INDEX IF NOT EXISTS registro_entradas_miembro_fecha_idx ON registro_entradas (id_miembro, fecha_hora)"
)
"""The index ``setup-db`` creates for the history columns (kit); created here where the schema lacks it."""


def fill_history(admin_dsn: str, rows: int, *, members: int = 2000, days: int = 30) -> None:
    """Give the database years-of-rows weight: ``members`` more members and ``rows`` entries spread over the last
    ``days`` days (1 in 10 a visitor), inserted with triggers off (no NOTIFY storm), then ANALYZE. Superuser."""
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(MEMBER_DATE_INDEX)
        cur.execute(
            "INSERT INTO miembros (nombre, apellido, plan) SELECT 'Socio', 'N' || g, 'Mensual'"
            " FROM generate_series(1, %s) AS g",
            (members,),
        )
        cur.execute("SELECT min(id_miembro), max(id_miembro) FROM miembros")
        lo, hi = cur.fetchone()  # type: ignore[misc]
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora, resultado)"
            " SELECT CASE WHEN g %% 10 = 0 THEN NULL ELSE %(lo)s + (g::bigint * 7919) %% (%(hi)s - %(lo)s + 1) END,"
            "        CASE WHEN g %% 10 = 0 THEN 'visitante' ELSE 'miembro' END,"
            "        now() - %(days)s * interval '1 day' + (g::float8 / %(n)s) * %(days)s * interval '1 day'"
            "          - interval '1 hour',"
            "        CASE WHEN g %% 17 = 0 THEN 'denegado' ELSE 'permitido' END"
            "   FROM generate_series(1::bigint, %(n)s) AS g",
            {"lo": lo, "hi": hi, "n": rows, "days": days},
        )
        cur.execute("RESET session_replication_role")
        cur.execute("VACUUM ANALYZE registro_entradas")
        cur.execute("ANALYZE miembros")
    conn.close()


def seq_scans(admin_dsn: str, table: str = "registro_entradas") -> int:
    """``pg_stat_user_tables.seq_scan`` of ``table`` as the statistics have it now (fresh snapshot)."""
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = %s", (table,))
        (n,) = cur.fetchone()  # type: ignore[misc]
    conn.close()
    return int(n)
