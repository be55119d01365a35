"""Adversarial cases for the engine (breakE): configurations and server conditions that broke delivery."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from agent.core import names
from agent.core.events import ConnState
from agent.db import setup, simulate, throwaway
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once
from tests.pg_replica import standby_of, wait_replayed
from tests.tcp_proxy import TcpProxy


def test_photo_column_of_the_wrong_type_does_not_stop_delivery(db: Database) -> None:
    """``photos.column`` naming a column that is not ``bytea`` (an int, a URL as text): entries still arrive,
    without photo bytes."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE miembros ADD COLUMN foto_id integer DEFAULT 7, ADD COLUMN foto_txt text DEFAULT 'x'")
        cur.execute("GRANT SELECT (foto_id, foto_txt) ON miembros TO pos_user")
    for column in ("foto_id", "foto_txt"):
        with Running(db.pos_dsn(), None, photo_column=column) as run:
            assert run.wait_listening()
            (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
            assert run.wait_ids({e.entry_id}, timeout=5), (column, run.states)
            member = run.entries[-1].entry.member
            assert member is not None and member.photo_data is None and member.first_name


def test_photo_column_of_a_domain_over_bytea_is_read(db: Database) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DOMAIN imagen AS bytea")
        cur.execute("ALTER TABLE miembros ADD COLUMN foto imagen")
        cur.execute("UPDATE miembros SET foto = %s WHERE id_miembro = 1", (psycopg2.Binary(jpeg),))
        cur.execute("GRANT SELECT (foto) ON miembros TO pos_user")
    with Running(db.pos_dsn(), None, photo_column="foto") as run:
        assert run.wait_listening()
        (e,) = simulate.insert_entries(db.admin_dsn(), count=1, member_id=1)
        assert run.wait_ids({e.entry_id}, timeout=5)
        member = run.entries[-1].entry.member
    assert member is not None and member.photo_data == jpeg


def test_failover_to_the_next_host_of_a_multi_host_dsn_replays_nothing(db: Database, tmp_path: Path) -> None:
    """``host=a,b`` (a primary and its standby, or two addresses of one server): when the engine reconnects to
    the second host, the ledger is the same database's, so nothing already delivered comes again (it used to
    start a fresh ledger for the new ``host:port`` and replay every entry since the agent started)."""
    proxy = TcpProxy("127.0.0.1", db.server.port).start()
    dsn = make_dsn(host="127.0.0.1,127.0.0.1", port=f"{proxy.port},{db.server.port}", dbname=db.name, user="pos_user")
    try:
        with Running(dsn, db.pos_password, cursor_path=tmp_path / "cursor.json") as run:
            assert run.wait_listening()
            first = simulate.insert_entries(db.admin_dsn(), count=5)
            assert run.wait_ids({e.entry_id for e in first})
            proxy.close()  # the first host goes away: libpq connects to the second one
            assert run.wait(lambda: str(db.server.port) in run.engine.server and len(run.states) >= 4)
            assert run.wait_listening(after=2)
            second = simulate.insert_entries(db.admin_dsn(), count=3)
            expected = {e.entry_id for e in first + second}
            assert run.wait_ids(expected)
            time.sleep(1.5)  # a sweep or two
            assert_exactly_once(run.ids(), expected)
            assert not run.summaries
    finally:
        proxy.close()


@pytest.mark.parametrize(
    "setting",
    [
        "statement_timeout = '1ms'",
        "DateStyle = 'SQL, DMY'",
        "DateStyle = 'German'",
        "IntervalStyle = 'sql_standard'",
        "default_transaction_isolation = 'serializable'",
        "default_transaction_read_only = on",
        "lock_timeout = '1ms'",
        "TimeZone = 'America/Argentina/Buenos_Aires'",
        "bytea_output = 'escape'",
        "client_encoding = 'LATIN1'",
    ],
)
def test_role_level_settings_do_not_break_delivery(db: Database, setting: str) -> None:
    """``ALTER ROLE pos_user SET ...`` by whoever runs the turnstile's server: the engine still delivers."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE pos_user IN DATABASE {db.name} SET {setting}")
    for mode in ("notify", "poll"):
        with Running(db.pos_dsn(), None, mode=mode, poll_interval_s=0.1) as run:
            assert run.wait_listening(), run.states
            inserted = simulate.insert_entries(db.admin_dsn(), count=3, member_id=1)
            ids = {e.entry_id for e in inserted}
            assert run.wait_ids(ids, timeout=5), (mode, run.states)
            got = {e.entry.entry_id: e.entry for e in run.entries}
            for e in inserted:
                assert abs((got[e.entry_id].occurred_at - e.occurred_at).total_seconds()) < 1
            assert got[inserted[1].entry_id].previous_entry_at is not None


def test_poll_mode_on_a_standby_through_paused_replay_and_a_promotion(pos_password: str, tmp_path: Path) -> None:
    """A hot standby whose replay is paused (``pg_wal_replay_pause()``) then resumed, with a late commit and a
    role-level ``default_transaction_isolation = 'serializable'`` (refused on a standby); then a multi-host DSN
    (primary, standby) whose primary dies and whose standby is promoted: every entry once."""
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs throwaway servers (AVISO_PG_DSN points at an external one)")
    with throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")) as primary:
        admin = psycopg2.connect(primary.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE torniquete_db")
        admin.close()
        pdsn = primary.dsn(dbname="torniquete_db")
        conn = psycopg2.connect(pdsn)
        setup.apply(conn, schema=True, pos_password=pos_password, demo_data=True)
        conn.close()
        with psycopg2.connect(pdsn) as conn, conn.cursor() as cur:
            cur.execute(f"ALTER ROLE {names.ROLE} SET default_transaction_isolation = 'serializable'")
        conn.close()
        with standby_of(primary) as port:
            sdsn = f"host=127.0.0.1 port={port} dbname=torniquete_db user=postgres"
            throwaway.wait_until_accepting(sdsn, 30)
            standby = f"host=127.0.0.1 port={port} dbname=torniquete_db user={names.ROLE}"
            with Running(standby, pos_password, mode="poll", poll_interval_s=0.1) as run:
                assert run.wait_listening(), run.states
                ctl = psycopg2.connect(sdsn)
                ctl.autocommit = True
                with ctl.cursor() as cur:
                    cur.execute("SELECT pg_wal_replay_pause()")
                slow = psycopg2.connect(pdsn)
                with slow.cursor() as cur:
                    cur.execute(
                        "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (2, 'miembro')"
                        " RETURNING id_entrada"
                    )
                    (low_id,) = cur.fetchone()  # type: ignore[misc]
                inserted = simulate.insert_entries(pdsn, count=20, rate_per_s=50)
                slow.commit()
                slow.close()
                time.sleep(2.5)  # polls and sweeps while the standby shows nothing new
                assert not run.entries
                with ctl.cursor() as cur:
                    cur.execute("SELECT pg_wal_replay_resume()")
                ctl.close()
                ids = {low_id, *(i.entry_id for i in inserted)}
                assert run.wait_ids(ids, timeout=15), run.states
                time.sleep(0.5)
                assert_exactly_once(run.ids(), ids)
            pair = make_dsn(
                host="127.0.0.1,127.0.0.1", port=f"{primary.port},{port}", dbname="torniquete_db", user=names.ROLE
            )
            with Running(
                pair, pos_password, mode="poll", poll_interval_s=0.1, cursor_path=tmp_path / "cursor.json"
            ) as run:
                assert run.wait_listening(), run.states
                before = simulate.insert_entries(pdsn, count=5)
                assert run.wait_ids({i.entry_id for i in before})
                wait_replayed(pdsn, sdsn)
                primary.stop()
                with psycopg2.connect(sdsn) as c, c.cursor() as cur:
                    cur.execute("SELECT pg_promote()")
                c.close()
                assert run.wait(lambda: str(port) in run.engine.server and run.states[-1].state is ConnState.LISTENING)
                after = simulate.insert_entries(sdsn, count=5)
                ids = {i.entry_id for i in before + after}
                assert run.wait_ids(ids, timeout=15), run.states
                time.sleep(1.5)
                assert_exactly_once(run.ids(), ids)
