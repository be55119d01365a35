"""``setup-db``: install the turnstile kit (schema, trigger, ``pos_user``) idempotently and say what changed.

Runs the same files a person would run with psql (``sql/*.sql``), in one transaction, so a failure leaves the
database as it was. Which thread: any; :func:`apply` works on the caller's connection (not shared with another
thread meanwhile) and commits or rolls back on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import encrypt_password

from agent import resources
from agent.core import names
from agent.core.i18n import tr

PREAMBLE_END = "-- END OF PSQL PREAMBLE"


class SetupError(RuntimeError):
    """The kit cannot be installed as asked (e.g. tables missing without ``--schema``); nothing was changed."""


@dataclass
class SetupReport:
    """What :func:`apply` did, as translated lines for people."""

    lines: list[str] = field(default_factory=list)


def trigger_sql() -> str:
    """The trigger file without its psql-only preamble (the channel is set with ``set_config`` instead)."""
    text = resources.sql("setup_postgres_trigger.sql").read_text(encoding="utf-8")
    return text.split(PREAMBLE_END, 1)[1]


def _trigger_state(cur: psycopg2.extensions.cursor) -> tuple[str | None, int | None, str | None]:
    """(function source, trigger OID, trigger arguments) currently installed; None where missing."""
    cur.execute("SELECT p.prosrc FROM pg_proc p WHERE p.oid = to_regprocedure(%s)", (names.TRIGGER_FUNCTION + "()",))
    row = cur.fetchone()
    src = row[0] if row else None
    cur.execute(
        "SELECT t.oid, encode(t.tgargs, 'hex') FROM pg_trigger t "
        "WHERE t.tgrelid = to_regclass(%s) AND t.tgname = %s AND NOT t.tgisinternal",
        (names.ENTRIES_TABLE, names.TRIGGER_NAME),
    )
    row = cur.fetchone()
    return src, (int(row[0]) if row else None), (row[1] if row else None)


def _role_state(cur: psycopg2.extensions.cursor) -> tuple[object, ...] | None:
    """``pos_user``'s attributes and every ACL on the two tables and this database (None: no such role)."""
    cur.execute(
        "SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,"
        " (SELECT datacl::text FROM pg_database WHERE datname = current_database()),"
        " (SELECT array_agg(c.relacl::text ORDER BY c.oid) FROM pg_class c WHERE c.oid IN (to_regclass(%s),"
        "  to_regclass(%s))),"
        " (SELECT array_agg(a.attacl::text ORDER BY a.attrelid, a.attnum) FROM pg_attribute a"
        "   WHERE a.attrelid IN (to_regclass(%s), to_regclass(%s)) AND a.attnum > 0)"
        " FROM pg_roles r WHERE r.rolname = %s",
        (names.ENTRIES_TABLE, names.MEMBERS_TABLE, names.ENTRIES_TABLE, names.MEMBERS_TABLE, names.ROLE),
    )
    row = cur.fetchone()
    return tuple(row) if row else None


def apply(
    conn: Connection,
    *,
    schema: bool = False,
    channel: str = names.DEFAULT_CHANNEL,
    pos_password: str | None = None,
    demo_data: bool = False,
    lang: str = "es",
    today: dt.date | None = None,
) -> SetupReport:
    """Install the kit over ``conn`` and commit. ``conn``: a superuser, or the tables' owner with CREATEROLE.

    ``channel``: the NOTIFY channel, case-sensitive, 1-63 bytes (an identifier: ``pg_notify`` refuses longer names,
    PostgreSQL docs "NOTIFY"). Returns the report lines (created / updated / unchanged for each part).

    ``schema`` also creates the reference tables (``sql/schema.sql``); ``pos_password`` sets ``pos_user``'s password
    as a SCRAM-SHA-256 verifier computed here (libpq ``PQencryptPasswordConn``), so the clear text never reaches the
    server or its log; ``demo_data`` loads the sample members (:mod:`agent.db.demo_data`) when ``miembros`` is empty.
    Raises :class:`SetupError` (nothing changed) or ``psycopg2.Error``; rolls back on any error.
    """
    if not channel or "\x00" in channel or len(channel.encode()) > 63:
        raise SetupError(tr("setup.bad_channel", lang, channel=channel.replace("\x00", "\\0")))
    report = SetupReport()
    try:
        with conn.cursor() as cur:
            missing = [t for t in (names.MEMBERS_TABLE, names.ENTRIES_TABLE) if not _exists(cur, t)]
            if schema:
                cur.execute(resources.sql("schema.sql").read_text(encoding="utf-8"))
                report.lines.append(
                    tr("setup.schema_created", lang, tables=", ".join(missing))
                    if missing
                    else tr("setup.schema_present", lang)
                )
            elif missing:
                raise SetupError(tr("setup.no_tables", lang, table=missing[0]))

            before = _trigger_state(cur)
            cur.execute("SELECT set_config('aviso_entradas.channel', %s, true)", (channel,))
            cur.execute(trigger_sql())
            after = _trigger_state(cur)
            if before == after:
                report.lines.append(tr("setup.trigger_unchanged", lang, channel=channel))
            elif before[1] is None:
                report.lines.append(tr("setup.trigger_created", lang, channel=channel))
            else:
                report.lines.append(tr("setup.trigger_updated", lang, channel=channel))

            role_before = _role_state(cur)
            cur.execute(resources.sql("create_pos_user.sql").read_text(encoding="utf-8"))
            if role_before is None:
                report.lines.append(tr("setup.role_created", lang))
            elif role_before == _role_state(cur):
                report.lines.append(tr("setup.role_unchanged", lang))
            else:
                report.lines.append(tr("setup.role_refreshed", lang))
            if pos_password is not None:
                if not pos_password:
                    raise SetupError(tr("setup.empty_password", lang))
                verifier = encrypt_password(pos_password, names.ROLE, conn, "scram-sha-256")
                cur.execute(f"ALTER ROLE {names.ROLE} PASSWORD %s", (verifier,))
                report.lines.append(tr("setup.password_set", lang))

            if demo_data:
                from agent.db import demo_data as demo

                count = demo.load(cur, today or dt.date.today())
                report.lines.append(
                    tr("setup.demo_loaded", lang, count=count) if count else tr("setup.demo_present", lang)
                )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return report


def _exists(cur: psycopg2.extensions.cursor, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    row = cur.fetchone()
    return bool(row and row[0])
