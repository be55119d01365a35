"""Checks before any libpq connection: ``driver`` (psycopg2 importable), ``resolve`` (the host names resolve),
``port`` (the TCP port or Unix socket accepts a connection: refused vs timed out).

Each check takes the run's :class:`~agent.doctor.context.Context` and returns its :class:`CheckResult`. They
block for at most ``connect_timeout_s`` per address (DNS, TCP).
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

from agent.core.advice import Problem
from agent.core.i18n import tr
from agent.doctor.context import Context
from agent.doctor.report import CheckResult, Status, failed


@dataclass(frozen=True)
class Endpoint:
    host: str  # name, address, or a Unix-socket directory
    port: int
    hostaddr: str = ""

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/") or self.host.startswith("@")


def endpoints(dsn: str) -> list[Endpoint]:
    """The (host, port) pairs libpq would try for ``dsn``, with ``PGHOST``/``PGPORT`` and libpq's defaults
    (PostgreSQL docs, libpq "Parameter Key Words": comma-separated host lists; default Unix socket directory on
    Unix, ``localhost`` on Windows; port 5432). Raises ``ValueError`` for a malformed DSN."""
    from psycopg2.extensions import parse_dsn

    try:
        params = parse_dsn(dsn) if dsn else {}
    except Exception as exc:
        raise ValueError("malformed DSN") from exc
    default_host = "localhost" if sys.platform == "win32" else "/var/run/postgresql"
    hosts = (params.get("host") or os.environ.get("PGHOST") or "").split(",")
    addrs = (params.get("hostaddr") or os.environ.get("PGHOSTADDR") or "").split(",")
    ports = (params.get("port") or os.environ.get("PGPORT") or "").split(",")
    count = max(len(hosts), len(addrs))
    out = []
    for i in range(count):
        host = (hosts[i] if i < len(hosts) else "").strip()
        addr = (addrs[i] if i < len(addrs) else "").strip()
        port_text = (ports[i] if i < len(ports) else ports[-1] if len(ports) == 1 else "").strip()
        port = int(port_text) if port_text.isdigit() else 5432
        out.append(Endpoint(host or (addr if addr else default_host), port, addr))
    return out


def driver(ctx: Context) -> CheckResult:
    """psycopg2 imports; shows its version and libpq's."""
    try:
        mod = importlib.import_module("psycopg2")
    except ImportError as exc:
        return failed("driver", tr("doctor.driver.missing", ctx.lang, error=exc), Problem.DRIVER_MISSING, ctx.lang)
    libpq = getattr(mod, "__libpq_version__", 0)
    version = str(getattr(mod, "__version__", "?")).split(" ")[0]
    libpq_text = f"{libpq // 10000}.{libpq % 10000}" if libpq >= 100000 else str(libpq)
    return CheckResult("driver", Status.OK, tr("doctor.driver.ok", ctx.lang, version=version, libpq=libpq_text))


def resolve(ctx: Context) -> CheckResult:
    """Every host of the DSN resolves (sockets need no resolving); keeps what resolved in ``ctx.endpoints``."""
    lang = ctx.lang
    try:
        eps = endpoints(ctx.target.dsn)
    except ValueError:
        return CheckResult("resolve", Status.FAIL, tr("doctor.dsn.malformed", lang), tr("doctor.dsn.fix", lang))
    failures: list[str] = []
    for ep in eps:
        if ep.is_socket:
            ctx.endpoints.append((ep, []))
            continue
        try:
            infos = socket.getaddrinfo(ep.hostaddr or ep.host, ep.port, type=socket.SOCK_STREAM)
            ctx.endpoints.append((ep, infos))
        except (socket.gaierror, UnicodeError) as exc:
            failures.append(f"{ep.host}: {exc}")
    if not ctx.endpoints:
        return failed("resolve", "; ".join(failures), Problem.UNKNOWN_HOST, lang)
    shown = ", ".join(
        f"{ep.host} → " + " ".join(sorted({str(i[4][0]) for i in infos})) if infos else f"{ep.host} (socket)"
        for ep, infos in ctx.endpoints
    )
    return CheckResult("resolve", Status.OK, shown)


def port(ctx: Context) -> CheckResult:
    """At least one resolved address accepts a TCP connection (or the Unix socket exists and accepts)."""
    lang = ctx.lang
    reached: list[str] = []
    problems: list[tuple[Problem, str]] = []
    timeout = max(2.0, float(ctx.target.connect_timeout_s))
    for ep, infos in ctx.endpoints:
        if ep.is_socket:
            _try_socket(ep, timeout, reached, problems)
            continue
        for family, stype, proto, _canon, addr in infos:
            where = f"{addr[0]}:{ep.port}"
            try:
                with socket.socket(family, stype, proto) as s:
                    s.settimeout(timeout)
                    s.connect(addr)
                reached.append(where)
                break
            except TimeoutError:
                problems.append((Problem.TIMEOUT, tr("doctor.port.timed_out", lang, where=where, seconds=timeout)))
            except ConnectionRefusedError:
                problems.append((Problem.REFUSED, tr("doctor.port.refused", lang, where=where)))
            except OSError as exc:
                problems.append((Problem.TIMEOUT, f"{where}: {exc.strerror or exc}"))
    if reached:
        return CheckResult("port", Status.OK, tr("doctor.port.ok", lang, where=", ".join(reached)))
    problem = Problem.TIMEOUT if any(p is Problem.TIMEOUT for p, _ in problems) else Problem.REFUSED
    tcp_ports = [ep.port for ep, _infos in ctx.endpoints if not ep.is_socket]
    return failed("port", "; ".join(d for _, d in problems), problem, lang, port=tcp_ports[0] if tcp_ports else None)


def _try_socket(ep: Endpoint, timeout: float, reached: list[str], problems: list[tuple[Problem, Any]]) -> None:
    path = os.path.join(ep.host, f".s.PGSQL.{ep.port}")
    if sys.platform == "win32":
        problems.append((Problem.REFUSED, path))
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
        reached.append(path)
    except OSError as exc:
        problems.append((Problem.REFUSED, f"{path}: {exc.strerror or exc}"))
