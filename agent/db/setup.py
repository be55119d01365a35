"""``setup-db``: install the turnstile kit (schema, trigger, ``pos_user``, indexes) idempotently and say what changed.

Runs the same files a person would run with psql (``sql/*.sql``), in one transaction, so a failure leaves the
database as it was; then, outside any transaction, builds missing indexes concurrently (:mod:`.setup_index`) and
judges what it installed (:mod:`agent.db.kit_plan`: partitions, two-phase commit). Which thread: any;
:func:`apply` works on the caller's connection (not shared with another thread meanwhile) and commits or rolls
back on it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import encrypt_password

from agent import resources
from agent.core import names
from agent.core.i18n import tr
from agent.db import inspect

PREAMBLE_END = "-- END OF PSQL PREAMBLE"


class SetupError(RuntimeError):
    """The kit cannot be installed as asked (e.g. tables missing without ``--schema``); nothing was changed."""


@dataclass
class SetupReport:
    """What :func:`apply` did, as translated lines for people; ``failed`` when an index build failed (the rest is
    installed; re-running setup-db rebuilds it)."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False
    echo: Callable[[str], None] | None = field(default=None, repr=False)
    """Where lines go as soon as they are final (after the commit), and progress lines while an index builds."""
    _echoed: int = 0

    def add(self, line: str) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        """Hand the lines not yet shown to :attr:`echo`."""
        if self.echo is not None:
            for line in self.lines[self._echoed :]:
                self.echo(line)
        self._echoed = len(self.lines)


def trigger_sql() -> str:
    """The trigger file without its psql-only preamble (the channel is set with ``set_config`` instead)."""
    text = resources.sql("setup_postgres_trigger.sql").read_text(encoding="utf-8")
    return text.split(PREAMBLE_END, 1)[1]


_TriggerState = tuple[
    tuple[str, str | None] | None,
    tuple[tuple[str, str, str, bytes], ...],
    tuple[tuple[str, str], ...],
    tuple[int, ...],
]


def _trigger_state(cur: psycopg2.extensions.cursor) -> _TriggerState:
    """Our function's body and comment, every trigger calling it (relation, name, enabled, arguments) and whether
    each server-made clone on a partition is enabled, and the triggers' OIDs (a trigger replaced for its WHEN
    alone is the same in all else), read inside the install's transaction."""
    state = inspect.read_cursor(cur)
    fn = state.function
    cur.execute(
        "SELECT t.oid FROM pg_trigger t WHERE t.tgfoid = to_regprocedure(%s) ORDER BY 1",
        (names.TRIGGER_FUNCTION + "()",),
    )
    return (
        (fn.source, fn.comment) if fn else None,
        tuple((t.relation, t.name, t.enabled, t.args) for t in state.triggers if not t.cloned),
        tuple((t.relation, t.enabled) for t in state.triggers if t.cloned),  # a partition's clone re-enabled
        tuple(int(r[0]) for r in cur.fetchall()),
    )


def _role_state(cur: psycopg2.extensions.cursor) -> tuple[str, ...] | None:
    """``pos_user``'s attributes and every ACL on the two tables and this database (None: no such role)."""
    role = inspect.read_cursor(cur, role=names.ROLE).role
    return role.acl if role is not None and role.exists else None


def apply(
    conn: Connection,
    *,
    schema: bool = False,
    channel: str = names.DEFAULT_CHANNEL,
    pos_password: str | None = None,
    demo_data: bool = False,
    lang: str = "es",
    today: dt.date | None = None,
    trigger: bool = True,
    indexes: bool = True,
    progress: Callable[[str], None] | None = None,
    progress_interval_s: float = 2.0,
) -> SetupReport:
    """Install the kit over ``conn`` and commit. ``conn``: a superuser, or the tables' owner with CREATEROLE.

    ``channel``: the NOTIFY channel, case-sensitive, 1-63 bytes (an identifier: ``pg_notify`` refuses longer
    names, PostgreSQL docs "NOTIFY"). Returns the report lines (created / updated / unchanged for each part).

    ``schema`` also creates the reference tables (``sql/schema.sql``); ``pos_password`` sets ``pos_user``'s
    password as a SCRAM-SHA-256 verifier computed here (libpq ``PQencryptPasswordConn``), so the clear text never
    reaches the server or its log; ``demo_data`` loads the sample members (:mod:`agent.db.demo_data`) when
    ``miembros`` is empty. ``trigger`` False (``--no-trigger``): only the role and its grants, for the poll mode (an
    existing trigger is left as it is and said so). The trigger goes on ``registro_entradas`` and every inheritance
    child (declarative partitions get the parent's as a clone: ``sql/setup_postgres_trigger.sql``).

    After the commit, ``indexes`` builds the indexes the agent relies on when missing or INVALID
    (:mod:`agent.db.setup_index`: ``CREATE INDEX CONCURRENTLY``, autocommit). ``progress`` receives every report
    line once it is final (after the commit) and progress lines while an index builds, every
    ``progress_interval_s`` seconds. The report then says what the installed state means: two-phase commit
    enabled on the server, tables without the trigger.

    Raises :class:`SetupError` (nothing changed: also on a hot-standby replica) or ``psycopg2.Error``; rolls back
    the transactional part on any error.
    """
    if not channel or "\x00" in channel or len(channel.encode()) > 63:
        raise SetupError(tr("setup.bad_channel", lang, channel=channel.replace("\x00", "\\0")))
    report = SetupReport(echo=progress)
    _wait_for_other_runs(conn, report, lang)
    try:
        try:
            with conn.cursor() as cur:
                # A role/database-level statement_timeout (ALTER DATABASE ... SET statement_timeout = '400ms') must
                # not cancel the trigger install while it waits politely for its lock (up to ~25 s, see the trigger
                # file); this transaction's own bound instead.
                cur.execute("SET LOCAL statement_timeout = '120s'")
                cur.execute("SELECT pg_is_in_recovery()")
                row = cur.fetchone()
                if row and row[0]:
                    raise SetupError(tr("setup.replica", lang))
                missing = [t for t in (names.MEMBERS_TABLE, names.ENTRIES_TABLE) if not _exists(cur, t)]
                if schema:
                    cur.execute(resources.sql("schema.sql").read_text(encoding="utf-8"))
                    report.add(
                        tr("setup.schema_created", lang, tables=", ".join(missing))
                        if missing
                        else tr("setup.schema_present", lang)
                    )
                elif missing:
                    raise SetupError(tr("setup.no_tables", lang, table=missing[0]))

                if trigger:
                    _install_trigger(cur, channel, report, lang)
                else:
                    report.add(tr("setup.no_trigger", lang))
                    present = _trigger_state(cur)[1]
                    if present:
                        tables = ", ".join(sorted({t[0] for t in present}))
                        report.add(tr("setup.no_trigger_present", lang, tables=tables))

                role_before = _role_state(cur)
                cur.execute(resources.sql("create_pos_user.sql").read_text(encoding="utf-8"))
                if role_before is None:
                    report.add(tr("setup.role_created", lang))
                elif role_before == _role_state(cur):
                    report.add(tr("setup.role_unchanged", lang))
                else:
                    report.add(tr("setup.role_refreshed", lang))
                if pos_password is not None:
                    if not pos_password:
                        raise SetupError(tr("setup.empty_password", lang))
                    verifier = encrypt_password(pos_password, names.ROLE, conn, "scram-sha-256")
                    cur.execute(f"ALTER ROLE {names.ROLE} PASSWORD %s", (verifier,))
                    report.add(tr("setup.password_set", lang))

                if demo_data:
                    from agent.db import demo_data as demo

                    count = demo.load(cur, today or dt.date.today())
                    report.add(tr("setup.demo_loaded", lang, count=count) if count else tr("setup.demo_present", lang))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        _after_commit(
            conn,
            report,
            trigger=trigger,
            indexes=indexes,
            lang=lang,
            progress=progress,
            progress_interval_s=progress_interval_s,
        )
    finally:
        _release(conn)
    return report


RUN_LOCK = 0x41564953_45545550  # "AVISETUP": one setup-db at a time per database (advisory locks are per database)
"""The session-level advisory lock key of a running ``setup-db`` (PostgreSQL docs, "Advisory Locks")."""


def _wait_for_other_runs(conn: Connection, report: SetupReport, lang: str) -> None:
    """One ``setup-db`` at a time on a database: two at once failed in three runs out of three (both created the
    function: duplicate key in ``pg_proc``; or two concurrent index builds deadlocked). Polls
    ``pg_try_advisory_lock`` every 0.5 s, never waiting inside a statement: a session blocked in
    ``pg_advisory_lock`` holds a snapshot, which the other run's ``CREATE INDEX CONCURRENTLY`` waits for (a
    deadlock); between two polls a READ COMMITTED transaction holds none. Says once that it waits."""
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,))
            row = cur.fetchone()
            if row and row[0]:
                return
            if not report.lines:
                report.add(tr("setup.waiting", lang))
                report.flush()
            time.sleep(0.5)


def _release(conn: Connection) -> None:
    """Give :data:`RUN_LOCK` back (also released by the server when the session ends). The install's transaction
    has been committed or rolled back by then."""
    if conn.closed:
        return
    with contextlib.suppress(psycopg2.Error):
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
        conn.rollback()


def _install_trigger(cur: psycopg2.extensions.cursor, channel: str, report: SetupReport, lang: str) -> None:
    before = _trigger_state(cur)
    cur.execute("SELECT set_config('aviso_entradas.channel', %s, true)", (channel,))
    cur.execute(trigger_sql())
    after = _trigger_state(cur)
    if before == after:
        report.add(tr("setup.trigger_unchanged", lang, channel=channel))
    elif not before[1]:
        report.add(tr("setup.trigger_created", lang, channel=channel))
    else:
        report.add(tr("setup.trigger_updated", lang, channel=channel))


def _after_commit(
    conn: Connection,
    report: SetupReport,
    *,
    trigger: bool,
    indexes: bool,
    lang: str,
    progress: Callable[[str], None] | None,
    progress_interval_s: float,
) -> None:
    """Indexes (outside any transaction), then what the installed state means (pure judges)."""
    from agent.db import kit_plan, setup_index

    report.flush()
    state = inspect.read(conn)
    plan = kit_plan.index_plan(state)
    if plan and not indexes:
        missing = ", ".join(f"{p.table} ({', '.join(p.columns)})" for p in plan)
        report.add(tr("setup.index_skipped", lang, indexes=missing))
    elif plan:
        for item in plan:
            if item.building:  # another session's concurrent build: not a leftover, left alone
                report.add(tr("setup.index_busy", lang, index=item.name, table=item.table, pid=item.building))
            elif item.invalid:
                report.add(tr("setup.index_rebuild", lang, index=item.name, table=item.table))
        report.flush()
        plan = [item for item in plan if not item.building]
        outcomes = setup_index.build(conn, plan, lang=lang, progress=progress, progress_interval_s=progress_interval_s)
        for out in outcomes:
            if out.ok and out.plan.partitioned:
                key = "setup.index_partitioned_partial" if out.unattached else "setup.index_partitioned"
                report.add(
                    tr(key, lang, index=out.plan.name, table=out.plan.table, attached=out.attached,
                       tables=", ".join(out.unattached))
                )  # fmt: skip
            elif out.ok:
                report.add(tr("setup.index_created", lang, index=out.plan.name, seconds=f"{out.seconds:.1f}"))
            else:
                report.failed = True
                report.add(tr("setup.index_failed", lang, index=out.plan.name, detail=out.detail))
            report.flush()
        state = inspect.read(conn)
    for line in kit_plan.setup_notes(state, with_trigger=trigger, lang=lang):
        report.add(line)
    report.flush()


def _exists(cur: psycopg2.extensions.cursor, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    row = cur.fetchone()
    return bool(row and row[0])
