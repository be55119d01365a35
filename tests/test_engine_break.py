"""Adversarial cases for the engine (breakE): configurations and server conditions that broke delivery."""

from __future__ import annotations

import psycopg2

from agent.db import simulate
from tests.conftest import Database
from tests.engine_helpers import Running


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
