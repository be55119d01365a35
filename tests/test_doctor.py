"""``doctor`` against real servers: the throwaway PostgreSQL (with and without the trigger), a real PgBouncer in
transaction and session pooling, a streaming replica made with ``pg_basebackup``, and sockets that refuse or
black-hole connections. Nothing here is mocked; the only fake is a skewed local clock for the clock check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from agent import doctor
from agent.cli.doctor import diagnose_for_tray
from agent.core import names
from agent.core.advice import Problem
from agent.core.config import ConnectionSettings
from agent.db import setup, throwaway
from agent.doctor import Status, Target
from tests.conftest import Database
from tests.pg_replica import standby_of, unprivileged_owner

ROOT = Path(__file__).resolve().parent.parent
FAST: dict[str, Any] = {"listen_timeout_s": 2.0, "connect_timeout_s": 2}


def pos_target(db: Database, **changes: object) -> Target:
    base = Target(dsn=db.server.dsn(dbname=db.name, user=names.ROLE), password=db.pos_password, **FAST)
    return dataclasses.replace(base, **changes)


def statuses(report: doctor.DoctorReport) -> dict[str, str]:
    return {r.check: r.status.value for r in report.results}


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def table_row(table: str, title: str) -> tuple[str, str]:
    """(result, what to do) of the row ``title`` in a doctor table, wrapped lines joined."""
    result: list[str] = []
    todo: list[str] = []
    inside = False
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|", 2)]
        if len(cells) != 3:
            inside = False
            continue
        if cells[0] == title:
            inside = True
        elif cells[0]:
            inside = False
        if inside:
            result.append(cells[1])
            todo.append(cells[2])
    assert result, f"no row {title!r} in:\n{table}"
    return " ".join(" ".join(result).split()), " ".join(" ".join(todo).split())


def table_digest(db: Database) -> tuple[int, str, int, str]:
    """Row count and md5 of the full contents of both turnstile tables."""
    conn = db.connect_admin()
    try:
        with conn.cursor() as cur:
            out: list[object] = []
            for table in (names.ENTRIES_TABLE, names.MEMBERS_TABLE):
                cur.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
                )
                out.extend(cur.fetchone())
        return tuple(out)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------------------
# the "done when" path: no trigger -> fails and says setup-db; after setup -> passes


def test_without_trigger_fails_and_says_setup_db_then_passes_after_setup(db: Database) -> None:
    admin = db.connect_admin()
    with admin.cursor() as cur:
        cur.execute(f"DROP TRIGGER {names.TRIGGER_NAME} ON {names.ENTRIES_TABLE}")
    admin.close()

    dsn = db.server.dsn(dbname=db.name, user=names.ROLE)
    proc = run_cli("--lang", "en", "doctor", "--dsn", dsn, "--password-stdin", stdin=db.pos_password + "\n")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result, todo = table_row(proc.stdout, "Trigger")
    assert result == "[FAIL] no trigger aviso_nueva_entrada on registro_entradas: no notification will be sent"
    assert todo == "Run 'python -m agent setup-db' on the turnstile (installs or updates the trigger)."
    assert table_row(proc.stdout, "Trigger channel")[0].startswith("[--]")
    assert table_row(proc.stdout, "LISTEN works")[0].startswith("[OK]")

    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn)
    conn.close()

    proc = run_cli("doctor", "--dsn", dsn, "--password-stdin", "--json", stdin=db.pos_password + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    assert data["lang"] == "es"
    by_check = {c["check"]: c for c in data["checks"]}
    assert list(by_check) == list(doctor.CHECKS)
    assert all(c["status"] == "ok" for c in data["checks"]), data
    assert by_check["trigger"]["title"] == "Trigger"
    assert "recibido" in by_check["listen"]["detail"]


def test_healthy_database_every_check_ok(db: Database) -> None:
    report = doctor.run(pos_target(db), lang="en")
    assert report.ok
    assert set(statuses(report).values()) == {"ok"}, report.table()
    assert report.result("auth").detail == "logged in as pos_user"
    assert report.result("channel").detail == f"channel {names.DEFAULT_CHANNEL}, as configured"
    assert report.result("role").detail == "pos_user: read-only on the needed columns"
    assert "Result: everything needed works." in report.table()


def test_doctor_never_writes_to_the_turnstile_tables(db: Database) -> None:
    before = table_digest(db)
    # As the superuser, who *could* write: every doctor query runs in a READ ONLY transaction.
    report = doctor.run(Target(dsn=db.admin_dsn(), **FAST))
    assert report.result("role").status is Status.WARN  # superuser
    assert report.result("listen").status is Status.OK
    assert table_digest(db) == before


def test_disabled_trigger_fails_with_enable_command(db: Database) -> None:
    admin = db.connect_admin()
    with admin.cursor() as cur:
        cur.execute(f"ALTER TABLE {names.ENTRIES_TABLE} DISABLE TRIGGER {names.TRIGGER_NAME}")
    admin.close()
    r = doctor.run(pos_target(db), lang="en").result("trigger")
    assert r.status is Status.FAIL
    assert "disabled" in r.detail
    assert f"ALTER TABLE registro_entradas ENABLE TRIGGER {names.TRIGGER_NAME};" in r.advice


def test_old_or_foreign_trigger_version_fails_and_hand_edit_warns(db: Database) -> None:
    admin = db.connect_admin()
    with admin.cursor() as cur:
        cur.execute(f"COMMENT ON FUNCTION {names.TRIGGER_FUNCTION}() IS 'aviso-entradas trigger, payload v0'")
    report = doctor.run(pos_target(db), lang="en")
    r = report.result("trigger")
    assert r.status is Status.FAIL and "payload v0" in r.detail and "setup-db" in r.advice
    assert not report.ok

    # Same comment as shipped, body edited by hand: a warning, the rest still works.
    with admin.cursor() as cur:
        cur.execute(f"COMMENT ON FUNCTION {names.TRIGGER_FUNCTION}() IS %s", (names.TRIGGER_VERSION_COMMENT,))
        cur.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", (names.TRIGGER_FUNCTION,))
        src = cur.fetchone()[0]
        cur.execute(
            f"CREATE OR REPLACE FUNCTION {names.TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $x${src}\n-- local edit\n$x$"
        )
    admin.close()
    report = doctor.run(pos_target(db), lang="en")
    assert report.result("trigger").status is Status.WARN
    assert "modified by hand" in report.result("trigger").detail
    assert report.ok


def test_missing_table_fails_with_schema_advice(db: Database) -> None:
    admin = db.connect_admin()
    with admin.cursor() as cur:
        cur.execute(f"DROP TABLE {names.ENTRIES_TABLE}")
    admin.close()
    report = doctor.run(pos_target(db), lang="en")
    assert report.result("trigger").status is Status.FAIL
    assert "setup-db --schema" in report.result("trigger").advice
    assert report.result("queries").status is Status.FAIL
    assert "registro_entradas.id_entrada" in report.result("queries").detail


def test_channel_must_match_byte_for_byte(db: Database) -> None:
    report = doctor.run(pos_target(db, channel="Nueva_Entrada_Canal"), lang="en")
    r = report.result("channel")
    assert r.status is Status.FAIL
    assert "differ in letter case" in r.detail
    assert "'nueva_entrada_canal'" in r.detail and "'Nueva_Entrada_Canal'" in r.detail
    assert "exactly as 'nueva_entrada_canal'" in r.advice
    assert not report.ok

    # A trigger installed for a mixed-case channel, agent configured with it: passes, LISTEN quoted correctly.
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, channel="Canal Ñandú")
    conn.close()
    assert doctor.run(pos_target(db, channel="Canal Ñandú")).result("channel").status is Status.OK
    r = doctor.run(pos_target(db, channel="canal ñandú"), lang="en").result("channel")
    assert r.status is Status.FAIL and "letter case" in r.detail
    r = doctor.run(pos_target(db, channel="otro"), lang="en").result("channel")
    assert r.status is Status.FAIL and "letter case" not in r.detail


def test_over_privileged_role_warns_and_missing_grant_fails(db: Database) -> None:
    admin = db.connect_admin()
    with admin.cursor() as cur:
        cur.execute(f"GRANT INSERT ON {names.ENTRIES_TABLE} TO {names.ROLE}")
        cur.execute(f"GRANT SELECT ON {names.MEMBERS_TABLE} TO {names.ROLE}")  # all columns: documento, telefono...
        cur.execute(f"ALTER ROLE {names.ROLE} CREATEDB")  # cluster-wide: taken back below whatever happens
    try:
        report = doctor.run(pos_target(db), lang="en")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"ALTER ROLE {names.ROLE} NOCREATEDB")
    r = report.result("role")
    assert r.status is Status.WARN
    assert "can modify registro_entradas" in r.detail
    assert "documento" in r.detail and "CREATEDB" in r.detail
    assert report.ok  # warnings do not fail
    with admin.cursor() as cur:
        cur.execute(f"REVOKE ALL ON {names.MEMBERS_TABLE} FROM {names.ROLE}")
        cur.execute(f"GRANT SELECT (id_miembro, nombre) ON {names.MEMBERS_TABLE} TO {names.ROLE}")
    admin.close()
    report = doctor.run(pos_target(db), lang="en")
    r = report.result("queries")
    assert r.status is Status.FAIL
    assert r.detail == "cannot read required columns: miembros.apellido"
    assert r.problem is Problem.SCHEMA and "setup-db" in r.advice


def test_clock_skew_warns(db: Database) -> None:
    report = doctor.run(pos_target(db), lang="en", clock=lambda: time.time() - 300)
    r = report.result("clock")
    assert r.status is Status.WARN
    skew = float(r.detail.rsplit(":", 1)[1].strip().removesuffix(" s"))
    assert 295 < skew < 305
    assert "NTP" in r.advice
    assert doctor.run(pos_target(db), clock=time.time).result("clock").status is Status.OK


def test_queue_thresholds() -> None:
    assert doctor.queue_status(0.0) is Status.OK
    assert doctor.queue_status(0.2499) is Status.OK
    assert doctor.queue_status(0.25) is Status.WARN
    assert doctor.queue_status(0.4999) is Status.WARN
    assert doctor.queue_status(0.5) is Status.FAIL


def test_wrong_password_and_missing_database(db: Database) -> None:
    report = doctor.run(pos_target(db, password="not-the-password"), lang="en")
    r = report.result("auth")
    assert r.status is Status.FAIL and r.problem is Problem.AUTH_FAILED
    assert r.detail == 'password authentication failed for user "pos_user"'
    assert "pg_hba.conf" in r.advice
    assert "python -m agent configure --password-stdin" in r.advice  # the fix command, not only "check it"
    assert report.result("database").status is Status.SKIP
    assert report.result("trigger").status is Status.SKIP

    report = doctor.run(Target(dsn=db.server.dsn(dbname="no_such_db_here"), **FAST), lang="en")
    assert statuses(report)["auth"] == "ok"
    r = report.result("database")
    assert r.status is Status.FAIL and r.problem is Problem.NO_DATABASE
    assert "no_such_db_here" in r.detail and "torniquete_db" in r.advice


# ---------------------------------------------------------------------------------------------------------------
# network failures: real sockets


def test_port_refused() -> None:
    port = throwaway.free_port()
    report = doctor.run(Target(dsn=f"host=127.0.0.1 port={port} dbname=x user=y", **FAST))
    r = report.result("port")
    assert r.status is Status.FAIL and r.problem is Problem.REFUSED
    assert f"127.0.0.1:{port}: conexión rechazada" in r.detail
    assert "listen_addresses" in r.advice and "firewall" in r.advice
    assert statuses(report)["resolve"] == "ok"
    assert statuses(report)["auth"] == "skip"


def test_port_advice_names_the_configured_port_not_5432() -> None:
    """The firewall advice used to say "puerto TCP 5432" whatever port was configured."""
    port = throwaway.free_port()
    assert port != 5432
    for lang, words in (("es", f"puerto TCP {port}"), ("en", f"TCP port {port}")):
        report = doctor.run(Target(dsn=f"host=127.0.0.1 port={port} dbname=x user=y", **FAST), lang=lang)
        r = report.result("port")
        assert r.status is Status.FAIL and r.problem is Problem.REFUSED
        assert words in r.advice and "5432" not in r.advice, r.advice
    with full_backlog_listener() as port:
        report = doctor.run(Target(dsn=f"host=127.0.0.1 port={port} dbname=x user=y", connect_timeout_s=2))
    r = report.result("port")
    assert r.problem is Problem.TIMEOUT and f"puerto TCP {port}" in r.advice and "5432" not in r.advice, r.advice


@contextlib.contextmanager
def full_backlog_listener() -> Iterator[int]:
    """A listening socket that never accepts, with its accept queue filled: further SYNs are dropped, so a new
    connect() times out exactly like behind a firewall that drops packets."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        srv.close()


def test_port_timed_out_is_told_apart_from_refused() -> None:
    with full_backlog_listener() as port:
        started = time.monotonic()
        report = doctor.run(Target(dsn=f"host=127.0.0.1 port={port} dbname=x user=y", connect_timeout_s=2))
        elapsed = time.monotonic() - started
    r = report.result("port")
    assert r.status is Status.FAIL and r.problem is Problem.TIMEOUT, report.table()
    assert "sin respuesta en 2 s" in r.detail
    assert "firewall" in r.advice
    assert 1.5 < elapsed < 10


def test_server_that_accepts_but_never_answers_is_a_libpq_timeout() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        report = doctor.run(Target(dsn=f"host=127.0.0.1 port={port} dbname=x user=y", connect_timeout_s=2), lang="en")
    finally:
        srv.close()
    assert report.result("port").status is Status.OK
    r = report.result("auth")
    assert r.status is Status.FAIL and r.problem is Problem.TIMEOUT, report.table()
    assert "timeout expired" in r.detail


def test_unknown_host() -> None:
    report = doctor.run(Target(dsn="host=no-such-host.invalid dbname=x user=y", **FAST), lang="en")
    r = report.result("resolve")
    assert r.status is Status.FAIL and r.problem is Problem.UNKNOWN_HOST
    assert "no-such-host.invalid" in r.detail
    assert statuses(report)["port"] == "skip"


def test_driver_missing_is_reported_not_a_traceback() -> None:
    code = (
        "import sys; sys.modules['psycopg2'] = None\n"
        "from agent.cli import main\n"
        "sys.exit(main(['--lang', 'en', 'doctor', '--dsn', 'host=127.0.0.1 dbname=x', '--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    driver = data["checks"][0]
    assert driver["check"] == "driver" and driver["status"] == "fail" and driver["problem"] == "driver_missing"
    assert "pip install psycopg2-binary" in driver["advice"]
    assert all(c["status"] == "skip" for c in data["checks"][1:])


def test_tray_function(db: Database) -> None:
    settings = ConnectionSettings(host="127.0.0.1", port=db.server.port, database=db.name)
    ok = diagnose_for_tray(settings, db.pos_password, lang="en")
    assert ok.ok and ok.summary == "Diagnosis: everything works (0 warnings)."
    assert "LISTEN works" in ok.table
    bad = diagnose_for_tray(settings, "wrong", lang="es")
    assert not bad.ok
    assert bad.summary.startswith("Diagnóstico: falla «Autenticación» (1 en total). El servidor rechazó")


# ---------------------------------------------------------------------------------------------------------------
# PgBouncer (Debian package) in transaction and session pooling


@dataclass
class Bouncer:
    port: int
    proc: subprocess.Popen[bytes]
    logfile: Path


@contextlib.contextmanager
def pgbouncer(server: throwaway.ThrowawayPostgres, pos_password: str, pool_mode: str) -> Iterator[Bouncer]:
    exe = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if exe is None:
        pytest.skip("pgbouncer is not installed (build/dev.sh installs the Debian package as root)")
    workdir = Path(tempfile.mkdtemp(prefix="aviso-pgbouncer-"))
    port = throwaway.free_port()
    (workdir / "userlist.txt").write_text(f'"{names.ROLE}" "{pos_password}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {workdir}/userlist.txt\n"
        f"pool_mode = {pool_mode}\n"
        f"logfile = {workdir}/pgbouncer.log\n"
    )
    cmd = [exe, str(workdir / "pgbouncer.ini")]
    owner = unprivileged_owner(server)
    if owner is not None:
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
        for f in workdir.iterdir():
            os.chown(f, owner.pw_uid, owner.pw_gid)
        os.chmod(workdir / "userlist.txt", 0o600)
        cmd = ["runuser", "-u", owner.pw_name, "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (
                    (workdir / "pgbouncer.log").read_text(errors="replace")
                    if (workdir / "pgbouncer.log").exists()
                    else ""
                )
                raise RuntimeError(f"pgbouncer did not start: {log[-2000:]}")
            time.sleep(0.05)
        yield Bouncer(port, proc, workdir / "pgbouncer.log")
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _need_throwaway(db: Database) -> throwaway.ThrowawayPostgres:
    if not isinstance(db.server, throwaway.ThrowawayPostgres):
        pytest.skip("needs a throwaway server (AVISO_PG_DSN points at an external one)")
    return db.server


def test_pgbouncer_transaction_pooling_fails_on_listen_with_the_reason(db: Database) -> None:
    server = _need_throwaway(db)
    with pgbouncer(server, db.pos_password, "transaction") as bouncer:
        dsn = f"host=127.0.0.1 port={bouncer.port} dbname={db.name} user={names.ROLE}"
        report = doctor.run(Target(dsn=dsn, password=db.pos_password, **FAST), lang="en")
        proc = run_cli("doctor", "--dsn", dsn, "--password-stdin", stdin=db.pos_password + "\n")
        assert "PgBouncer" in bouncer.logfile.read_text(errors="replace")  # it really went through PgBouncer
    st = statuses(report)
    assert st["auth"] == "ok" and st["trigger"] == "ok" and st["queries"] == "ok", report.table()
    r = report.result("listen")
    assert r.status is Status.FAIL and r.problem is Problem.POOLER
    assert "did not arrive within 2 s" in r.detail
    assert f"The server listens on port {server.port} and you connect to {bouncer.port}" in r.detail
    assert "pool_mode = session" in r.advice
    assert not report.ok
    assert proc.returncode == 1
    result, todo = table_row(proc.stdout, "LISTEN funciona")
    assert result.startswith("[FALLA] el aviso de prueba (NOTIFY en un canal privado) no llegó")
    assert "agrupador de conexiones (PgBouncer" in todo


def test_pgbouncer_session_pooling_listen_works(db: Database) -> None:
    """The LISTEN check is not "fail whenever PgBouncer is there": session pooling keeps LISTEN working."""
    server = _need_throwaway(db)
    with pgbouncer(server, db.pos_password, "session") as bouncer:
        dsn = f"host=127.0.0.1 port={bouncer.port} dbname={db.name} user={names.ROLE}"
        report = doctor.run(Target(dsn=dsn, password=db.pos_password, **FAST), lang="en")
    assert report.result("listen").status is Status.OK, report.table()
    assert report.ok


# ---------------------------------------------------------------------------------------------------------------
# a streaming replica (pg_basebackup of a throwaway primary)


def test_read_replica_recommends_poll_mode_and_passes_in_poll_mode(pos_password: str) -> None:
    """A hot standby cannot LISTEN: in notify mode doctor says so and recommends poll mode (issue 12 item 4:
    a warning, not a failure); in poll mode the notify checks are skipped and the report passes. setup-db refuses
    to run there (it must run on the primary)."""
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs throwaway servers (AVISO_PG_DSN points at an external one)")
    with throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")) as primary:
        admin = psycopg2.connect(primary.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE torniquete_db")
        admin.close()
        conn = psycopg2.connect(primary.dsn(dbname="torniquete_db"))
        setup.apply(conn, schema=True, pos_password=pos_password, demo_data=True)
        conn.close()
        with standby_of(primary) as port:
            dsn = f"host=127.0.0.1 port={port} dbname=torniquete_db user={names.ROLE}"
            throwaway.wait_until_accepting(f"{dsn} password={pos_password}", 30)
            report = doctor.run(Target(dsn=dsn, password=pos_password, **FAST), lang="en")
            polled = doctor.run(Target(dsn=dsn, password=pos_password, mode="poll", **FAST), lang="en")
            standby_admin = psycopg2.connect(f"host=127.0.0.1 port={port} dbname=torniquete_db user=postgres")
            with pytest.raises(setup.SetupError, match="replica"):
                setup.apply(standby_admin, lang="en")
            standby_admin.close()
    assert report.result("trigger").status is Status.OK, report.table()  # the catalog is replicated too
    r = report.result("listen")
    assert r.status is Status.WARN, report.table()
    assert "replica (hot standby)" in r.detail and "cannot LISTEN" in r.detail
    assert "poll mode" in r.advice and "connection.mode = poll" in r.advice
    assert report.ok, report.table()
    assert [polled.result(c).status for c in ("trigger", "channel", "partitions", "listen")] == [Status.SKIP] * 4
    assert "poll mode" in polled.result("listen").detail
    assert polled.result("queries").status is Status.OK, polled.table()
    assert polled.result("indexes").status is Status.OK, polled.table()
    assert polled.ok, polled.table()


def test_cli_without_dsn_checks_the_configured_server(db: Database, tmp_path: Path) -> None:
    """No --dsn: the settings (here from AVISO_* variables, no files) and the keyring (memory twin, empty, so the
    password comes from stdin); the configured channel is used, and a wrong one is caught."""
    env = {
        "AVISO_CONFIG_FILE": str(tmp_path / "none-user.toml"),
        "AVISO_MACHINE_CONFIG_FILE": str(tmp_path / "none-machine.toml"),
        "AVISO_CREDENTIALS": "memory",
        "AVISO_CONNECTION_HOST": "127.0.0.1",
        "AVISO_CONNECTION_PORT": str(db.server.port),
        "AVISO_CONNECTION_DATABASE": db.name,
        "AVISO_CONNECTION_USER": names.ROLE,
    }
    proc = run_cli("doctor", "--json", "--password-stdin", stdin=db.pos_password + "\n", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["check"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["auth"]["detail"] == "conectado como pos_user"
    assert checks["database"]["detail"] == f"{db.name} existe"

    proc = run_cli(
        "doctor", "--json", "--password-stdin", stdin=db.pos_password + "\n",
        env={**env, "AVISO_CONNECTION_CHANNEL": "Otro_Canal"},
    )  # fmt: skip
    assert proc.returncode == 1
    checks = {c["check"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["channel"]["status"] == "fail" and "'Otro_Canal'" in checks["channel"]["detail"]

    proc = run_cli("doctor", env={**env, "AVISO_CONNECTION_PORT": "not-a-port"})
    assert proc.returncode == 2
    assert "AVISO_CONNECTION_PORT" in proc.stderr


def test_unix_socket_connection(db: Database) -> None:
    """host = a directory: the port check opens the socket file itself; TLS is not needed there."""
    server = _need_throwaway(db)
    if sys.platform == "win32":
        pytest.skip("no Unix-domain sockets")
    socket_dir = server.datadir.parent  # the throwaway cluster's unix_socket_directories
    dsn = f"host={socket_dir} port={server.port} dbname={db.name} user={names.ROLE}"
    report = doctor.run(Target(dsn=dsn, password=db.pos_password, **FAST), lang="en")
    assert report.ok, report.table()
    assert report.result("port").detail == f"connects to {socket_dir}/.s.PGSQL.{server.port}"
    assert report.result("tls").detail == f"no TLS, local connection ({socket_dir}): not needed"
    missing = doctor.run(Target(dsn=f"host={socket_dir} port=1 dbname=x", **FAST), lang="en").result("port")
    assert missing.status is Status.FAIL and missing.problem is Problem.REFUSED


def test_tray_function_without_the_driver() -> None:
    code = (
        "import sys; sys.modules['psycopg2'] = None\n"
        "from agent.cli.doctor import diagnose_for_tray\n"
        "from agent.core.config import ConnectionSettings\n"
        "d = diagnose_for_tray(ConnectionSettings(host='127.0.0.1'), None, lang='en')\n"
        "print(d.ok); print(d.summary)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ok, summary = proc.stdout.splitlines()[:2]
    assert ok == "False"
    assert summary.startswith("Diagnosis: 'psycopg2 driver' failed (1 in total). The PostgreSQL driver (psycopg2)")
