"""doctor must not load the turnstile's server (adversarial review of issue 12, on a real server).

Measured with ``pg_stat_user_tables`` (tuples read by sequential and index scans of ``registro_entradas``) around
one ``doctor`` run on a 200,000-row table. Before: the ``queries`` check ran the backlog count and the catch-up from
``id_entrada = 0`` (every member entry of the table, with or without indexes: 4,000,000 tuples and ~0.7 s on a
2,000,000-row table) and, without the indexes, the ``sweep`` check's ``EXPLAIN ANALYZE`` scanned the whole table
twice more, only to report a sequential scan its plan already showed.
"""

from __future__ import annotations

import time

from agent import doctor
from agent.doctor import Status
from tests.conftest import Database
from tests.test_kit_partitions import pos_target
from tests.test_sql_kit import pos_user_left_as_found  # noqa: F401  (autouse fixture)

ROWS = 200_000


def fill(db: Database, *, indexes: bool) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        if not indexes:
            cur.execute("DROP INDEX registro_entradas_fecha_hora_idx, registro_entradas_miembro_fecha_idx")
        cur.execute("ALTER TABLE registro_entradas DISABLE TRIGGER aviso_nueva_entrada")
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
            " SELECT (SELECT min(id_miembro) FROM miembros), 'miembro', now() - g * interval '10 seconds'"
            f" FROM generate_series(1, {ROWS}) AS g"
        )
        cur.execute("ALTER TABLE registro_entradas ENABLE TRIGGER aviso_nueva_entrada")
    conn = db.connect_admin()  # autocommit, outside `with` (which opens a transaction): VACUUM needs that
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE registro_entradas")
    conn.close()


def tuples_read(db: Database) -> int:
    time.sleep(1.0)  # a backend's statistics reach the shared counters when it ends
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
            " WHERE relid = 'registro_entradas'::regclass"
        )
        return int(cur.fetchone()[0])


def test_doctor_reads_next_to_nothing_of_a_large_indexed_table(db: Database) -> None:
    fill(db, indexes=True)
    before = tuples_read(db)
    report = doctor.run(pos_target(db), lang="en")
    read = tuples_read(db) - before
    assert report.result("queries").status is Status.OK, report.table()
    assert report.result("sweep").status is Status.OK, report.table()
    assert read < 1_000, read


def test_doctor_does_not_scan_a_large_table_without_indexes_to_say_it_would_be_scanned(db: Database) -> None:
    fill(db, indexes=False)
    before = tuples_read(db)
    report = doctor.run(pos_target(db), lang="en")
    read = tuples_read(db) - before
    sweep = report.result("sweep")
    assert sweep.status is Status.WARN, report.table()
    assert "would scan the whole table (Seq Scan, ~200,000 rows): not measured" in sweep.detail
    assert "setup-db" in sweep.advice
    # What is left: the catch-up query of the `queries` check, which without the index on fecha_hora scans the
    # table once (the agent's own catch-up does the same on every connect until setup-db builds the index).
    assert read <= ROWS * 1.1, read


def test_an_inheritance_child_gets_an_id_entrada_index_so_the_sweep_stops_scanning_it(db: Database) -> None:
    """An inheritance child inherits no index, not even the primary key's. setup-db built the child's fecha_hora
    and (id_miembro, fecha_hora) indexes but none on id_entrada: every idle sweep still scanned the child, where
    a redirecting turnstile keeps all its rows, and doctor kept advising setup-db, which changed nothing."""
    import psycopg2

    from agent.db import setup

    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE registro_entradas_2026 () INHERITS (registro_entradas)")
        cur.execute(
            "INSERT INTO registro_entradas_2026 (id_miembro, tipo_acceso, fecha_hora)"
            " SELECT (SELECT min(id_miembro) FROM miembros), 'miembro', now() - g * interval '10 seconds'"
            " FROM generate_series(1, 50000) AS g"
        )
    conn = db.connect_admin()
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE registro_entradas_2026")
    conn.close()
    admin = psycopg2.connect(db.admin_dsn())
    report = setup.apply(admin, lang="en")
    admin.close()
    assert not report.failed, report.lines
    result = doctor.run(pos_target(db), lang="en")
    assert result.result("sweep").status is Status.OK, result.table()
    assert result.result("indexes").status is Status.OK, result.table()
