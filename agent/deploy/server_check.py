"""Test a server before saving its settings: connect with the resolved parameters and check that our trigger is on
``registro_entradas`` and notifies on the configured channel. Used by ``configure`` and the settings window.

Which thread: any (blocks up to ``connect_timeout_s`` for the connection, then a few catalog queries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.core.config import ConnectionSettings
from agent.core.i18n import MESSAGES, tr

if TYPE_CHECKING:
    from agent.deploy.connection import ConnectionParams


@dataclass
class CheckResult:
    """Outcome of :func:`check_server`: ``ok`` and translated ``lines`` for people (one per check)."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def trigger_channel(tgargs_hex: str | None) -> str:
    """The channel a trigger notifies on from ``pg_trigger.tgargs`` (hex; NUL-terminated arguments).

    No argument means the trigger function's default, :data:`agent.core.names.DEFAULT_CHANNEL`.
    """
    from agent.core import names

    raw = bytes.fromhex(tgargs_hex or "")
    args = raw.split(b"\x00")[:-1] if raw else []
    return args[0].decode("utf-8") if args else names.DEFAULT_CHANNEL


def check_server(
    conn: ConnectionSettings, password: str | None, lang: str, *, params: ConnectionParams | None = None
) -> CheckResult:
    """Connect with ``password`` and check that our trigger is on ``registro_entradas`` with ``conn.channel``.

    ``params``: the resolved connection (:func:`agent.deploy.connection.resolve`); when None it is resolved here
    from ``conn`` and ``password`` without reading the keyring. Opens and closes its own connection (bounded by
    ``connect_timeout_s``); any thread. Never raises for database or TLS-setting errors: they become lines.
    """
    import psycopg2

    from agent.core import advice, names
    from agent.db.connect import error_text
    from agent.deploy.connection import ConnectionSetupError, resolve

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
        elif hint_key in MESSAGES:
            detail = f"{detail}\n  {tr(hint_key, lang)}"
        result.lines.append(tr("configure.connect_failed", lang, detail=detail))
        return result
    try:
        db.autocommit = True
        with db.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
            result.lines.append(tr("configure.connect_ok", lang, version=row[0] if row else "?"))
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (names.ENTRIES_TABLE,))
            row = cur.fetchone()
            if not (row and row[0]):
                result.lines.append(tr("configure.no_table", lang))
                return result
            cur.execute(
                "SELECT encode(t.tgargs, 'hex') FROM pg_trigger t "
                "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal",
                (names.ENTRIES_TABLE, names.TRIGGER_NAME),
            )
            row = cur.fetchone()
    except psycopg2.Error as exc:
        result.lines.append(tr("configure.connect_failed", lang, detail=error_text(exc, params.password)))
        return result
    finally:
        db.close()
    if row is None:
        result.lines.append(tr("configure.no_trigger", lang))
        return result
    actual = trigger_channel(row[0])
    if actual != conn.channel:
        result.lines.append(tr("configure.channel_mismatch", lang, actual=actual, wanted=conn.channel))
        return result
    result.lines.append(tr("configure.trigger_ok", lang, channel=actual))
    result.ok = True
    return result
