"""Issue 12 item 1 against a real server: on a table large enough that the planner prefers an index, an idle
agent (NOTIFY and poll mode) never scans ``registro_entradas`` sequentially, and role-level server limits
(``idle_session_timeout``, ``statement_timeout``) cannot break it."""

from __future__ import annotations

import select
import threading
import time

import psycopg2
import pytest

from agent.core import names
from agent.core.advice import Problem, classify, explain
from agent.core.events import ConnState
from agent.db import queries, simulate
from agent.db.session import Session
from agent.db.waiting import Waker
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once, fill_history, seq_scans

ROWS = 300_000


@pytest.fixture
def big(db: Database) -> Database:
    fill_history(db.admin_dsn(), ROWS)
    return db


def _plans(db: Database) -> dict[str, str]:
    """EXPLAIN of every statement the engine sends (:func:`agent.db.queries.engine_queries`), as pos_user."""
    conn = psycopg2.connect(db.pos_dsn())
    conn.autocommit = True
    out = {}
    with conn.cursor() as cur:
        cur.execute(queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
        select = queries.EntrySelect.from_readable([(str(t), str(c)) for t, c in cur.fetchall()])
        cur.execute("SELECT max(id_entrada), now() FROM registro_entradas")
        max_id, now = cur.fetchone()  # type: ignore[misc]
        for q in queries.engine_queries(select, max_id=max_id, now=now):
            cur.execute("EXPLAIN " + q.sql, q.params)
            out[q.name] = "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    return out


def test_every_engine_query_uses_an_index_on_a_large_table(big: Database) -> None:
    plans = _plans(big)
    assert set(plans) == {"backlog", "pending", "reread", "start"}
    for name, plan in plans.items():
        assert "Seq Scan on registro_entradas" not in plan, f"{name}:\n{plan}"
        assert "Index" in plan, f"{name}:\n{plan}"
    assert "registro_entradas_fecha_hora_idx" in plans["pending"], plans["pending"]
    assert "registro_entradas_miembro_fecha_idx" in plans["reread"], plans["reread"]


@pytest.mark.parametrize("mode", ["notify", "poll"])
def test_idle_agent_does_no_sequential_scan(big: Database, mode: str) -> None:
    # The counter works: one scan of ours is seen (a control, so that "0" below means something).
    before_control = seq_scans(big.admin_dsn())
    with big.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM registro_entradas WHERE torniquete = 'ninguno'")
    time.sleep(0.2)
    before = seq_scans(big.admin_dsn())
    assert before > before_control
    with Running(big.pos_dsn(), None, mode=mode, heartbeat_s=0.3, poll_interval_s=0.1) as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(big.admin_dsn(), count=1)
        assert run.wait_ids({e.entry_id})
        time.sleep(2.0)  # several sweeps (and ~20 polls)
        assert run.engine.stop(timeout_s=3.0)
    assert run.engine.stats["queries"] >= 8, run.engine.stats  # several sweeps or polls really ran
    time.sleep(0.5)  # the agent's backend has exited and flushed its statistics
    assert seq_scans(big.admin_dsn()) == before, "the idle agent scanned registro_entradas sequentially"
    assert run.entries[0].entry.previous_entry_at is not None or run.entries[0].entry.first_visit


def _wait_ok(conn: psycopg2.extensions.connection) -> None:
    while conn.poll() != psycopg2.extensions.POLL_OK:
        select.select([conn], [conn], [], 1.0)


def _role_limits(db: Database, **settings: str) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        for key, value in settings.items():
            cur.execute(f"ALTER ROLE pos_user IN DATABASE {db.name} SET {key} = %s", (value,))


def test_role_level_limits_cannot_break_the_agent(db: Database) -> None:
    """``ALTER ROLE pos_user SET idle_session_timeout = '4s'`` and ``statement_timeout = '100ms'`` (here for this
    database only): the agent stays connected through a 6 s idle stretch and a query held 0.5 s by a lock."""
    _role_limits(db, idle_session_timeout="4s", statement_timeout="100ms")
    # Control: without the agent's own limits the server ends the session after 4 s idle, and the engine's
    # session (same async path) names the setting.
    plain = psycopg2.connect(db.pos_dsn(), async_=True)
    _wait_ok(plain)
    waker = Waker()
    session = Session(plain, waker=waker, clock=time.monotonic, interrupted=lambda: False, query_timeout_s=2)
    time.sleep(5.0)
    with pytest.raises(psycopg2.OperationalError) as info:
        session.query("SELECT 1")
    f = session.failure(info.value)
    session.close()
    waker.close()
    assert f.problem is Problem.SESSION_TIMEOUT and "idle-session timeout" in f.detail, f.detail
    with Running(db.pos_dsn(), None, heartbeat_s=6.0, query_timeout_s=2.0) as run:
        assert run.wait_listening()
        time.sleep(7.0)  # idle longer than the role's idle_session_timeout, with a sweep at 6 s
        (first,) = simulate.insert_entries(db.admin_dsn(), count=1)
        assert run.wait_ids({first.entry_id}, timeout=5)
        locker = db.connect_admin(autocommit=False)
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE registro_entradas IN ACCESS EXCLUSIVE MODE")
        # The insert waits for the lock too: commit it from a thread; the agent's re-read then waits 0.5 s.
        inserted: list[int] = []
        t = threading.Thread(
            target=lambda: inserted.extend(i.entry_id for i in simulate.insert_entries(db.admin_dsn(), count=1))
        )
        t.start()
        time.sleep(0.5)
        locker.rollback()
        locker.close()
        t.join(10)
        assert run.wait_ids({first.entry_id, *inserted}, timeout=10)
        assert_exactly_once(run.ids(), {first.entry_id, *inserted})
        assert run.engine.stats["connects"] == 1, [(s.state.value, s.reason) for s in run.states]
        assert [s.state for s in run.states] == [ConnState.CONNECTING, ConnState.LISTENING]


def test_server_limits_are_named_in_the_advice() -> None:
    assert classify("57P05", "FATAL: terminating connection due to idle-session timeout") is Problem.SESSION_TIMEOUT
    assert classify(None, "terminating connection due to idle-session timeout") is Problem.SESSION_TIMEOUT
    assert classify("57014", "canceling statement due to statement timeout") is Problem.STATEMENT_TIMEOUT
    assert classify(None, "ERROR: canceling statement due to statement timeout") is Problem.STATEMENT_TIMEOUT
    for lang in ("es", "en"):
        assert "idle_session_timeout" in explain(Problem.SESSION_TIMEOUT, lang)
        assert "statement_timeout" in explain(Problem.STATEMENT_TIMEOUT, lang)


def test_session_limits_sql_by_server_version() -> None:
    old = queries.session_limits_sql(130000, statement_timeout_ms=11000, idle_in_transaction_ms=60000)
    new = queries.session_limits_sql(150004, statement_timeout_ms=11000, idle_in_transaction_ms=60000)
    assert "idle_session_timeout" not in old and "SET statement_timeout = 11000" in old
    assert "SET idle_session_timeout = 0" in new and "idle_in_transaction_session_timeout = 60000" in new
