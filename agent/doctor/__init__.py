"""``doctor``: the seed's troubleshooting list as automatic checks against the configured turnstile database.

:func:`run` goes through the checks in order, from the PC outwards, and returns a :class:`DoctorReport`: one
:class:`CheckResult` per check (``ok`` / ``warn`` / ``fail`` / ``skip``) with a translated result and, unless
``ok``, what to do. A check whose prerequisite failed is ``skip``. The report fails when any check fails; warnings
(over-privileged role, TLS off, clock skew) do not fail it.

Checks (keys): ``driver`` (psycopg2 importable), ``resolve`` (host name resolves), ``port`` (TCP port reachable:
refused vs timed out), ``tls_handshake`` / ``auth`` / ``database`` (one libpq connection attempt, classified),
``server_version``, ``trigger`` (exists on ``registro_entradas``, enabled, is the version we ship),
``channel`` (the trigger's channel equals ours byte for byte), ``listen`` (a LISTEN on a private channel receives a
NOTIFY sent from a second connection: fails behind PgBouncer in transaction/statement pooling and on hot standbys),
``queries`` (the role can run the agent's queries), ``role`` (not superuser, cannot write, cannot read the sensitive
columns), ``tls`` (TLS in use and the server verified), ``clock`` (skew between this PC and the server),
``queue`` (``pg_notification_queue_usage()``).

``doctor`` never writes to the turnstile's tables: every query runs in a ``READ ONLY`` transaction (the server
refuses writes there, PostgreSQL docs "SET TRANSACTION"); the LISTEN self-test uses a private random channel,
never the turnstile's, so no agent sees it.

Which thread: any thread that may block for a few seconds (network); the tray runs it on a worker thread and
shows :meth:`DoctorReport.table`. It opens and closes its own connections.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import secrets
import select
import socket
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.core import names
from agent.core.advice import Problem, classify, explain
from agent.core.config import ConnectionSettings
from agent.core.i18n import tr

CLOCK_SKEW_WARN_S = 30.0
"""Above this many seconds between the PC's and the server's clocks, warn (entry times and "ago" texts drift)."""
QUEUE_WARN = 0.25
QUEUE_FAIL = 0.5
"""At half full the trigger stops sending notifications (``sql/setup_postgres_trigger.sql``)."""
MIN_SERVER_VERSION_NUM = 120000
"""The trigger is written for PostgreSQL 12-17 (``sql/setup_postgres_trigger.sql``)."""
LISTEN_TIMEOUT_S = 3.0

CHECKS = (
    "driver",
    "resolve",
    "port",
    "tls_handshake",
    "auth",
    "database",
    "server_version",
    "trigger",
    "channel",
    "listen",
    "queries",
    "role",
    "tls",
    "clock",
    "queue",
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. ``detail`` and ``advice`` are translated; ``advice`` is '' when nothing to do."""

    check: str
    status: Status
    detail: str
    advice: str = ""
    problem: Problem | None = None


@dataclass(frozen=True)
class DoctorReport:
    """All results, in :data:`CHECKS` order. ``lang`` is the language of the texts."""

    results: tuple[CheckResult, ...]
    lang: str = "es"

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(r.status is not Status.FAIL for r in self.results)

    def result(self, check: str) -> CheckResult:
        """The result of ``check`` (a key of :data:`CHECKS`); ``KeyError`` when it did not run."""
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(check)

    def to_json(self) -> dict[str, Any]:
        """``{"ok": bool, "lang": str, "checks": [{"check", "title", "status", "detail", "advice", "problem"}]}``."""
        return {
            "ok": self.ok,
            "lang": self.lang,
            "checks": [
                {
                    "check": r.check,
                    "title": tr(f"doctor.check.{r.check}", self.lang),
                    "status": r.status.value,
                    "detail": r.detail,
                    "advice": r.advice,
                    "problem": r.problem.value if r.problem else None,
                }
                for r in self.results
            ],
        }

    def table(self, width: int = 110) -> str:
        """The report as a plain-text table: check | result | what to do, then a one-line verdict."""
        rows = [
            (
                tr(f"doctor.check.{r.check}", self.lang),
                tr(f"doctor.status.{r.status.value}", self.lang) + " " + r.detail,
                r.advice,
            )
            for r in self.results
        ]
        head = (tr("doctor.col.check", self.lang), tr("doctor.col.result", self.lang), tr("doctor.col.todo", self.lang))
        w0 = max(len(head[0]), *(len(r[0]) for r in rows))
        rest = max(40, width - w0 - 3)
        w1 = rest * 2 // 5
        w2 = rest - w1 - 3
        lines = [f"{head[0]:<{w0}} | {head[1]:<{w1}} | {head[2]}", f"{'-' * w0}-+-{'-' * w1}-+-{'-' * w2}"]
        for c0, c1, c2 in rows:
            col1 = textwrap.wrap(c1, w1) or [""]
            col2 = textwrap.wrap(c2, w2) or [""]
            for i in range(max(len(col1), len(col2))):
                a = c0 if i == 0 else ""
                b = col1[i] if i < len(col1) else ""
                c = col2[i] if i < len(col2) else ""
                lines.append(f"{a:<{w0}} | {b:<{w1}} | {c}".rstrip())
        lines.append("")
        lines.append(tr("doctor.verdict.ok" if self.ok else "doctor.verdict.fail", self.lang))
        return "\n".join(lines)

    def summary(self) -> str:
        """One or two sentences for a tray balloon: all fine, or the first failure and what to do."""
        failed = [r for r in self.results if r.status is Status.FAIL]
        if not failed:
            warns = sum(1 for r in self.results if r.status is Status.WARN)
            return tr("doctor.summary.ok", self.lang, warnings=warns)
        first = failed[0]
        return tr(
            "doctor.summary.fail",
            self.lang,
            count=len(failed),
            check=tr(f"doctor.check.{first.check}", self.lang),
            advice=first.advice or first.detail,
        )


@dataclass(frozen=True)
class Target:
    """What to check. ``dsn``: libpq conninfo/URL ('' = ``PG*`` environment); the password is separate.

    ``sslmode``/``sslrootcert`` override the DSN's when set. ``listen_timeout_s``: how long the LISTEN self-test
    waits for its NOTIFY (seconds).
    """

    dsn: str = ""
    password: str | None = field(default=None, repr=False)
    channel: str = names.DEFAULT_CHANNEL
    sslmode: str | None = None
    sslrootcert: str | None = None
    connect_timeout_s: int = 5
    listen_timeout_s: float = LISTEN_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: ConnectionSettings, password: str | None) -> Target:
        """The target the agent itself would connect to (``settings`` from the configuration)."""
        params = {"host": settings.host, "port": str(settings.port), "dbname": settings.database, "user": settings.user}
        dsn = " ".join(f"{k}={conninfo_quote(v)}" for k, v in params.items() if v)
        return cls(
            dsn=dsn,
            password=password,
            channel=settings.channel,
            sslmode=settings.sslmode or None,
            sslrootcert=settings.sslrootcert or None,
            connect_timeout_s=settings.connect_timeout_s,
        )


# --------------------------------------------------------------------------------------------------------------
# helpers


def conninfo_quote(value: str) -> str:
    """``value`` as a libpq conninfo value: single-quoted, ``\\`` and ``'`` escaped (PostgreSQL docs, libpq
    "Keyword/Value Connection Strings"). Pure; no psycopg2 needed (the tray may call doctor without the driver)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class _Endpoint:
    host: str  # name, address, or a Unix-socket directory
    port: int
    hostaddr: str = ""

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/") or self.host.startswith("@")


def endpoints(dsn: str) -> list[_Endpoint]:
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
        out.append(_Endpoint(host or (addr if addr else default_host), port, addr))
    return out


def _skip(check: str, lang: str) -> CheckResult:
    return CheckResult(check, Status.SKIP, tr("doctor.skipped", lang))


def _fail(check: str, detail: str, problem: Problem, lang: str) -> CheckResult:
    return CheckResult(check, Status.FAIL, detail, explain(problem, lang), problem)


@contextlib.contextmanager
def _read_only(conn: Any) -> Iterator[Any]:
    """A cursor inside a ``READ ONLY`` transaction that is rolled back afterwards (nothing can be written).

    The connection stays out of autocommit: psycopg2 then opens each transaction with ``BEGIN READ ONLY``
    instead of a session-wide ``SET default_transaction_read_only`` that would leak into a pooler's server
    connection."""
    if conn.autocommit:
        conn.autocommit = False
    conn.set_session(readonly=True)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()


def _shipped_function_source() -> str | None:
    """The trigger function body of ``sql/setup_postgres_trigger.sql`` (what ``setup-db`` installs)."""
    from agent.db import setup

    m = re.search(
        r"FUNCTION\s+" + re.escape(names.TRIGGER_FUNCTION) + r"\(\).*?AS\s+\$(\w*)\$(.*?)\$\1\$",
        setup.trigger_sql(),
        re.DOTALL | re.IGNORECASE,
    )
    return m.group(2) if m else None


def _adapt_to_columns(source: str, present: set[tuple[str, str]]) -> str:
    """The shipped body as the install's DO block adapts it to a schema lacking optional display columns
    (``sql/setup_postgres_trigger.sql``: ``NEW.<col>`` / ``m.<col>`` read as ``NULL::text``)."""
    for col in ("torniquete", "resultado"):
        if (names.ENTRIES_TABLE, col) not in present:
            source = source.replace(f"NEW.{col}", "NULL::text")
    for col in ("plan", "fecha_vencimiento", "saldo_pendiente", "fecha_nacimiento", "foto_url", "notas"):
        if (names.MEMBERS_TABLE, col) not in present:
            source = source.replace(f"m.{col}", "NULL::text")
    return source


def _short(detail: str) -> str:
    """libpq's connection error without the ``connection to server at "h", port p failed: FATAL:`` prefix."""
    text = " ".join(detail.split())
    text = re.sub(r"^connection to server (at|on) .*? failed: ", "", text)
    return re.sub(r"^(FATAL|FATALE|FEHLER|ERROR):\s*", "", text)


def _norm_src(src: str) -> str:
    return src.replace("\r\n", "\n").strip()


# --------------------------------------------------------------------------------------------------------------
# the checks


class _Run:
    def __init__(self, target: Target, lang: str, clock: Callable[[], float]) -> None:
        self.t = target
        self.lang = lang
        self.clock = clock
        self.results: dict[str, CheckResult] = {}
        self.conn: Any = None
        self.kwargs: Any = None
        self.tgargs: bytes | None = None

    def put(self, r: CheckResult) -> None:
        self.results[r.check] = r

    def skip_rest(self) -> None:
        for c in CHECKS:
            if c not in self.results:
                self.put(_skip(c, self.lang))

    # -- before connecting -------------------------------------------------------------------------------------
    def driver(self) -> bool:
        try:
            mod = importlib.import_module("psycopg2")
        except ImportError as exc:
            self.put(
                _fail("driver", tr("doctor.driver.missing", self.lang, error=exc), Problem.DRIVER_MISSING, self.lang)
            )
            return False
        libpq = getattr(mod, "__libpq_version__", 0)
        version = str(getattr(mod, "__version__", "?")).split(" ")[0]
        libpq_text = f"{libpq // 10000}.{libpq % 10000}" if libpq >= 100000 else str(libpq)
        self.put(CheckResult("driver", Status.OK, tr("doctor.driver.ok", self.lang, version=version, libpq=libpq_text)))
        return True

    def network(self) -> bool:
        lang = self.lang
        try:
            eps = endpoints(self.t.dsn)
        except ValueError:
            self.put(CheckResult("resolve", Status.FAIL, tr("doctor.dsn.malformed", lang), tr("doctor.dsn.fix", lang)))
            return False
        resolved: list[tuple[_Endpoint, list[Any]]] = []
        failed: list[str] = []
        for ep in eps:
            if ep.is_socket:
                resolved.append((ep, []))
                continue
            try:
                infos = socket.getaddrinfo(ep.hostaddr or ep.host, ep.port, type=socket.SOCK_STREAM)
                resolved.append((ep, infos))
            except (socket.gaierror, UnicodeError) as exc:
                failed.append(f"{ep.host}: {exc}")
        if not resolved:
            self.put(_fail("resolve", "; ".join(failed), Problem.UNKNOWN_HOST, lang))
            return False
        shown = ", ".join(
            f"{ep.host} → " + " ".join(sorted({str(i[4][0]) for i in infos})) if infos else f"{ep.host} (socket)"
            for ep, infos in resolved
        )
        self.put(CheckResult("resolve", Status.OK, shown))

        reached: list[str] = []
        problems: list[tuple[Problem, str]] = []
        timeout = max(2.0, float(self.t.connect_timeout_s))
        for ep, infos in resolved:
            if ep.is_socket:
                path = os.path.join(ep.host, f".s.PGSQL.{ep.port}")
                if sys.platform == "win32":
                    problems.append((Problem.REFUSED, path))
                    continue
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                        s.settimeout(timeout)
                        s.connect(path)
                    reached.append(path)
                except OSError as exc:
                    problems.append((Problem.REFUSED, f"{path}: {exc.strerror or exc}"))
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
            self.put(CheckResult("port", Status.OK, tr("doctor.port.ok", lang, where=", ".join(reached))))
            return True
        problem = Problem.TIMEOUT if any(p is Problem.TIMEOUT for p, _ in problems) else Problem.REFUSED
        self.put(_fail("port", "; ".join(d for _, d in problems), problem, lang))
        return False

    # -- connecting --------------------------------------------------------------------------------------------
    def connect(self) -> bool:
        from agent.db.connect import ConnectError, connection_kwargs, open_connection

        lang = self.lang
        t = self.t
        try:
            self.kwargs = connection_kwargs(
                t.dsn,
                password=t.password,
                sslmode=t.sslmode,
                sslrootcert=t.sslrootcert,
                connect_timeout_s=t.connect_timeout_s,
                application_name="aviso-entradas doctor",
            )
        except ValueError:
            from agent.db.connect import SSLMODES

            if t.sslmode and t.sslmode not in SSLMODES:
                detail = tr("doctor.sslmode.invalid", lang, sslmode=t.sslmode)
                self.put(CheckResult("tls_handshake", Status.FAIL, detail, tr("doctor.sslmode.fix", lang)))
            else:
                self.put(
                    CheckResult(
                        "tls_handshake", Status.FAIL, tr("doctor.dsn.malformed", lang), tr("doctor.dsn.fix", lang)
                    )
                )
            return False
        try:
            self.conn = open_connection(self.kwargs)
        except ConnectError as exc:
            detail = _short(exc.detail)
            if exc.problem is Problem.TLS:
                self.put(_fail("tls_handshake", detail, Problem.TLS, lang))
            elif exc.problem is Problem.NO_DATABASE:
                self.put(CheckResult("tls_handshake", Status.OK, tr("doctor.tls_handshake.ok", lang)))
                self.put(CheckResult("auth", Status.OK, tr("doctor.auth.ok_before_db", lang)))
                self.put(_fail("database", detail, Problem.NO_DATABASE, lang))
            else:
                self.put(CheckResult("tls_handshake", Status.OK, tr("doctor.tls_handshake.ok", lang)))
                self.put(_fail("auth", detail, exc.problem, lang))
            return False
        info = self.conn.info
        self.put(CheckResult("tls_handshake", Status.OK, tr("doctor.tls_handshake.ok", lang)))
        self.put(CheckResult("auth", Status.OK, tr("doctor.auth.ok", lang, user=info.user)))
        self.put(CheckResult("database", Status.OK, tr("doctor.database.ok", lang, database=info.dbname)))
        return True

    def query_error(self, check: str, exc: Exception) -> None:
        from agent.db.connect import error_text

        detail = " ".join(error_text(exc, self.t.password).split())
        problem = classify(getattr(exc, "pgcode", None), detail)
        self.put(_fail(check, detail, problem, self.lang))

    # -- after connecting --------------------------------------------------------------------------------------
    def server_version(self) -> None:
        lang = self.lang
        with _read_only(self.conn) as cur:
            cur.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
            num, text = cur.fetchone()
        if num >= MIN_SERVER_VERSION_NUM:
            self.put(CheckResult("server_version", Status.OK, tr("doctor.server_version.ok", lang, version=text)))
        else:
            self.put(
                CheckResult(
                    "server_version",
                    Status.WARN,
                    tr("doctor.server_version.old", lang, version=text),
                    tr("doctor.server_version.old_fix", lang),
                )
            )

    def trigger(self) -> None:
        """The trigger check; keeps the trigger's raw ``tgargs`` in ``self.tgargs`` for the channel check."""
        self.tgargs = self._trigger()

    def _trigger(self) -> bytes | None:
        lang = self.lang
        with _read_only(self.conn) as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (names.ENTRIES_TABLE,))
            row = cur.fetchone()
            if not (row and row[0]):
                self.put(
                    CheckResult(
                        "trigger",
                        Status.FAIL,
                        tr("doctor.trigger.no_table", lang, table=names.ENTRIES_TABLE),
                        tr("doctor.trigger.run_setup_schema", lang),
                        Problem.SCHEMA,
                    )
                )
                return None
            cur.execute(
                "SELECT t.tgenabled, t.tgargs, p.proname, obj_description(p.oid, 'pg_proc'), p.prosrc "
                "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal",
                (names.ENTRIES_TABLE, names.TRIGGER_NAME),
            )
            row = cur.fetchone()
            cur.execute(
                "SELECT string_agg(t.tgname, ', ' ORDER BY t.tgname) FROM pg_trigger t "
                "WHERE t.tgrelid = to_regclass(%s) AND NOT t.tgisinternal AND t.tgname <> %s",
                (names.ENTRIES_TABLE, names.TRIGGER_NAME),
            )
            others = (cur.fetchone() or [None])[0]
            cur.execute(
                "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE a.attrelid IN (to_regclass(%s), to_regclass(%s)) AND a.attnum > 0 AND NOT a.attisdropped",
                (names.ENTRIES_TABLE, names.MEMBERS_TABLE),
            )
            present = {(str(t), str(c)) for t, c in cur.fetchall()}
        if row is None:
            detail = tr("doctor.trigger.missing", lang, trigger=names.TRIGGER_NAME, table=names.ENTRIES_TABLE)
            if others:
                detail += " " + tr("doctor.trigger.others", lang, triggers=others)
            self.put(CheckResult("trigger", Status.FAIL, detail, tr("doctor.trigger.run_setup", lang), Problem.SCHEMA))
            return None
        enabled, tgargs, proname, comment, prosrc = row
        if isinstance(enabled, bytes):
            enabled = enabled.decode()
        args = bytes(tgargs) if tgargs is not None else b""
        if enabled in ("D", "R"):
            self.put(
                CheckResult(
                    "trigger",
                    Status.FAIL,
                    tr("doctor.trigger.disabled", lang, trigger=names.TRIGGER_NAME, mode=enabled),
                    tr("doctor.trigger.enable", lang, trigger=names.TRIGGER_NAME, table=names.ENTRIES_TABLE),
                    Problem.SCHEMA,
                )
            )
            return args
        if proname != names.TRIGGER_FUNCTION or comment != names.TRIGGER_VERSION_COMMENT:
            self.put(
                CheckResult(
                    "trigger",
                    Status.FAIL,
                    tr("doctor.trigger.other_version", lang, function=proname, comment=comment or "-"),
                    tr("doctor.trigger.run_setup", lang),
                    Problem.SCHEMA,
                )
            )
            return args
        shipped = _shipped_function_source()
        if shipped is not None:
            shipped = _adapt_to_columns(shipped, present)
        if shipped is not None and _norm_src(shipped) != _norm_src(prosrc or ""):
            self.put(
                CheckResult(
                    "trigger",
                    Status.WARN,
                    tr("doctor.trigger.modified", lang, function=proname),
                    tr("doctor.trigger.run_setup", lang),
                )
            )
            return args
        self.put(CheckResult("trigger", Status.OK, tr("doctor.trigger.ok", lang, comment=comment)))
        return args

    def channel(self) -> None:
        lang = self.lang
        tgargs = self.tgargs
        if tgargs is None:
            self.put(_skip("channel", lang))
            return
        # pg_trigger.tgargs: the arguments, each terminated by a NUL byte (PostgreSQL docs, "pg_trigger").
        parts = tgargs.split(b"\x00")
        theirs = parts[0] if tgargs else names.DEFAULT_CHANNEL.encode()
        ours = self.t.channel.encode("utf-8")
        theirs_text = theirs.decode("utf-8", errors="replace")
        if theirs == ours:
            self.put(CheckResult("channel", Status.OK, tr("doctor.channel.ok", lang, channel=theirs_text)))
            return
        key = "doctor.channel.case" if theirs_text.casefold() == self.t.channel.casefold() else "doctor.channel.differs"
        self.put(
            CheckResult(
                "channel",
                Status.FAIL,
                tr(key, lang, theirs=repr(theirs_text), ours=repr(self.t.channel)),
                tr("doctor.channel.fix", lang, theirs=theirs_text),
            )
        )

    def listen(self) -> None:
        """LISTEN on a private channel here, NOTIFY from a second connection, wait for it."""
        import psycopg2
        from psycopg2 import sql

        from agent.db.connect import ConnectError, open_connection

        lang = self.lang
        chan = "aviso_doctor_" + secrets.token_hex(6)
        token = secrets.token_hex(8)
        conn = self.conn
        try:
            with _read_only(conn) as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                in_recovery = bool(cur.fetchone()[0])
            with conn.cursor() as cur:
                cur.execute(sql.SQL("LISTEN {}").format(sql.Identifier(chan)))
            conn.commit()
        except psycopg2.Error as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            self.query_error("listen", exc)
            return
        if in_recovery:  # LISTEN itself fails there (SQLSTATE 25006); this is belt and braces
            self.put(_fail("listen", tr("doctor.listen.recovery", lang), Problem.READ_ONLY, lang))
            return
        started = time.monotonic()
        try:
            other = open_connection(self.kwargs)
        except ConnectError as exc:
            self.put(_fail("listen", exc.detail, exc.problem, lang))
            return
        try:
            other.autocommit = True
            with other.cursor() as cur:
                cur.execute("SELECT pg_notify(%s, %s)", (chan, token))
        except psycopg2.Error as exc:
            self.query_error("listen", exc)
            other.close()
            return
        other.close()
        got = False
        deadline = started + self.t.listen_timeout_s
        while not got:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([conn], [], [], left)
            if not ready:
                continue
            conn.poll()
            while conn.notifies:
                n = conn.notifies.pop(0)
                if n.channel == chan and n.payload == token:
                    got = True
        elapsed_ms = (time.monotonic() - started) * 1000
        with contextlib.suppress(psycopg2.Error):
            with conn.cursor() as cur:
                cur.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(chan)))
            conn.commit()
        if got:
            self.put(CheckResult("listen", Status.OK, tr("doctor.listen.ok", lang, ms=f"{elapsed_ms:.1f}")))
            return
        evidence = self._pooler_evidence()
        detail = tr("doctor.listen.no_notify", lang, seconds=self.t.listen_timeout_s)
        if evidence:
            detail += " " + evidence
        self.put(_fail("listen", detail, Problem.POOLER, lang))

    def _pooler_evidence(self) -> str:
        """Why a LISTEN went deaf: the server port differs from ours (a proxy in between), or the backend changes
        between transactions on one client connection (transaction pooling). '' when nothing was found."""
        import psycopg2

        lang = self.lang
        clues: list[str] = []
        try:
            pids = []
            for _ in range(2):
                with _read_only(self.conn) as cur:
                    cur.execute("SELECT pg_backend_pid(), inet_server_port()")
                    pid, server_port = cur.fetchone()
                    pids.append(pid)
            our_port = int(self.conn.info.port)
            if server_port is not None and int(server_port) != our_port:
                clues.append(tr("doctor.listen.port_differs", lang, ours=our_port, server=server_port))
            if pids[0] != pids[1]:
                clues.append(tr("doctor.listen.pid_changes", lang))
        except (psycopg2.Error, TypeError, ValueError):
            pass
        return " ".join(clues)

    def queries(self) -> None:
        """Runs the listener's own queries (:mod:`agent.db.queries`), read-only, with harmless parameters."""
        import datetime as dt

        from agent.db import queries as q

        lang = self.lang
        with _read_only(self.conn) as cur:
            cur.execute(q.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
            readable = [(str(t), str(c)) for t, c in cur.fetchall()]
        have = set(readable)
        missing_optional = [
            f"{table}.{col}"
            for table, columns in (
                (names.ENTRIES_TABLE, names.ENTRY_COLUMNS),
                (names.MEMBERS_TABLE, names.MEMBER_COLUMNS),
            )
            for col in columns
            if (table, col) not in have
        ]
        try:
            select = q.EntrySelect.from_readable(readable)
        except q.SchemaError:
            required = [f"{names.ENTRIES_TABLE}.{c}" for c in names.ENTRY_REQUIRED]
            required += [f"{names.MEMBERS_TABLE}.{c}" for c in names.MEMBER_REQUIRED]
            missing = [c for c in required if c in missing_optional]
            self.put(
                CheckResult(
                    "queries",
                    Status.FAIL,
                    tr("doctor.queries.missing", lang, columns=", ".join(missing)),
                    explain(Problem.SCHEMA, lang),
                    Problem.SCHEMA,
                )
            )
            return
        now = dt.datetime.now(dt.UTC)
        try:
            with _read_only(self.conn) as cur:
                cur.execute(q.START_SQL, {"elapsed_s": 0.0})
                cur.execute(q.BACKLOG_SQL, {"member": names.MEMBER_ACCESS, "after_id": 0, "max_age_s": 600.0})
                cur.execute(
                    select.catch_up_sql(),
                    {
                        "member": names.MEMBER_ACCESS,
                        "after_id": 0,
                        "since": now,
                        "max_age_s": 60.0,
                        "page_after": 0,
                        "limit": 1,
                    },
                )
                cur.fetchall()
                cur.execute(select.by_ids_sql(), {"member": names.MEMBER_ACCESS, "ids": [0]})
                cur.fetchall()
        except Exception as exc:
            self.query_error("queries", exc)
            return
        if missing_optional:
            self.put(
                CheckResult(
                    "queries",
                    Status.WARN,
                    tr("doctor.queries.optional_missing", lang, columns=", ".join(missing_optional)),
                    tr("doctor.queries.optional_fix", lang),
                )
            )
        else:
            self.put(CheckResult("queries", Status.OK, tr("doctor.queries.ok", lang)))

    def role(self) -> None:
        lang = self.lang
        with _read_only(self.conn) as cur:
            cur.execute(
                "SELECT current_user, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication "
                "FROM pg_roles r WHERE r.rolname = current_user"
            )
            user, superuser, createrole, createdb, bypassrls, replication = cur.fetchone()
            writable: list[str] = []
            for table in (names.ENTRIES_TABLE, names.MEMBERS_TABLE):
                cur.execute(
                    "SELECT to_regclass(%s) IS NOT NULL AND "
                    "has_table_privilege(to_regclass(%s), 'INSERT, UPDATE, DELETE, TRUNCATE')",
                    (table, table),
                )
                if cur.fetchone()[0]:
                    writable.append(table)
            cur.execute(
                "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                "AND NOT a.attisdropped AND a.attname = ANY(%s) "
                "AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')",
                (names.MEMBERS_TABLE, list(names.SENSITIVE_MEMBER_COLUMNS)),
            )
            sensitive = [r[0] for r in cur.fetchall()]
        issues: list[str] = []
        if superuser:
            issues.append(tr("doctor.role.superuser", lang))
        extra = [n for n, v in (("CREATEROLE", createrole), ("CREATEDB", createdb), ("BYPASSRLS", bypassrls)) if v]
        extra += ["REPLICATION"] if replication else []
        if extra and not superuser:
            issues.append(tr("doctor.role.attributes", lang, attributes=", ".join(extra)))
        if writable and not superuser:
            issues.append(tr("doctor.role.can_write", lang, tables=", ".join(writable)))
        if sensitive and not superuser:
            issues.append(tr("doctor.role.sensitive", lang, columns=", ".join(sensitive)))
        if issues:
            self.put(
                CheckResult(
                    "role",
                    Status.WARN,
                    tr("doctor.role.too_much", lang, user=user) + " " + "; ".join(issues),
                    tr("doctor.role.fix", lang),
                )
            )
        else:
            self.put(CheckResult("role", Status.OK, tr("doctor.role.ok", lang, user=user)))

    def tls(self) -> None:
        lang = self.lang
        info = self.conn.info
        params = info.dsn_parameters
        sslmode = params.get("sslmode", "prefer")
        host = params.get("host", "")
        local = host.startswith("/") or host.startswith("@") or host in ("localhost", "127.0.0.1", "::1")
        if info.ssl_in_use:
            proto = info.ssl_attribute("protocol") or "TLS"
            cipher = info.ssl_attribute("cipher") or ""
            if sslmode == "verify-full":
                self.put(CheckResult("tls", Status.OK, tr("doctor.tls.verified", lang, protocol=proto, cipher=cipher)))
            else:
                self.put(
                    CheckResult(
                        "tls",
                        Status.WARN,
                        tr("doctor.tls.unverified", lang, protocol=proto, sslmode=sslmode),
                        tr("doctor.tls.verify_fix", lang),
                    )
                )
        elif local:
            self.put(CheckResult("tls", Status.OK, tr("doctor.tls.local", lang, host=host)))
        else:
            self.put(CheckResult("tls", Status.WARN, tr("doctor.tls.off", lang), tr("doctor.tls.off_fix", lang)))

    def clock_skew(self) -> None:
        lang = self.lang
        with _read_only(self.conn) as cur:
            before = self.clock()
            cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
            after = self.clock()
            server = float(cur.fetchone()[0])
        skew = server - (before + after) / 2
        detail = tr("doctor.clock.detail", lang, seconds=f"{skew:+.1f}")
        if abs(skew) <= CLOCK_SKEW_WARN_S:
            self.put(CheckResult("clock", Status.OK, detail))
        else:
            self.put(CheckResult("clock", Status.WARN, detail, tr("doctor.clock.fix", lang)))

    def queue(self) -> None:
        lang = self.lang
        with _read_only(self.conn) as cur:
            cur.execute("SELECT pg_notification_queue_usage()")
            usage = float(cur.fetchone()[0])
        status = queue_status(usage)
        detail = tr("doctor.queue.detail", lang, percent=f"{usage * 100:.2f}")
        self.put(CheckResult("queue", status, detail, "" if status is Status.OK else tr("doctor.queue.fix", lang)))


def queue_status(usage: float) -> Status:
    """``pg_notification_queue_usage()`` (0..1) as a status: fail at :data:`QUEUE_FAIL` (the trigger stops
    sending), warn from :data:`QUEUE_WARN`. Pure."""
    if usage >= QUEUE_FAIL:
        return Status.FAIL
    if usage >= QUEUE_WARN:
        return Status.WARN
    return Status.OK


def run(target: Target, *, lang: str = "es", clock: Callable[[], float] = time.time) -> DoctorReport:
    """Run every check against ``target``; returns the report (never raises for a database problem).

    ``clock`` gives this PC's wall-clock time in seconds since the epoch (tests pass a skewed one). Blocks for
    at most a few times ``target.connect_timeout_s`` plus ``target.listen_timeout_s``. Any thread.
    """
    r = _Run(target, lang, clock)
    try:
        if r.driver() and r.network() and r.connect():
            steps: tuple[tuple[str, Callable[[], None]], ...] = (
                ("server_version", r.server_version),
                ("trigger", r.trigger),
                ("channel", r.channel),
                ("listen", r.listen),
                ("queries", r.queries),
                ("role", r.role),
                ("tls", r.tls),
                ("clock", r.clock_skew),
                ("queue", r.queue),
            )
            for check, step in steps:
                try:
                    step()
                except Exception as exc:  # e.g. the connection dropped mid-way: report it on that check
                    r.query_error(check, exc)
                    if getattr(r.conn, "closed", 0):
                        break
    finally:
        if r.conn is not None:
            with contextlib.suppress(Exception):
                r.conn.close()
    r.skip_rest()
    return DoctorReport(tuple(r.results[c] for c in CHECKS), lang)


def run_from_settings(settings: ConnectionSettings, password: str | None, *, lang: str = "es") -> DoctorReport:
    """What the tray's "Diagnose" menu item calls (on a worker thread): ``run`` on the configured connection."""
    return run(Target.from_settings(settings, password), lang=lang)
