"""Turnstile trees the kit met in the wild (adversarial review of issue 12, on a real server): partitions and
inheritance children in another schema than ``registro_entradas`` (off the ``search_path``), sub-partitions, and
mixed-case names."""

from __future__ import annotations

import psycopg2

from agent import doctor
from agent.core import names
from agent.db import inspect, setup
from agent.doctor import Status
from tests.conftest import Database
from tests.engine_helpers import Running
from tests.test_kit_partitions import pos_target
from tests.test_sql_kit import (
    drain,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)

TREE = """
DROP TABLE registro_entradas CASCADE;
CREATE TABLE registro_entradas (id_entrada bigserial, id_miembro bigint, tipo_acceso text NOT NULL,
    fecha_hora timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (fecha_hora);
CREATE SCHEMA archivo;
CREATE TABLE archivo.registro_entradas_2025 PARTITION OF registro_entradas
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE "Actual" PARTITION OF registro_entradas FOR VALUES FROM ('2026-01-01') TO ('2100-01-01')
    PARTITION BY LIST (tipo_acceso);
CREATE TABLE "Actual_miembros" PARTITION OF "Actual" FOR VALUES IN ('miembro');
CREATE TABLE archivo."Actual_otros" PARTITION OF "Actual" DEFAULT;
"""


def valid_indexes(db: Database, table: str) -> set[str]:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND indisvalid", (table,)
        )
        return {r[0] for r in cur.fetchall()}


def test_partitions_in_another_schema_and_sub_partitions_get_indexes_and_notify(db: Database) -> None:
    """Before: setup-db named a partition by its bare name (``CREATE INDEX ... ON registro_entradas_2025``):
    "relation does not exist" for one in another schema, exit 1 on every run; and a sub-partitioned partition got
    no index to attach, so the root's index stayed invalid (partitions created later got none)."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(TREE)
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en")
    conn.close()
    assert not report.failed, report.lines
    assert valid_indexes(db, "registro_entradas") == {  # this tree has no primary key: id_entrada gets one too
        "registro_entradas_id_entrada_idx",
        "registro_entradas_fecha_hora_idx",
        "registro_entradas_miembro_fecha_idx",
    }
    assert valid_indexes(db, '"Actual"') == {
        '"Actual_id_entrada_idx"',
        '"Actual_fecha_hora_idx"',
        '"Actual_miembro_fecha_idx"',
    }
    with db.connect_admin() as conn, conn.cursor() as cur:  # created later, in the other schema, one level down
        cur.execute("CREATE TABLE archivo.visitas PARTITION OF \"Actual\" FOR VALUES IN ('visitante')")
    assert len(valid_indexes(db, "archivo.visitas")) == 3
    conn = psycopg2.connect(db.admin_dsn())
    state = inspect.read(conn)
    conn.close()
    assert {r.schema for r in state.relations} == {"public", "archivo"}
    again = psycopg2.connect(db.admin_dsn())
    assert not setup.apply(again, lang="en").failed
    again.close()

    listener = listen(db.admin_dsn())
    a = insert_entry(db.admin_dsn(), member, fecha_hora="2025-06-01T10:00:00+00")  # archivo.registro_entradas_2025
    b = insert_entry(db.admin_dsn(), member)  # "Actual_miembros"
    got = drain(listener, expect=2)
    listener.close()
    assert len(got) == 2 and {a, b} == {int(p.split('"id_entrada": ')[1].split(",")[0]) for _, p in got}


def test_inheritance_child_in_another_schema_gets_trigger_and_indexes(db: Database) -> None:
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute('CREATE SCHEMA "Histórico"')
        cur.execute('CREATE TABLE "Histórico"."Entradas 2026" () INHERITS (registro_entradas)')
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en")
    conn.close()
    assert not report.failed, report.lines
    assert len(valid_indexes(db, '"Histórico"."Entradas 2026"')) == 3  # no inherited primary key: id_entrada too
    listener = listen(db.admin_dsn())
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            'INSERT INTO "Histórico"."Entradas 2026" (id_miembro, tipo_acceso) VALUES (%s, %s)', (member, "miembro")
        )
    assert len(drain(listener, expect=1)) == 1
    listener.close()


def test_tables_in_a_vendor_schema_are_found_by_pos_user(db: Database) -> None:
    """The turnstile's tables live in the vendor's own schema; the installer reaches them with its search_path
    (``options='-c search_path=...'``). setup-db then said all was installed, but ``pos_user`` (search_path
    ``"$user", public``) found no ``registro_entradas``: doctor failed and advised ``setup-db --schema``, which
    would have created empty look-alike tables in public. Now pos_user's search_path in that database names the
    tables' schema."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute('CREATE SCHEMA "Torniquete"')
        cur.execute(
            'ALTER TABLE registro_entradas SET SCHEMA "Torniquete"; ALTER TABLE miembros SET SCHEMA "Torniquete";'
            " DROP FUNCTION aviso_notificar_entrada() CASCADE"
        )
    conn = psycopg2.connect(db.admin_dsn(), options='-c search_path="Torniquete"')
    report = setup.apply(conn, lang="en")
    conn.close()
    assert not report.failed, report.lines
    result = doctor.run(pos_target(db), lang="en")
    for key in ("trigger", "channel", "partitions", "queries", "indexes"):
        assert result.result(key).status is Status.OK, result.table()
    with Running(db.server.dsn(dbname=db.name, user=names.ROLE), db.pos_password, heartbeat_s=30.0) as run:
        assert run.wait_listening()
        admin = psycopg2.connect(db.admin_dsn(), options='-c search_path="Torniquete"')
        entry = insert_entry(admin, member)
        admin.close()
        assert run.wait_ids({entry}, timeout=2.0), run.ids()


def test_a_table_rotated_by_renaming_gets_its_own_indexes(db: Database) -> None:
    """The vendor rotates the table yearly: ``ALTER TABLE registro_entradas RENAME TO registro_entradas_2019`` and a
    new ``registro_entradas``. The old table keeps the index names setup-db would use; ``CREATE INDEX ... IF NOT
    EXISTS`` skipped ours and setup-db said "built" on every run while the new table had none."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE registro_entradas RENAME TO registro_entradas_2019")
        cur.execute("CREATE TABLE registro_entradas (LIKE registro_entradas_2019 INCLUDING DEFAULTS)")
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en")
    conn.close()
    assert not report.failed, report.lines
    assert valid_indexes(db, "registro_entradas") == {  # LIKE copied no primary key: id_entrada gets one
        "registro_entradas_id_entrada_idx",
        "registro_entradas_fecha_hora_idx1",
        "registro_entradas_miembro_fecha_idx1",
    }
    assert "index registro_entradas_fecha_hora_idx1: built in" in " ".join(report.lines)


def test_doctor_names_a_look_alike_table_and_a_table_off_the_search_path(db: Database) -> None:
    """A copy of ``registro_entradas`` in another schema (the vendor's audit or an old import): doctor said OK
    whichever of the two the turnstile fills. And a table off pos_user's search_path: doctor said "does not exist"
    and advised ``setup-db --schema``, which would create empty look-alikes in public."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA copia")
        cur.execute("CREATE TABLE copia.registro_entradas (LIKE public.registro_entradas)")
    r = doctor.run(pos_target(db), lang="en").result("trigger")
    assert r.status is Status.WARN
    assert "another registro_entradas table exists in schema copia; the kit watches the one in public" in r.detail
    assert "public.registro_entradas" in r.advice

    with db.connect_admin() as conn, conn.cursor() as cur:  # moved by hand, setup-db not run again
        cur.execute("DROP TABLE copia.registro_entradas")
        cur.execute("ALTER TABLE registro_entradas SET SCHEMA copia")
    r = doctor.run(pos_target(db), lang="en").result("trigger")
    assert r.status is Status.FAIL
    assert r.detail == "table registro_entradas exists in schema copia, off this role's search_path"
    assert "do not use --schema" in r.advice
