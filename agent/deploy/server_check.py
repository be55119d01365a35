"""Test a server before saving its settings: connect with the resolved parameters, read what the kit installed once
(:func:`agent.db.inspect.read`) and judge it with doctor's pure judges (:func:`agent.doctor.judge.configure_findings`):
in notify mode our trigger on ``registro_entradas`` with the configured channel, partitions, two-phase commit and a
replica; in poll mode only the notes; in both, that the role can read the columns the agent selects. Used by
``configure`` and the settings page.

The check's session sets its own limits (``statement_timeout`` 30 s, ``idle_session_timeout = 0``) as the agent and
doctor do, so a role-level ``statement_timeout`` cannot cancel it.

Which thread: any (blocks up to ``connect_timeout_s`` for the connection, then a few catalog queries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.core.config import ConnectionSettings
from agent.core.i18n import MESSAGES, tr

if TYPE_CHECKING:
    from agent.db.inspect import KitState
    from agent.deploy.connection import ConnectionParams


CHECK_STATEMENT_TIMEOUT_MS = 30_000
"""The check's own bound per statement, set on its session over any role-level ``statement_timeout``."""


@dataclass
class CheckResult:
    """Outcome of :func:`check_server`: ``ok`` and translated ``lines`` for people (one per check)."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def check_server(
    conn: ConnectionSettings, password: str | None, lang: str, *, params: ConnectionParams | None = None
) -> CheckResult:
    """Connect with ``password`` and judge the kit for ``conn.mode`` and ``conn.channel`` (see the module docstring).

    ``params``: the resolved connection (:func:`agent.deploy.connection.resolve`); when None it is resolved here
    from ``conn`` and ``password`` without reading the keyring. Opens and closes its own connection (bounded by
    ``connect_timeout_s``); any thread. Never raises for database or TLS-setting errors: they become lines.
    """
    import psycopg2

    from agent.core import advice
    from agent.db import inspect, queries, setup
    from agent.db.connect import error_text
    from agent.deploy.connection import ConnectionSetupError, resolve
    from agent.doctor import judge
    from agent.doctor.report import Status

    result = CheckResult(ok=False)
    try:
        if params is None:
            params = resolve(conn, password_override=password, read_password=lambda _account, _timeout: None)
        kwargs = params.connect_kwargs(application_name="aviso-entradas configure")
    except (ConnectionSetupError, ValueError) as exc:
        text = exc.message(lang) if isinstance(exc, ConnectionSetupError) else str(exc)
        result.lines.append(tr("configure.connect_failed", lang, detail=text))
        return result
    try:
        db = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        detail = error_text(exc, params.password)
        problem = advice.classify(getattr(exc, "pgcode", None), detail)
        hint_key = f"advice.{problem.value}"
        if problem is advice.Problem.TLS and params.sslmode == "require" and "SSL" in detail:
            detail = f"{detail}\n  {tr('configure.tls_hint', lang)}"
        elif problem is advice.Problem.AUTH_FAILED:  # the password was just typed, not stored
            detail = f"{detail}\n  {tr('configure.auth_failed_hint', lang)}"
        elif hint_key in MESSAGES:
            detail = f"{detail}\n  {advice.explain(problem, lang, port=conn.port)}"
        result.lines.append(tr("configure.connect_failed", lang, detail=detail))
        return result
    try:
        db.autocommit = True
        with db.cursor() as cur:
            # our own limits over role/database-level ones (a DBA's statement_timeout = '1ms' cancelled the check)
            cur.execute(
                queries.session_limits_sql(
                    db.server_version, statement_timeout_ms=CHECK_STATEMENT_TIMEOUT_MS, idle_in_transaction_ms=60_000
                )
            )
            cur.execute("SHOW server_version")
            row = cur.fetchone()
        result.lines.append(tr("configure.connect_ok", lang, version=row[0] if row else "?"))
        state = inspect.read(db)
    except psycopg2.Error as exc:
        result.lines.append(tr("configure.connect_failed", lang, detail=error_text(exc, params.password)))
        return result
    finally:
        db.close()
    if not state.entries_exists:
        result.lines.append(tr("configure.no_table", lang))
        return result
    shipped = judge.shipped_function_source(setup.trigger_sql())
    findings = judge.configure_findings(state, channel_name=conn.channel, mode=conn.mode, lang=lang, shipped=shipped)
    for finding in findings:
        if finding.status is Status.SKIP:
            continue
        line = f"{tr(f'doctor.check.{finding.check}', lang)}: {finding.detail}"
        if finding.advice and finding.status is not Status.OK:
            line += f"\n  {finding.advice}"
        result.lines.append(line)
    result.ok = all(f.status is not Status.FAIL for f in findings)
    unreadable = unreadable_columns(state)
    missing = [c for c in unreadable if tuple(c.split(".", 1)) not in state.columns]
    if missing:  # a vendor's schema without a column every agent query needs: no grant can fix that
        result.lines.append(tr("configure.missing_columns", lang, columns=", ".join(missing)))
    if unreadable != missing:
        rest = [c for c in unreadable if c not in missing]
        result.lines.append(tr("configure.cannot_read", lang, user=conn.user, columns=", ".join(rest)))
    if unreadable:
        result.ok = False
    return result


def unreadable_columns(state: KitState) -> list[str]:
    """``table.column`` of the columns every agent query needs (:data:`agent.core.names.ENTRY_REQUIRED`,
    ``MEMBER_REQUIRED``) that the connected role may not SELECT, in both modes (the grants are what ``setup-db``
    gives, ``--no-trigger`` too). [] when the role was not inspected. Pure."""
    from agent.core import names

    if state.role is None:
        return []
    required = [(names.ENTRIES_TABLE, c) for c in names.ENTRY_REQUIRED]
    required += [(names.MEMBERS_TABLE, c) for c in names.MEMBER_REQUIRED]
    return [f"{table}.{column}" for table, column in required if (table, column) not in state.role.readable]
