"""The throwaway PostgreSQL (agent.db.throwaway): real start, auth, restart, clean stop with no leftovers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg2
import pytest

from agent.db import throwaway

BACKEND = os.environ.get("AVISO_PG_BACKEND", "auto")


def _process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (stopped, not yet reaped by PID 1 in a container) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(os.environ.get("AVISO_PG_DSN") is not None, reason="tests use an external server")
def test_throwaway_server_life_cycle() -> None:
    server = throwaway.ThrowawayPostgres(BACKEND)
    expected_major = 16 if server.bindir.parts[-3:-1] == ("pgserver", "pginstall") else None
    if expected_major is None and server.bindir.parts[-3] == "postgresql":
        expected_major = int(server.bindir.parts[-2])  # /usr/lib/postgresql/<major>/bin
    if BACKEND in ("system", "pgserver") and not os.environ.get("AVISO_PG_BINDIR"):
        assert expected_major is not None, server.bindir
    with server:
        root = server.datadir.parent
        pid = int((server.datadir / "postmaster.pid").read_text().splitlines()[0])
        assert _process_alive(pid)
        # The superuser needs no password over loopback; the server listens on 127.0.0.1 only.
        with psycopg2.connect(server.dsn()) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('server_version_num')::int / 10000, current_setting('listen_addresses')"
            )
            major, listen_addresses = cur.fetchone()  # type: ignore[misc]
            assert listen_addresses == "127.0.0.1"
            if expected_major is not None:
                assert major == expected_major
            cur.execute("CREATE ROLE probe LOGIN PASSWORD 'correcta'")
        # Every other role authenticates with SCRAM: a wrong password is really refused.
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(server.dsn(user="probe", password="incorrecta"))
        psycopg2.connect(server.dsn(user="probe", password="correcta")).close()
        with psycopg2.connect(server.dsn()) as conn, conn.cursor() as cur:
            cur.execute("DO $$ BEGIN RAISE WARNING 'marca-%', 42; END $$")
        assert "WARNING:  marca-42" in _wait_for_log(server, "marca-42")
        server.restart()
        new_pid = int((server.datadir / "postmaster.pid").read_text().splitlines()[0])
        assert new_pid != pid and not _process_alive(pid)
        psycopg2.connect(server.dsn()).close()
        pid = new_pid
    # Stopped: process gone, port closed, directory removed; stop() again is harmless.
    assert not _process_alive(pid)
    assert not _port_open(server.port)
    assert not root.exists()
    server.stop()


def _wait_for_log(server: throwaway.ThrowawayPostgres, needle: str, timeout_s: float = 5.0) -> str:
    import time

    deadline = time.monotonic() + timeout_s
    while needle not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log_text()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(throwaway.ServerError, match="unknown AVISO_PG_BACKEND"):
        throwaway.find_bindir("oracle")


def test_external_server_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVISO_PG_DSN", "host=db.example.invalid port=6543 user=admin password=s3cr3t dbname=postgres")
    server = throwaway.from_environment()
    assert isinstance(server, throwaway.ExternalPostgres)
    assert (server.host, server.port, server.can_restart) == ("db.example.invalid", 6543, False)
    params = psycopg2.extensions.parse_dsn(server.dsn(dbname="torniquete_db"))
    assert params == {
        "host": "db.example.invalid",
        "port": "6543",
        "user": "admin",
        "password": "s3cr3t",
        "dbname": "torniquete_db",
    }
    # Another user must not inherit the superuser's password.
    other = psycopg2.extensions.parse_dsn(server.dsn(dbname="x", user="pos_user", password="otra"))
    assert other["user"] == "pos_user" and other["password"] == "otra"
    assert "password" not in psycopg2.extensions.parse_dsn(server.dsn(user="pos_user"))
    assert "s3cr3t" not in repr(server)
    with pytest.raises(throwaway.ServerError):
        server.restart()
    server.stop()  # not ours: nothing happens


@pytest.mark.skipif(os.environ.get("AVISO_PG_DSN") is not None, reason="tests use an external server")
def test_failed_start_leaves_nothing_behind() -> None:
    server = throwaway.ThrowawayPostgres(BACKEND, settings={"shared_buffers": "not-a-size"})
    root = server.datadir.parent
    with pytest.raises(throwaway.ServerError, match="pg_ctl failed") as excinfo, server:
        pass
    assert "shared_buffers" in str(excinfo.value)  # the message quotes the server log
    assert not root.exists()
    assert not _port_open(server.port)
