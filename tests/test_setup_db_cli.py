"""``python -m agent setup-db`` end to end, in a subprocess, against the real server (issue 2)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest
from psycopg2.extensions import encrypt_password

from agent.core import names
from agent.db import demo_data, throwaway
from tests.conftest import Database
from tests.test_sql_kit import (
    ROOT,
    ServerLog,
    drain,
    empty_database,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
    psql_binary,
)

Server = throwaway.ThrowawayPostgres | throwaway.ExternalPostgres


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[str]:
    with empty_database(pg_server) as name:
        yield name


def setup_db(*args: str, stdin: str | None = None, lang: str = "es") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AVISO_LANG": lang}
    return subprocess.run(
        [sys.executable, "-m", "agent", "setup-db", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_end_to_end_setup_then_plain_psql_listen_sees_member_entry(empty_db: str, pg_server: Server) -> None:
    """The issue's "done when": setup-db --schema --demo-data, then a member insert that psql's LISTEN prints."""
    dsn = pg_server.dsn(dbname=empty_db)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:  # roles are cluster-wide: it may exist already
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (names.ROLE,))
        role_existed = cur.fetchone() == (1,)
    proc = setup_db("--dsn", dsn, "--schema", "--demo-data")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "esquema: tablas miembros, registro_entradas creadas",
        f"trigger: creado en registro_entradas, canal {names.DEFAULT_CHANNEL}",
        "rol pos_user: permisos revisados (solo lectura por columna)"
        if role_existed
        else "rol pos_user: creado con permisos de solo lectura por columna",
        f"datos de demostración: {len(demo_data.MEMBERS)} miembros cargados",
    ]

    # A plain psql session: LISTEN, then wait in pg_sleep while another session inserts; psql prints the
    # notification after the next statement completes.
    app = "psql-listen-e2e"
    psql = subprocess.Popen(
        [psql_binary(pg_server), "-X", "-d", dsn, "-c", f"LISTEN {names.DEFAULT_CHANNEL}", "-c", "SELECT pg_sleep(3)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGAPPNAME": app},
    )
    try:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            deadline = time.monotonic() + 10
            while True:  # wait until psql's backend is inside pg_sleep, i.e. its LISTEN is committed
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = %s AND query LIKE 'SELECT pg_sleep%%'",
                    (app,),
                )
                row = cur.fetchone()
                conn.commit()
                if row and row[0]:
                    break
                assert time.monotonic() < deadline, "psql did not start listening"
                time.sleep(0.05)
        big = member_id_by_key(dsn, "big_note")
        plain = member_id_by_key(dsn, "current")
        entry = insert_entry(dsn, plain)
        big_entry = insert_entry(dsn, big)  # the 20 KB member: the turnstile's insert succeeds
        insert_entry(dsn, None, "visitante")
        out, err = psql.communicate(timeout=20)
    finally:
        if psql.poll() is None:
            psql.kill()
            psql.wait()
    assert psql.returncode == 0, err
    notes = [line for line in out.splitlines() if line.startswith("Asynchronous notification")]
    assert len(notes) == 2, out
    assert f'Asynchronous notification "{names.DEFAULT_CHANNEL}" with payload' in notes[0]
    assert f'"id_entrada": {entry},' in notes[0] and "María José" in notes[0]
    assert f'"id_entrada": {big_entry},' in notes[1] and '"truncated": true' in notes[1]

    again = setup_db("--dsn", dsn, "--schema", "--demo-data", lang="en")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "schema: tables already present, unchanged",
        f"trigger: already installed, channel {names.DEFAULT_CHANNEL}, unchanged",
        "role pos_user: already set up (column-level read-only), unchanged",
        "demo data: already loaded, unchanged",
    ]


def member_id_by_key(dsn: str, key: str) -> int:
    member = next(m for m in demo_data.MEMBERS if m.key == key)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id_miembro FROM miembros WHERE nombre = %s", (member.first_name,))
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def test_mixed_case_channel_from_the_command_line(db: Database) -> None:
    proc = setup_db("--dsn", db.admin_dsn(), "--channel", "MiCanal")
    assert proc.returncode == 0, proc.stderr
    assert "trigger: actualizado, canal MiCanal" in proc.stdout.splitlines()
    exact = listen(db.admin_dsn(), "MiCanal")
    folded = listen(db.admin_dsn(), "micanal")
    entry = insert_entry(db.admin_dsn(), member_id(db, "expiring"))
    got = drain(exact, expect=1)
    assert [(c, json.loads(p)["id_entrada"]) for c, p in got] == [("MiCanal", entry)]
    assert drain(folded, timeout=0.3) == []


def test_without_schema_on_empty_database_fails_and_changes_nothing(empty_db: str, pg_server: Server) -> None:
    dsn = pg_server.dsn(dbname=empty_db)
    proc = setup_db("--dsn", dsn, "--demo-data")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "no existe la tabla miembros: use --schema para crear el esquema de referencia"
    assert proc.stdout == ""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (names.TRIGGER_FUNCTION,))
        assert cur.fetchone() == (0,)


def restore_pos_password(db: Database) -> None:
    """pos_user is cluster-wide, shared by every test database: put the session's password back."""
    conn = db.connect_admin()
    verifier = encrypt_password(db.pos_password, names.ROLE, conn, "scram-sha-256")
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {names.ROLE} PASSWORD %s", (verifier,))
    conn.close()


def test_pos_password_from_stdin_works_and_never_reaches_the_server_log(db: Database) -> None:
    try:
        _password_from_stdin(db)
    finally:
        restore_pos_password(db)


def _password_from_stdin(db: Database) -> None:
    log = ServerLog(db.server)
    password = "Clave-ñ-" + os.urandom(6).hex()
    # Log every statement of the setup-db session: even then the clear text must not appear.
    dsn = db.admin_dsn(options="-c log_statement=all -c log_min_error_statement=debug5")
    proc = setup_db("--dsn", dsn, "--pos-password-stdin", stdin=password + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "rol pos_user: contraseña establecida (verificador SCRAM)" in proc.stdout.splitlines()
    assert password not in proc.stdout + proc.stderr
    conn = psycopg2.connect(db.server.dsn(dbname=db.name, user=names.ROLE, password=password))
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (names.ROLE,)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(db.server.dsn(dbname=db.name, user=names.ROLE, password=password + "x"))
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (names.ROLE,))
        row = cur.fetchone()
    assert row is not None and row[0].startswith("SCRAM-SHA-256$4096:")
    if log.available:
        text = log.new_text()
        assert "ALTER ROLE pos_user PASSWORD 'SCRAM-SHA-256$" in text  # the statement was logged...
        assert password not in text  # ...with the verifier, never the clear text
    # The option takes no value: a password can only come from stdin, never from argv.
    bad = setup_db("--dsn", db.admin_dsn(), f"--pos-password-stdin={password}")
    assert bad.returncode == 2


def test_empty_password_is_refused(db: Database) -> None:
    proc = setup_db("--dsn", db.admin_dsn(), "--pos-password-stdin", stdin="\n")
    assert proc.returncode == 1
    assert "vacía" in proc.stderr


def test_connection_failure_is_one_clear_line(pg_server: Server) -> None:
    dsn = pg_server.dsn(dbname="no_existe_esta_base")
    proc = setup_db("--dsn", dsn, lang="en")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Database error:") and "no_existe_esta_base" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_password_prompt_on_a_terminal_is_not_echoed(db: Database) -> None:
    """On a terminal, --pos-password-stdin prompts through getpass (echo off) instead of reading a visible line."""
    try:
        _password_prompt(db)
    finally:
        restore_pos_password(db)


def _password_prompt(db: Database) -> None:
    import pty

    password = "Eco-" + os.urandom(5).hex()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AVISO_LANG": "es"}
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.chdir(ROOT)
        os.execve(  # noqa: S606
            sys.executable,
            [sys.executable, "-m", "agent", "setup-db", "--dsn", db.admin_dsn(), "--pos-password-stdin"],
            env,
        )
    output = b""

    def read_until(needle: bytes, timeout_s: float = 30) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout_s
        while needle not in output:
            assert time.monotonic() < deadline, output
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk

    read_until("Contraseña para pos_user".encode())
    os.write(fd, password.encode() + b"\n")
    read_until("contraseña establecida".encode())
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert password.encode() not in output  # not echoed
    psycopg2.connect(db.server.dsn(dbname=db.name, user=names.ROLE, password=password)).close()


@pytest.mark.parametrize("command", ["setup-db", "simulate"])
@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 port=5432 user=postgres password=my {secret}",  # an unquoted space in the password
        "postgresql://postgres:{secret}%zz@127.0.0.1:5432/torniquete_db",  # a bad percent-escape
        "host=127.0.0.1 password='{secret}",  # an unterminated quote
    ],
)
def test_malformed_dsn_never_prints_the_password(command: str, dsn: str) -> None:
    """libpq's own parse errors quote the DSN (``missing "=" after "secret"``, or the whole URL): the commands
    parse it first (agent.db.connect.connection_kwargs) and say only that it is malformed. No server needed: the
    DSN never gets that far."""
    secret = "Secreto" + os.urandom(4).hex()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AVISO_LANG": "en"}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", command, "--dsn", dsn.format(secret=secret)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 1, proc
    assert secret not in proc.stdout + proc.stderr
    assert "malformed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
