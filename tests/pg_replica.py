"""A hot-standby replica of a throwaway primary, made with ``pg_basebackup`` (moved here from
``tests/test_doctor.py`` so the engine's poll-mode tests and the doctor tests share one helper)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from agent.db import throwaway


def unprivileged_owner(server: throwaway.ThrowawayPostgres) -> pwd.struct_passwd | None:
    """The system user that runs the throwaway server when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(server.datadir.stat().st_uid)


@contextlib.contextmanager
def standby_of(primary: throwaway.ThrowawayPostgres) -> Iterator[int]:
    """Start a hot standby of ``primary`` on a new port (streaming replication); yields the port."""
    admin = psycopg2.connect(primary.dsn())
    admin.autocommit = True
    with open(primary.datadir / "pg_hba.conf", "a", encoding="utf-8") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    with admin.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
    admin.close()
    owner = unprivileged_owner(primary)
    root = Path(tempfile.mkdtemp(prefix="aviso-standby-"))
    data = root / "data"
    port = throwaway.free_port()
    prefix: list[str] = []
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", owner.pw_name, "--"]
    bindir = primary.bindir

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60, cwd=root)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr}")

    started = False
    try:
        run(str(bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(data), "-R", "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        with open(data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = '{port}'\nunix_socket_directories = '{root}'\nhot_standby = on\n")
        if owner is not None:
            os.chown(data / "postgresql.auto.conf", owner.pw_uid, owner.pw_gid)
        run(str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(root / "standby.log"))
        started = True
        yield port
    finally:
        if started:
            with contextlib.suppress(Exception):
                run(str(bindir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(data))
        shutil.rmtree(root, ignore_errors=True)


def wait_replayed(primary_dsn: str, standby_dsn: str, timeout_s: float = 20.0) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with psycopg2.connect(primary_dsn) as p, p.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        (target,) = cur.fetchone()  # type: ignore[misc]
    p.close()
    deadline = time.monotonic() + timeout_s
    while True:
        s = psycopg2.connect(standby_dsn)
        with s.cursor() as cur:
            cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
            (done,) = cur.fetchone()  # type: ignore[misc]
        s.close()
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the standby did not catch up")
        time.sleep(0.1)
