"""setup-db and doctor on turnstile databases as found in the field (issue 12): missing and INVALID indexes, a large
table (progress, measured sweep), role-level session limits, two-phase commit enabled, the no-trigger install.
Real server, real ``CREATE INDEX CONCURRENTLY``, real ``PREPARE TRANSACTION``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest

from agent import doctor
from agent.core import names
from agent.db import inspect, setup, throwaway
from agent.doctor import Status, Target
from tests.conftest import Database
from tests.test_setup_db_cli import setup_db
from tests.test_sql_kit import (
    drain,
    empty_database,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)

FAST = {"listen_timeout_s": 2.0, "connect_timeout_s": 2}
INDEXES = ("registro_entradas_fecha_hora_idx", "registro_entradas_miembro_fecha_idx")


def pos_target(db: Database, **changes: object) -> Target:
    base = Target(dsn=db.server.dsn(dbname=db.name, user=names.ROLE), password=db.pos_password, **FAST)
    return dataclasses.replace(base, **changes)


def index_validity(db: Database) -> dict[str, bool]:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'registro_entradas'::regclass"
        )
        return {str(n): bool(v) for n, v in cur.fetchall()}


def drop_agent_indexes(db: Database) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        for name in INDEXES:
            cur.execute(f"DROP INDEX IF EXISTS {name}")


def bulk_entries(db: Database, rows: int) -> None:
    """``rows`` old entries (one a minute back from now), inserted without firing triggers, then ANALYZE."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no NOTIFY per row: this is filler
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora) "
            "SELECT (SELECT min(id_miembro) FROM miembros), CASE WHEN g %% 10 = 0 THEN 'visitante' ELSE 'miembro' END,"
            " now() - (%s - g) * interval '1 minute' FROM generate_series(1, %s) AS g",
            (rows, rows),
        )
        cur.execute("ANALYZE registro_entradas")


def test_missing_indexes_warned_then_built_concurrently_and_the_sweep_stops_scanning(db: Database) -> None:
    drop_agent_indexes(db)
    bulk_entries(db, 200_000)
    before = doctor.run(pos_target(db), lang="en")
    idx = before.result("indexes")
    assert idx.status is Status.WARN, before.table()
    assert "missing on registro_entradas (fecha_hora)" in idx.detail
    assert "missing on registro_entradas (id_miembro, fecha_hora)" in idx.detail
    assert "CREATE INDEX CONCURRENTLY" in idx.advice
    sweep = before.result("sweep")
    assert sweep.status is Status.WARN and "Seq Scan" in sweep.detail, before.table()
    assert before.ok  # warnings only: the agent works, slowly

    skipped = setup_db("--dsn", db.admin_dsn(), "--no-index", lang="en")
    assert skipped.returncode == 0, skipped.stderr
    assert "indexes: not created (--no-index); missing: registro_entradas (fecha_hora)" in skipped.stdout
    assert not set(INDEXES) & set(index_validity(db))

    proc = setup_db("--dsn", db.admin_dsn(), lang="en")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert (
        "index registro_entradas_fecha_hora_idx on registro_entradas (fecha_hora): building it without locking"
        " the table..." in lines
    )
    assert any(line.startswith("index registro_entradas_miembro_fecha_idx: built in ") for line in lines), lines
    assert index_validity(db) == {"registro_entradas_pkey": True, INDEXES[0]: True, INDEXES[1]: True}

    after = doctor.run(pos_target(db), lang="en")
    assert after.result("indexes").status is Status.OK, after.table()
    sweep = after.result("sweep")
    assert sweep.status is Status.OK and "Seq Scan" not in sweep.detail, after.table()
    again = setup_db("--dsn", db.admin_dsn(), lang="en")
    assert "index" not in again.stdout, again.stdout  # nothing to build: no index line at all


def test_an_invalid_index_from_a_failed_concurrent_build_is_reported_and_rebuilt(db: Database) -> None:
    drop_agent_indexes(db)
    member = member_id(db, "current")
    conn = db.connect_admin()  # autocommit, and no `with conn`: psycopg2 2.9 opens a transaction there
    with conn.cursor() as cur:
        for _ in range(2):
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora) VALUES (%s, 'miembro', "
                "'2026-01-01 10:00+00')",
                (member,),
            )
        # A UNIQUE build over duplicate times fails half-way and leaves its index behind, INVALID (PostgreSQL
        # docs, "Building Indexes Concurrently").
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEXES[0]} ON registro_entradas (fecha_hora)")
    conn.close()
    assert index_validity(db)[INDEXES[0]] is False

    report = doctor.run(pos_target(db), lang="en")
    assert f"{INDEXES[0]} on registro_entradas is INVALID" in report.result("indexes").detail, report.table()

    conn = psycopg2.connect(db.admin_dsn())
    result = setup.apply(conn, lang="en")
    conn.close()
    assert (
        f"index {INDEXES[0]} on registro_entradas: INVALID (an earlier build failed), dropping and rebuilding it"
        in (result.lines)
    )
    assert not result.failed
    assert index_validity(db)[INDEXES[0]] is True
    assert doctor.run(pos_target(db), lang="en").result("indexes").status is Status.OK


def test_index_build_on_a_large_table_reports_progress(db: Database) -> None:
    drop_agent_indexes(db)
    bulk_entries(db, 300_000)
    progress: list[str] = []
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en", progress=progress.append, progress_interval_s=0.02)
    conn.close()
    # Every final line went through `progress` too, in order, and the build printed pg_stat_progress_create_index.
    assert [line for line in progress if line in report.lines] == report.lines
    ticks = [line for line in progress if line.startswith(("  " + INDEXES[0] + ": ", "  " + INDEXES[1] + ": "))]
    assert ticks, progress
    assert any(line.endswith((" blocks", " rows")) for line in ticks), ticks
    assert all(index_validity(db)[name] for name in INDEXES)


def test_role_level_session_limits_are_reported(db: Database) -> None:
    bulk_entries(db, 100_000)
    drop_agent_indexes(db)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {names.ROLE} IN DATABASE {db.name} SET statement_timeout = '1ms'")
    slow = doctor.run(pos_target(db), lang="en")  # a sequential sweep measured despite a 1 ms role-level limit
    assert slow.result("sweep").status is Status.WARN and "Seq Scan" in slow.result("sweep").detail, slow.table()
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {names.ROLE} IN DATABASE {db.name} SET statement_timeout = '400ms'")
        cur.execute(f"ALTER ROLE {names.ROLE} IN DATABASE {db.name} SET idle_session_timeout = '4s'")
        cur.execute(f"ALTER DATABASE {db.name} SET idle_in_transaction_session_timeout = '60s'")  # above: fine
    report = doctor.run(pos_target(db), lang="en")
    r = report.result("session_limits")
    assert r.status is Status.WARN, report.table()
    assert "statement_timeout = 400ms (role+database)" in r.detail
    assert "idle_session_timeout = 4s (role+database)" in r.detail
    assert "idle_in_transaction" not in r.detail
    assert "the agent sets its own values" in r.detail
    assert f"ALTER ROLE {names.ROLE}" in r.advice
    state = inspect.read(psycopg2.connect(db.pos_dsn()))
    assert ("database", "idle_in_transaction_session_timeout", "60s") in state.role.settings  # type: ignore[union-attr]


@pytest.fixture
def two_phase_server() -> Iterator[throwaway.ThrowawayPostgres]:
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs a throwaway server of its own (max_prepared_transactions needs a restart)")
    with throwaway.ThrowawayPostgres(
        os.environ.get("AVISO_PG_BACKEND", "auto"), settings={"max_prepared_transactions": "4"}
    ) as server:
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE torniquete_db")
        admin.close()
        yield server


def test_two_phase_commit_is_reported_by_setup_db_and_doctor(two_phase_server: throwaway.ThrowawayPostgres) -> None:
    dsn = two_phase_server.dsn(dbname="torniquete_db")
    proc = setup_db("--dsn", dsn, "--schema", "--demo-data", "--pos-password-stdin", stdin="clave-2pc\n", lang="en")
    assert proc.returncode == 0, proc.stderr
    warning = proc.stdout.splitlines()[-1]
    assert warning.startswith("WARNING: max_prepared_transactions = 4.")
    assert "PREPARE TRANSACTION fails after the trigger's NOTIFY" in warning and "--no-trigger" in warning

    # What it warns about, for real: the turnstile's prepared INSERT of a member fails; a visitor's does not.
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (1, 'miembro')")
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="LISTEN, UNLISTEN, or NOTIFY"):
            cur.execute("PREPARE TRANSACTION 'torniquete-1'")
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'visitante')")
        cur.execute("PREPARE TRANSACTION 'torniquete-2'")
    conn.rollback()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ROLLBACK PREPARED 'torniquete-2'")
    conn.close()

    target = Target(dsn=two_phase_server.dsn(dbname="torniquete_db", user=names.ROLE), password="clave-2pc", **FAST)
    report = doctor.run(target, lang="en")
    r = report.result("two_phase")
    assert r.status is Status.WARN, report.table()
    assert "max_prepared_transactions = 4" in r.detail and "PREPARE TRANSACTION fails" in r.detail
    assert "poll mode" in r.advice and "never uses PREPARE TRANSACTION" in r.advice
    assert report.ok
    polled = doctor.run(dataclasses.replace(target, mode="poll"), lang="en").result("two_phase")
    assert polled.status is Status.OK and "poll mode has no trigger" in polled.detail


def test_no_trigger_installs_only_the_role_and_doctor_passes_in_poll_mode(
    pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, pos_password: str
) -> None:
    with empty_database(pg_server) as name:
        dsn = pg_server.dsn(dbname=name)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            from agent import resources

            cur.execute(resources.sql("schema.sql").read_text(encoding="utf-8"))
        proc = setup_db("--dsn", dsn, "--no-trigger", lang="en")
        assert proc.returncode == 0, proc.stderr
        assert (
            proc.stdout.splitlines()[0]
            == "trigger: not installed (--no-trigger); the agent must use connection.mode = poll"
        )
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
            assert cur.fetchone() == (0,)
            cur.execute("SELECT to_regprocedure(%s)", (names.TRIGGER_FUNCTION + "()",))
            assert cur.fetchone() == (None,)
            cur.execute("INSERT INTO miembros (nombre, apellido) VALUES ('Ana', 'Paz') RETURNING id_miembro")
            member = cur.fetchone()[0]
        listener = listen(dsn)
        insert_entry(dsn, member)
        assert drain(listener, timeout=0.5) == []  # nothing notifies
        listener.close()

        target = Target(dsn=pg_server.dsn(dbname=name, user=names.ROLE), password=pos_password, **FAST)
        polled = doctor.run(dataclasses.replace(target, mode="poll"), lang="en")
        assert polled.ok, polled.table()
        assert polled.result("queries").status is Status.OK
        assert polled.result("role").status is Status.OK  # SELECT on the minimal columns, nothing else
        assert polled.result("trigger").status is Status.SKIP
        notify = doctor.run(target, lang="en")
        assert notify.result("trigger").status is Status.FAIL and not notify.ok


def test_a_failed_index_build_is_an_outcome_not_an_exception(db: Database) -> None:
    from agent.db import setup_index
    from agent.db.kit_plan import IndexPlan

    conn = psycopg2.connect(db.admin_dsn())
    plan = [IndexPlan("no_such_table", "no_such_idx", ("fecha_hora",)), IndexPlan("registro_entradas", "extra_idx",
            ("fecha_hora",))]  # fmt: skip
    outcomes = list(setup_index.build(conn, plan, lang="en"))
    assert [o.ok for o in outcomes] == [False, True]  # the first failing does not stop the second
    assert 'relation "no_such_table" does not exist' in outcomes[0].detail
    assert conn.autocommit is False  # given back as it was
    conn.close()
    assert index_validity(db)["extra_idx"] is True


def test_doctor_cli_mode_poll(db: Database) -> None:
    import json
    import subprocess
    import sys

    from tests.test_sql_kit import ROOT

    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TRIGGER {names.TRIGGER_NAME} ON {names.ENTRIES_TABLE}")
    dsn = db.server.dsn(dbname=db.name, user=names.ROLE)
    args = [sys.executable, "-m", "agent", "doctor", "--dsn", dsn, "--password-stdin", "--json"]
    run = {"input": db.pos_password + "\n", "capture_output": True, "text": True, "cwd": ROOT, "timeout": 60}
    notify = subprocess.run(args, **run)  # type: ignore[call-overload]
    assert notify.returncode == 1, notify.stdout
    poll = subprocess.run([*args, "--mode", "poll"], **run)  # type: ignore[call-overload]
    assert poll.returncode == 0, poll.stdout + poll.stderr
    checks = {c["check"]: c["status"] for c in json.loads(poll.stdout)["checks"]}
    assert checks["trigger"] == checks["listen"] == "skip" and checks["queries"] == "ok"
