"""The kit never makes the turnstile's INSERTs wait (adversarial review of issue 12, on a real server).

A lock request that waits puts every later conflicting request in the queue behind it (PostgreSQL docs, "Explicit
Locking"): ``setup-db`` asking for a table lock behind a long transaction of the turnstile's own program would hold
up every INSERT until that transaction ends. These tests hold such a transaction open, insert like a turnstile
(its own ``statement_timeout``), run the kit, and count the INSERTs that failed or waited: none may.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg2

from agent.db import setup
from tests.conftest import Database
from tests.test_sql_kit import (
    drain,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)


@dataclass
class Turnstile:
    """Inserts member entries at ``rate`` per second on its own connection, with ``statement_timeout`` like a
    turnstile program that gives up on a stuck INSERT; records failures and the slowest INSERT."""

    dsn: str
    member: int
    rate: float = 50.0
    timeout_ms: int = 1000
    inserted: int = 0
    failed: list[str] = field(default_factory=list)
    worst_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {self.timeout_ms}")
                while not self._stop.is_set():
                    started = time.monotonic()
                    try:
                        cur.execute(
                            "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (%s, 'miembro')",
                            (self.member,),
                        )
                        self.inserted += 1
                    except psycopg2.Error as exc:
                        self.failed.append(str(exc).strip())
                    self.worst_s = max(self.worst_s, time.monotonic() - started)
                    self._stop.wait(max(0.0, 1.0 / self.rate - (time.monotonic() - started)))
        finally:
            conn.close()


@contextmanager
def turnstile_running(dsn: str, member: int) -> Iterator[Turnstile]:
    t = Turnstile(dsn, member)
    thread = threading.Thread(target=t.run, daemon=True)
    thread.start()
    try:
        yield t
    finally:
        t._stop.set()
        thread.join(timeout=10)


@contextmanager
def long_transaction(dsn: str, hold_s: float, statement: str) -> Iterator[Callable[[], float]]:
    """Another session of the turnstile's program: runs ``statement`` in a transaction left open ``hold_s``
    seconds (it holds that statement's table lock meanwhile). Yields a function giving when it committed."""
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(statement)
    ended: list[float] = []

    def finish() -> None:
        time.sleep(hold_s)
        conn.commit()
        ended.append(time.monotonic())

    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    try:
        yield lambda: ended[0] if ended else float("inf")
    finally:
        thread.join(timeout=hold_s + 10)
        conn.close()


def test_trigger_install_behind_a_long_transaction_never_holds_up_the_turnstile(db: Database) -> None:
    """The turnstile's program keeps a transaction open for 3 s that has inserted a row (ROW EXCLUSIVE) while
    ``setup-db`` installs the trigger (CREATE TRIGGER needs SHARE ROW EXCLUSIVE). Before the fix the CREATE TRIGGER
    queued behind it and every other INSERT queued behind the CREATE TRIGGER: INSERTs cancelled by their
    statement_timeout. Now the kit asks for the lock 100 ms at a time and retries: no INSERT fails or waits for long,
    and the trigger is installed once the transaction ends."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
    vendor = "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'empleado')"
    with turnstile_running(db.admin_dsn(), member) as turnstile:
        time.sleep(0.3)
        with long_transaction(db.admin_dsn(), 3.0, vendor) as committed_at:
            conn = psycopg2.connect(db.admin_dsn())
            report = setup.apply(conn, lang="en", indexes=False)
            installed_at = time.monotonic()
            conn.close()
        time.sleep(0.3)
    assert turnstile.failed == [], turnstile.failed[:3]
    assert turnstile.worst_s < 0.6, turnstile.worst_s
    assert turnstile.inserted > 100
    assert "trigger: created on registro_entradas, channel nueva_entrada_canal" in report.lines
    assert installed_at >= committed_at()  # it did wait for the lock, by retrying
    listener = listen(db.admin_dsn())
    insert_entry(db.admin_dsn(), member)
    assert len(drain(listener, expect=1)) == 1
    listener.close()


def test_disabled_trigger_is_enabled_again_by_setup_db(db: Database) -> None:
    """A vendor's maintenance script ran ``DISABLE TRIGGER ALL`` and forgot to enable ours again: setup-db used
    to say "already installed, unchanged" (exit 0) while nothing notified. Now it enables it."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE registro_entradas DISABLE TRIGGER aviso_nueva_entrada")
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en", indexes=False)
    conn.close()
    assert "trigger: updated, channel nueva_entrada_canal" in report.lines
    assert not any("without the trigger" in line for line in report.lines), report.lines
    listener = listen(db.admin_dsn())
    insert_entry(db.admin_dsn(), member)
    assert len(drain(listener, expect=1)) == 1
    listener.close()
    conn = psycopg2.connect(db.admin_dsn())
    assert (
        "trigger: already installed, channel nueva_entrada_canal, unchanged"
        in setup.apply(conn, lang="en", indexes=False).lines
    )
    conn.close()


def make_partitioned(db: Database) -> None:
    """``registro_entradas`` as a declaratively partitioned table with one partition taking every row."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE registro_entradas CASCADE")
        cur.execute(
            "CREATE TABLE registro_entradas (id_entrada bigserial, id_miembro bigint, tipo_acceso text NOT NULL,"
            " fecha_hora timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id_entrada, fecha_hora))"
            " PARTITION BY RANGE (fecha_hora)"
        )
        cur.execute("CREATE TABLE registro_entradas_todo PARTITION OF registro_entradas DEFAULT")


def test_disabled_clone_on_a_declarative_partition_is_enabled_again(db: Database) -> None:
    member = member_id(db, "current")
    make_partitioned(db)
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, lang="en", indexes=False)
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("ALTER TABLE registro_entradas_todo DISABLE TRIGGER aviso_nueva_entrada")
    report = setup.apply(conn, lang="en", indexes=False)
    conn.close()
    assert "trigger: updated, channel nueva_entrada_canal" in report.lines
    listener = listen(db.admin_dsn())
    insert_entry(db.admin_dsn(), member)
    assert len(drain(listener, expect=1)) == 1
    listener.close()


def test_partitioned_parent_index_behind_a_long_transaction_never_holds_up_the_turnstile(db: Database) -> None:
    """setup-db's index step makes the parent index ``ON ONLY`` the partitioned table: a plain CREATE INDEX, whose
    SHARE lock conflicts with INSERTs, and it ran with ``lock_timeout = 0``. Behind a 3 s transaction of the
    turnstile's program every INSERT queued behind it. Now it asks 100 ms at a time."""
    member = member_id(db, "current")
    make_partitioned(db)
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, lang="en", indexes=False)  # the trigger first, on a quiet table
    with db.connect_admin() as admin, admin.cursor() as cur:  # the vendor indexed its partition, not the parent
        cur.execute("CREATE INDEX ON registro_entradas_todo (fecha_hora)")
        cur.execute("CREATE INDEX ON registro_entradas_todo (id_miembro, fecha_hora)")
    vendor = "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'empleado')"
    with turnstile_running(db.admin_dsn(), member) as turnstile:
        time.sleep(0.3)
        with long_transaction(db.admin_dsn(), 3.0, vendor):
            report = setup.apply(conn, lang="en")
        time.sleep(0.3)
    conn.close()
    assert turnstile.failed == [], turnstile.failed[:3]
    assert turnstile.worst_s < 0.6, turnstile.worst_s
    assert turnstile.inserted > 100
    assert not report.failed, report.lines
    assert (
        "index registro_entradas_fecha_hora_idx on the partitioned table registro_entradas: 1 partition(s)"
        " attached; new partitions will get it" in report.lines
    )


def test_setup_db_schema_on_a_turnstile_table_in_use_never_holds_up_the_turnstile(db: Database) -> None:
    """``setup-db --schema`` on a turnstile whose tables exist (``sql/schema.sql`` is idempotent, so an unsure IT
    person passes it): its plain ``CREATE INDEX IF NOT EXISTS`` took a SHARE lock, waiting behind the turnstile
    program's open transaction with every INSERT queued behind it, and on a table without the index it built it
    non-concurrently, INSERTs stopped for the whole build. Now the file leaves a table with rows to setup-db's
    concurrent build."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX registro_entradas_fecha_hora_idx, registro_entradas_miembro_fecha_idx")
        cur.execute("INSERT INTO registro_entradas (tipo_acceso) SELECT 'visitante' FROM generate_series(1, 1000)")
    vendor = "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'empleado')"
    conn = psycopg2.connect(db.admin_dsn())
    with turnstile_running(db.admin_dsn(), member) as turnstile:
        time.sleep(0.3)
        with long_transaction(db.admin_dsn(), 3.0, vendor):
            report = setup.apply(conn, lang="en", schema=True)
        time.sleep(0.3)
    conn.close()
    assert turnstile.failed == [], turnstile.failed[:3]
    assert turnstile.worst_s < 0.6, turnstile.worst_s
    assert not report.failed, report.lines
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'registro_entradas'::regclass AND indisvalid"
            " AND indexrelid::regclass::text IN ('registro_entradas_fecha_hora_idx',"
            " 'registro_entradas_miembro_fecha_idx')"
        )
        assert cur.fetchone() == (2,)


def test_an_index_another_session_is_building_is_not_dropped_as_invalid(db: Database) -> None:
    """A DBA runs ``CREATE INDEX CONCURRENTLY`` of the same index (or a second setup-db does): until it ends the
    index is not valid, and setup-db took it for a failed build's leftover and ran ``DROP INDEX CONCURRENTLY`` on
    it (seen: a deadlock that failed one build or the other). Now it sees the build in
    ``pg_stat_progress_create_index`` and leaves it alone."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX registro_entradas_fecha_hora_idx")
    vendor = "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'empleado')"
    errors: list[str] = []
    dba = db.connect_admin()

    def build() -> None:  # waits for the vendor's transaction ("waiting for writers before build")
        try:
            with dba.cursor() as cur:
                cur.execute(
                    "CREATE INDEX CONCURRENTLY registro_entradas_fecha_hora_idx ON registro_entradas (fecha_hora)"
                )
        except psycopg2.Error as exc:
            errors.append(str(exc).strip())

    with long_transaction(db.admin_dsn(), 3.0, vendor):
        thread = threading.Thread(target=build, daemon=True)
        thread.start()
        with db.connect_admin() as conn, conn.cursor() as cur:
            deadline = time.monotonic() + 5
            oid = None
            while oid is None and time.monotonic() < deadline:
                cur.execute("SELECT to_regclass('registro_entradas_fecha_hora_idx')::oid")
                oid = cur.fetchone()[0]
                time.sleep(0.05)
        assert oid is not None
        conn = psycopg2.connect(db.admin_dsn())
        report = setup.apply(conn, lang="en")
        conn.close()
    thread.join(timeout=30)
    dba.close()
    assert errors == []
    assert any(
        line.startswith("index registro_entradas_fecha_hora_idx on registro_entradas: another session (pid ")
        for line in report.lines
    ), report.lines
    assert not report.failed, report.lines
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT i.indexrelid, i.indisvalid FROM pg_index i"
            " WHERE i.indexrelid = to_regclass('registro_entradas_fecha_hora_idx')"
        )
        assert cur.fetchone() == (oid, True)  # the DBA's own index, built to the end


def test_two_setup_db_at_once_both_succeed_one_after_the_other(db: Database) -> None:
    """Two people (or a script and a person) run setup-db at once: before, one of them failed in three runs out of
    three (both created the function: duplicate key in pg_proc; or the two concurrent index builds deadlocked,
    leaving an INVALID index). Now the second waits for the first (an advisory lock, polled) and says so."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP FUNCTION aviso_notificar_entrada() CASCADE")
        cur.execute("DROP INDEX registro_entradas_fecha_hora_idx, registro_entradas_miembro_fecha_idx")
        cur.execute("INSERT INTO registro_entradas (tipo_acceso) SELECT 'visitante' FROM generate_series(1, 100000)")
    reports: list[setup.SetupReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        conn = psycopg2.connect(db.admin_dsn())
        try:
            start.wait()
            reports.append(setup.apply(conn, lang="en"))
        except BaseException as exc:  # recorded and asserted below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(reports) == 2 and not any(r.failed for r in reports), [r.lines for r in reports]
    waited = [r for r in reports if r.lines[0].startswith("another setup-db is running on this database")]
    assert len(waited) == 1, [r.lines for r in reports]
    assert "trigger: already installed, channel nueva_entrada_canal, unchanged" in waited[0].lines
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'registro_entradas'::regclass AND indisvalid")
        assert cur.fetchone() == (3,)  # the primary key and ours


def test_a_database_level_statement_timeout_does_not_cancel_the_polite_trigger_install(db: Database) -> None:
    """``ALTER DATABASE ... SET statement_timeout = '300ms'`` (a DBA's guard for the turnstile's program): the trigger
    install that waits 100 ms at a time for its lock behind a 1.5 s transaction was cancelled by it. setup-db now
    bounds its own transaction (120 s)."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
        cur.execute(f"ALTER DATABASE {db.name} SET statement_timeout = '300ms'")
    vendor = "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'empleado')"
    with long_transaction(db.admin_dsn(), 1.5, vendor):
        conn = psycopg2.connect(db.admin_dsn())
        report = setup.apply(conn, lang="en", indexes=False)
        conn.close()
    assert "trigger: created on registro_entradas, channel nueva_entrada_canal" in report.lines
