"""Partitioned turnstile tables (issue 12 item 3), on a real server: inheritance partitioning with a BEFORE INSERT
redirect trigger that returns NULL (our AFTER trigger on the parent never fires for those rows), and declarative
partitioning (the parent's row trigger is cloned to every partition, also those created later)."""

from __future__ import annotations

import dataclasses
import time

import psycopg2

from agent import doctor
from agent.core import names
from agent.db import inspect, setup
from agent.doctor import Status, Target
from tests.conftest import Database
from tests.engine_helpers import Running
from tests.test_sql_kit import (
    drain,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)

FAST = {"listen_timeout_s": 2.0, "connect_timeout_s": 2}

REDIRECT = """
CREATE TABLE registro_entradas_2026 () INHERITS (registro_entradas);
CREATE FUNCTION torniquete_desviar() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO registro_entradas_2026 VALUES (NEW.*);
    RETURN NULL;
END $$;
CREATE TRIGGER desviar BEFORE INSERT ON registro_entradas FOR EACH ROW EXECUTE FUNCTION torniquete_desviar();
"""


def insert_redirected(dsn: str, member: int) -> int:
    """Insert a member entry through the parent (the turnstile's path); RETURNING gives nothing when a BEFORE
    trigger returns NULL, so the id is taken from the sequence first."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence('registro_entradas', 'id_entrada'))")
            entry = int(cur.fetchone()[0])
            cur.execute(
                "INSERT INTO registro_entradas (id_entrada, id_miembro, tipo_acceso) VALUES (%s, %s, 'miembro')",
                (entry, member),
            )
        conn.commit()
        return entry
    finally:
        conn.close()


def pos_target(db: Database, **changes: object) -> Target:
    base = Target(dsn=db.server.dsn(dbname=db.name, user=names.ROLE), password=db.pos_password, **FAST)
    return dataclasses.replace(base, **changes)


def test_inheritance_redirect_fails_doctor_then_delivers_live_after_setup_db(db: Database) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(REDIRECT)
    member = member_id(db, "current")

    # Before: the trigger sits on the parent only; a redirected row notifies nothing. doctor sees it in the catalog.
    listener = listen(db.admin_dsn())
    insert_redirected(db.admin_dsn(), member)
    assert drain(listener, timeout=0.5) == []
    report = doctor.run(pos_target(db), lang="en")
    r = report.result("partitions")
    assert r.status is Status.FAIL, report.table()
    assert "child tables (inheritance) without the trigger: registro_entradas_2026" in r.detail
    assert "BEFORE INSERT trigger desviar" in r.detail
    assert "setup-db" in r.advice
    assert report.result("trigger").status is Status.OK  # the parent's own trigger is fine: that was the trap
    assert not report.ok

    conn = psycopg2.connect(db.admin_dsn())
    result = setup.apply(conn, lang="en")
    conn.close()
    assert "trigger: installed where rows land: registro_entradas, registro_entradas_2026" in result.lines
    state = inspect.read(psycopg2.connect(db.admin_dsn()))
    assert {t.relation for t in state.triggers} == {"registro_entradas", "registro_entradas_2026"}
    assert doctor.run(pos_target(db), lang="en").result("partitions").status is Status.OK

    # After: the agent's engine delivers an entry inserted through the turnstile's path live. The heartbeat is
    # long, so the sweep cannot be what delivers it.
    with Running(db.server.dsn(dbname=db.name, user=names.ROLE), db.pos_password, heartbeat_s=30.0) as run:
        assert run.wait_listening()
        started = time.monotonic()
        entry = insert_redirected(db.admin_dsn(), member)
        assert run.wait_ids({entry}, timeout=1.0), run.ids()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    with db.connect_admin() as conn, conn.cursor() as cur:  # it really landed in the child
        cur.execute("SELECT count(*) FROM ONLY registro_entradas_2026 WHERE id_entrada = %s", (entry,))
        assert cur.fetchone() == (1,)
    assert [c for c, _ in drain(listener, expect=1)] == [names.DEFAULT_CHANNEL]
    listener.close()


def test_declarative_partitions_notify_also_in_a_partition_created_later(db: Database) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE registro_entradas CASCADE")
        cur.execute(
            "CREATE TABLE registro_entradas (id_entrada bigserial, id_miembro bigint, tipo_acceso text NOT NULL,"
            " fecha_hora timestamptz NOT NULL DEFAULT now(), torniquete text NOT NULL DEFAULT 'principal',"
            " resultado text NOT NULL DEFAULT 'permitido', PRIMARY KEY (id_entrada, fecha_hora))"
            " PARTITION BY RANGE (fecha_hora)"
        )
        cur.execute(
            "CREATE TABLE registro_entradas_antes PARTITION OF registro_entradas"
            " FOR VALUES FROM ('2000-01-01') TO ('2020-01-01')"
        )
    report = doctor.run(pos_target(db), lang="en")
    assert "missing on the partitioned table registro_entradas (fecha_hora)" in report.result("indexes").detail
    conn = psycopg2.connect(db.admin_dsn())
    result = setup.apply(conn, lang="en")
    conn.close()
    assert not result.failed, result.lines
    assert (
        "index registro_entradas_fecha_hora_idx on the partitioned table registro_entradas: 1 partition(s)"
        " attached; new partitions will get it" in result.lines
    )
    with db.connect_admin() as conn, conn.cursor() as cur:  # a partition made after setup-db: no re-run needed
        cur.execute(
            "CREATE TABLE registro_entradas_ahora PARTITION OF registro_entradas"
            " FOR VALUES FROM ('2020-01-01') TO ('2100-01-01')"
        )
    state = inspect.read(psycopg2.connect(db.admin_dsn()))
    assert state.entries is not None and state.entries.kind == "p"
    cloned = {t.relation for t in state.triggers if t.cloned}
    assert cloned == {"registro_entradas_antes", "registro_entradas_ahora"}

    listener = listen(db.admin_dsn())
    entry = insert_entry(db.admin_dsn(), member_id(db, "current"))
    assert [json_id(p) for _, p in drain(listener, expect=1)] == [entry]
    listener.close()
    # The partition made later got both indexes from the partitioned parent's (valid) indexes.
    later = [i for i in state.indexes if i.relation == "registro_entradas_ahora"]
    assert sorted(i.columns for i in later if i.valid) == [("fecha_hora",), ("id_entrada", "fecha_hora"),
                                                           ("id_miembro", "fecha_hora")]  # fmt: skip
    assert all(i.valid for i in state.indexes if i.relation == names.ENTRIES_TABLE)
    report = doctor.run(pos_target(db), lang="en")
    assert report.result("indexes").status is Status.OK, report.table()
    r = report.result("partitions")
    assert r.status is Status.OK and "partitions: the trigger is on all 2 tables rows land in" in r.detail, (
        report.table()
    )


def json_id(payload: str) -> int:
    import json

    return int(json.loads(payload)["id_entrada"])
