"""The ``connect`` step: one libpq connection attempt, reported as three checks (``tls_handshake``, ``auth``,
``database``), with a stale default ``root.crt`` told apart from a password problem.

libpq verifies the server against ``~/.postgresql/root.crt`` (Windows: ``%APPDATA%\\postgresql\\root.crt``,
:func:`agent.db.connect.default_root_cert`) whenever that file exists and no ``sslrootcert`` is given, also under
``sslmode=require`` (PostgreSQL docs, libpq "SSL Support": "If a root CA file exists, the behavior of
sslmode=require will be the same as that of verify-ca"). A file left there by another tool for another server
makes the handshake fail; under ``prefer``/``allow`` libpq then retries without TLS and a ``hostssl``-only
``pg_hba.conf`` answers with an *authentication* error.

The connection layer keeps libpq away from that file under ``allow``/``prefer``/``require``
(:data:`agent.db.connect.NO_ROOT_CERT`: the agent cannot fall into that trap, and the ``tls`` check says the file
is ignored); under ``verify-ca``/``verify-full`` without ``sslrootcert`` it is the documented trust anchor and
stays in use, so a TLS failure there names the file: it is what the server was verified against.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from agent.core.advice import Problem
from agent.core.i18n import tr
from agent.doctor.context import Context
from agent.doctor.report import CheckResult, Status, failed


def _short(detail: str) -> str:
    """libpq's connection error without the ``connection to server at "h", port p failed: FATAL:`` prefix."""
    text = " ".join(detail.split())
    text = re.sub(r"^connection to server (at|on) .*? failed: ", "", text)
    return re.sub(r"^(FATAL|FATALE|FEHLER|ERROR):\s*", "", text)


def libpq_reads_default_root_cert(kwargs: Any) -> bool:
    """True when a connection with ``kwargs`` lets libpq read its default ``root.crt``: no ``sslrootcert``
    (neither given nor in ``PGSSLROOTCERT``). The connection layer's :data:`~agent.db.connect.NO_ROOT_CERT` counts
    as given."""
    return not (kwargs or {}).get("sslrootcert") and not os.environ.get("PGSSLROOTCERT")


def _sslmode(kwargs: Any) -> str:
    return str((kwargs or {}).get("sslmode") or os.environ.get("PGSSLMODE") or "prefer")


def _root_cert_suspect(ctx: Context) -> Path | None:
    """The default root.crt when it may have decided this connection's fate (see the module docstring)."""
    from agent.db.connect import default_root_cert

    return default_root_cert() if libpq_reads_default_root_cert(ctx.kwargs) else None


def connect(ctx: Context) -> tuple[CheckResult, ...]:
    """Open ``ctx.conn``; three results: TLS handshake, authentication, database."""
    from agent.db.connect import SSLMODES, ConnectError, connection_kwargs, open_connection

    lang = ctx.lang
    t = ctx.target
    try:
        ctx.kwargs = connection_kwargs(
            t.dsn,
            password=t.password,
            sslmode=t.sslmode,
            sslrootcert=t.sslrootcert,
            connect_timeout_s=t.connect_timeout_s,
            application_name="aviso-entradas doctor",
        )
    except ValueError:
        if t.sslmode and t.sslmode not in SSLMODES:
            detail = tr("doctor.sslmode.invalid", lang, sslmode=t.sslmode)
            return (CheckResult("tls_handshake", Status.FAIL, detail, tr("doctor.sslmode.fix", lang)),)
        return (
            CheckResult("tls_handshake", Status.FAIL, tr("doctor.dsn.malformed", lang), tr("doctor.dsn.fix", lang)),
        )
    try:
        ctx.conn = open_connection(ctx.kwargs)
    except ConnectError as exc:
        suspect = _root_cert_suspect(ctx)
        if suspect is not None and _sslmode(ctx.kwargs).startswith("verify") and exc.problem is Problem.TLS:
            detail = tr("doctor.tls_handshake.root_cert", lang, path=suspect, error=_short(exc.detail))
            fix = tr("doctor.tls_handshake.root_cert_fix", lang, path=suspect)
            return (CheckResult("tls_handshake", Status.FAIL, detail, fix, Problem.TLS),)
        return _classified(exc.problem, _short(exc.detail), lang)
    return (CheckResult("tls_handshake", Status.OK, tr("doctor.tls_handshake.ok", lang)), *_connected(ctx))


SESSION_STATEMENT_TIMEOUT = "30s"
"""doctor's own bound per statement, set on its session: a role-level ``statement_timeout`` of a few ms (reported by
the ``session_limits`` check) must not cancel the checks themselves."""


def _own_session_limits(conn: Any) -> None:
    """Like the agent, doctor sets its own session limits over role/database-level ones: ``statement_timeout``,
    and ``idle_session_timeout = 0`` (PostgreSQL 14+; the setting does not exist before). Best effort. Behind a
    transaction-pooling PgBouncer a session SET can outlive doctor on the pooled server connection: a 30 s bound
    there is harmless."""
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (SESSION_STATEMENT_TIMEOUT,))
            if conn.server_version >= 140000:
                cur.execute("SET idle_session_timeout = 0")
        conn.commit()
    except psycopg2.Error:
        conn.rollback()


def _connected(ctx: Context) -> tuple[CheckResult, CheckResult]:
    _own_session_limits(ctx.conn)
    info = ctx.conn.info
    return (
        CheckResult("auth", Status.OK, tr("doctor.auth.ok", ctx.lang, user=info.user)),
        CheckResult("database", Status.OK, tr("doctor.database.ok", ctx.lang, database=info.dbname)),
    )


def _classified(problem: Problem, detail: str, lang: str) -> tuple[CheckResult, ...]:
    if problem is Problem.TLS:
        return (failed("tls_handshake", detail, Problem.TLS, lang),)
    ok = CheckResult("tls_handshake", Status.OK, tr("doctor.tls_handshake.ok", lang))
    if problem is Problem.NO_DATABASE:
        auth = CheckResult("auth", Status.OK, tr("doctor.auth.ok_before_db", lang))
        return (ok, auth, failed("database", detail, Problem.NO_DATABASE, lang))
    return (ok, failed("auth", detail, problem, lang))
