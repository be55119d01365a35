"""A real PostgreSQL with no set-up, for the demo, the tests and the benchmarks.

Two ways to get one:

* :class:`ThrowawayPostgres` — a new cluster in a temporary directory, started with ``initdb`` + ``pg_ctl`` from
  either the machine's server binaries (``/usr/lib/postgresql/<major>/bin``, or ``pg_config --bindir``) or the
  ones shipped inside the ``pgserver`` wheel (PostgreSQL 16). ``initdb`` and ``pg_ctl`` refuse to run as root
  (PostgreSQL docs, "Creating a Database Cluster"), so as root they run through ``runuser -u <user>`` as the
  ``postgres`` system user, or a system user ``aviso-pg`` created with ``useradd`` when there is none. It listens
  on 127.0.0.1 only, on a free port, with ``fsync=off`` (a throwaway cluster must not be slow). The superuser
  ``postgres`` needs no password from loopback; every other role authenticates with SCRAM over TCP, so
  wrong-password paths are real. ``stop()`` removes the directory: nothing is left behind.
* :class:`ExternalPostgres` — a server someone else runs, named by a superuser DSN in ``AVISO_PG_DSN``.

:func:`from_environment` picks one: ``AVISO_PG_DSN`` if set, else a throwaway cluster from ``AVISO_PG_BACKEND``
(``system``, ``pgserver``, or ``auto`` = system binaries when present, else pgserver).

Thread safety: one thread drives a server object; ``dsn()`` may be called from any thread.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Protocol

from psycopg2.extensions import make_dsn


class ServerError(RuntimeError):
    """The throwaway server could not be created, started or stopped; the message quotes the server log."""


class Postgres(Protocol):
    """What the demo and the tests need from a server."""

    host: str
    port: int
    can_restart: bool

    def dsn(self, dbname: str = "postgres", user: str = "postgres", **extra: str | int) -> str: ...
    def restart(self, mode: str = "fast") -> None: ...
    def stop(self) -> None: ...


def _bindir_system() -> Path | None:
    env = os.environ.get("AVISO_PG_BINDIR")
    if env:
        return Path(env)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _bindir_pgserver() -> Path | None:
    try:
        import pgserver  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return path if (path / "pg_ctl").exists() or (path / "pg_ctl.exe").exists() else None


def find_bindir(backend: str = "auto") -> Path:
    """Directory holding ``initdb``/``pg_ctl``/``postgres`` for ``backend`` (``system``, ``pgserver``, ``auto``).

    Raises :class:`ServerError` naming what to install when none is found.
    """
    if backend not in ("auto", "system", "pgserver"):
        raise ServerError(f"unknown AVISO_PG_BACKEND {backend!r}: use system, pgserver or auto")
    found = None
    if backend in ("auto", "system"):
        found = _bindir_system()
    if found is None and backend in ("auto", "pgserver"):
        found = _bindir_pgserver()
    if found is None:
        raise ServerError(
            "no PostgreSQL server binaries found: install the 'pgserver' wheel (pip install pgserver) "
            "or Debian's postgresql package, or set AVISO_PG_DSN to an existing server"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return sys.platform != "win32" and os.geteuid() == 0


def _service_user() -> str:
    """The unprivileged user that runs the server when we are root (created if missing)."""
    if sys.platform == "win32":
        raise ServerError("no service user on Windows")
    for name in ("postgres", "aviso-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "aviso-pg"],
        check=True,
        capture_output=True,
    )
    return "aviso-pg"


class ThrowawayPostgres:
    """A private PostgreSQL cluster; see the module docstring. Use as a context manager or call start()/stop()."""

    can_restart = True

    def __init__(self, backend: str = "auto", *, settings: dict[str, str] | None = None) -> None:
        self.bindir = find_bindir(backend)
        self.backend = backend
        self.host = "127.0.0.1"
        self.port = free_port()
        self._user = _service_user() if _is_root() else None
        self._root = Path(tempfile.mkdtemp(prefix="aviso-pg-"))
        self.datadir = self._root / "data"
        self.logfile = self._root / "server.log"
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
            "log_line_prefix": "%m [%p] ",
            # SCRAM verifiers for ALTER ROLE ... PASSWORD: the default before PostgreSQL 14 was md5, which the
            # scram-sha-256 lines of pg_hba.conf below would refuse.
            "password_encryption": "scram-sha-256",
        }
        if sys.platform != "win32":
            self.settings["unix_socket_directories"] = str(self._root)
        self.settings.update(settings or {})
        self._started = False

    # -- process helpers -------------------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self._root)
        if check and proc.returncode != 0:
            raise ServerError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.log_tail()}")
        return proc

    def _make_accessible(self) -> None:
        """As root: give the service user the temp dir, and binaries it can execute (copy them if it cannot)."""
        if not self._user:
            return
        if sys.platform == "win32":
            return
        entry = pwd.getpwnam(self._user)
        os.chown(self._root, entry.pw_uid, entry.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", self._user, "--", str(self.bindir / "postgres"), "--version"], capture_output=True
        )
        if probe.returncode != 0:
            # e.g. a venv under /root (mode 700): copy the whole install tree where the user can read it.
            copy = self._root / "pginstall"
            shutil.copytree(self.bindir.parent, copy, symlinks=True)
            subprocess.run(["chown", "-R", f"{entry.pw_uid}:{entry.pw_gid}", str(copy)], check=True)
            self.bindir = copy / "bin"

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server log ('' when there is none)."""
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_text(self) -> str:
        """The whole server log so far."""
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> ThrowawayPostgres:
        """initdb (first time) and start; returns self. Raises :class:`ServerError` with the log on failure.

        A failed first start leaves nothing behind (no process, no directory): the error is raised after cleanup.
        """
        first = not self.datadir.exists()
        try:
            self._create_and_start() if first else self._start_process()
        except BaseException:
            if first:
                self._discard()
            raise
        return self

    def _discard(self) -> None:
        """After a failed first start: stop whatever may run (``pg_ctl -t`` can time out on a live server), delete."""
        if self.datadir.exists():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.datadir), check=False)
        self._started = False
        shutil.rmtree(self._root, ignore_errors=True)

    def _create_and_start(self) -> None:
        if not self.datadir.exists():
            self._make_accessible()
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            (self.datadir / "pg_hba.conf").write_text(
                "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
            )
            with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write("\n# aviso-entradas throwaway cluster\n")
                conf.writelines(f"{k} = '{v}'\n" for k, v in self.settings.items())
            atexit.register(self.stop)
        self._start_process()

    def _start_process(self) -> None:
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.logfile))
        self._started = True

    def restart(self, mode: str = "fast") -> None:
        """Stop with ``mode`` (``smart``/``fast``/``immediate``, PostgreSQL docs "pg_ctl") and start again."""
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.datadir))
        self._start_process()

    def stop_server_only(self, mode: str = "fast") -> None:
        """Stop the server but keep the cluster so :meth:`start_again` can bring it back (chaos tests)."""
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.datadir))
        self._started = False

    def start_again(self) -> None:
        """Start a cluster stopped by :meth:`stop_server_only` on the same port."""
        self._start_process()

    def stop(self) -> None:
        """Stop the server (fast) and delete the cluster. Idempotent; never raises."""
        if self._started:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.datadir), check=False)
            self._started = False
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, dbname: str = "postgres", user: str = "postgres", **extra: str | int) -> str:
        """libpq conninfo string for ``user`` on ``dbname`` over TCP loopback (no password inside)."""
        params = {"host": self.host, "port": str(self.port), "dbname": dbname, "user": user}
        params.update({k: str(v) for k, v in extra.items()})
        return make_dsn(**params)

    def __repr__(self) -> str:
        return f"ThrowawayPostgres(bindir={str(self.bindir)!r}, port={self.port})"


class ExternalPostgres:
    """A server named by a superuser DSN (``AVISO_PG_DSN``); it cannot be restarted by us."""

    can_restart = False

    def __init__(self, dsn: str) -> None:
        from psycopg2.extensions import parse_dsn

        self._params = parse_dsn(dsn)
        self.host = self._params.get("host", "localhost")
        self.port = int(self._params.get("port", 5432))

    def dsn(self, dbname: str = "postgres", user: str | None = None, **extra: str | int) -> str:
        params: dict[str, str] = dict(self._params)
        params["dbname"] = dbname
        if user is not None and user != params.get("user"):
            params["user"] = user
            params.pop("password", None)
        params.update({k: str(v) for k, v in extra.items()})
        return make_dsn(**params)

    def restart(self, mode: str = "fast") -> None:
        raise ServerError("an external server (AVISO_PG_DSN) cannot be restarted by the agent")

    def stop(self) -> None:
        """Nothing to do: the server is not ours."""

    def __repr__(self) -> str:
        return f"ExternalPostgres(host={self.host!r}, port={self.port})"


def from_environment() -> ThrowawayPostgres | ExternalPostgres:
    """An external server if ``AVISO_PG_DSN`` is set, else a started :class:`ThrowawayPostgres`."""
    dsn = os.environ.get("AVISO_PG_DSN")
    if dsn:
        return ExternalPostgres(dsn)
    return ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")).start()


def wait_until_accepting(dsn: str, timeout_s: float = 30.0) -> None:
    """Block until a connection to ``dsn`` succeeds; raise :class:`ServerError` after ``timeout_s`` seconds."""
    import psycopg2

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg2.connect(dsn, connect_timeout=2).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ServerError(f"server not accepting connections after {timeout_s} s: {exc}") from exc
            time.sleep(0.05)
