"""Adversarial cases for the engine (breakE): configurations and server conditions that broke delivery."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
from psycopg2.extensions import make_dsn

from agent.db import simulate
from tests.conftest import Database
from tests.engine_helpers import Running, assert_exactly_once
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
    dsn = make_dsn(
        host="127.0.0.1,127.0.0.1", port=f"{proxy.port},{db.server.port}", dbname=db.name, user="pos_user"
    )
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
