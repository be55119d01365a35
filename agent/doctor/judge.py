"""Pure judgements of the kit's notification path over one :class:`~agent.db.inspect.KitState`: the trigger, its
channel, partitions, two-phase commit, a replica. ``doctor``, ``configure`` and ``setup-db`` call these; none does
I/O. Each returns a :class:`~agent.doctor.report.CheckResult` (translated detail and advice).

Facts relied on (PostgreSQL docs): a ``BEFORE`` row trigger returning NULL skips the row, so ``AFTER`` triggers on
that table never fire ("Overview of Trigger Behavior"); a row trigger on a partitioned table is cloned to every
partition, existing or attached later ("CREATE TRIGGER", PostgreSQL 11+ for ``AFTER`` triggers); inheritance
children get no trigger of their parent ("Inheritance"); ``PREPARE TRANSACTION`` is refused for a transaction that
has executed ``NOTIFY`` ("PREPARE TRANSACTION": "It is not currently allowed to PREPARE a transaction that has
executed any operations involving temporary tables or the session's temporary namespace, created any cursors WITH
HOLD, or executed LISTEN, UNLISTEN, or NOTIFY").
"""

from __future__ import annotations

import re

from agent.core import names
from agent.core.advice import Problem
from agent.core.i18n import tr
from agent.db.inspect import KitState
from agent.db.kit_plan import untriggered_tables
from agent.doctor.report import CheckResult, Status, skipped

MIN_SERVER_VERSION_NUM = 120000
"""The trigger is written for PostgreSQL 12-17 (``sql/setup_postgres_trigger.sql``)."""


def shipped_function_source(trigger_sql: str) -> str | None:
    """The trigger function body inside ``trigger_sql`` (the text of ``sql/setup_postgres_trigger.sql``)."""
    m = re.search(
        r"FUNCTION\s+" + re.escape(names.TRIGGER_FUNCTION) + r"\(\).*?AS\s+\$(\w*)\$(.*?)\$\1\$",
        trigger_sql,
        re.DOTALL | re.IGNORECASE,
    )
    return m.group(2) if m else None


def adapt_to_columns(source: str, present: frozenset[tuple[str, str]] | set[tuple[str, str]]) -> str:
    """The shipped body as the install's DO block adapts it to a schema lacking optional display columns
    (``sql/setup_postgres_trigger.sql``: ``NEW.<col>`` / ``m.<col>`` read as ``NULL::text``)."""
    for col in ("torniquete", "resultado"):
        if (names.ENTRIES_TABLE, col) not in present:
            source = source.replace(f"NEW.{col}", "NULL::text")
    for col in ("plan", "fecha_vencimiento", "saldo_pendiente", "fecha_nacimiento", "foto_url", "notas"):
        if (names.MEMBERS_TABLE, col) not in present:
            source = source.replace(f"m.{col}", "NULL::text")
    return source


def _norm(src: str) -> str:
    return src.replace("\r\n", "\n").strip()


def server_version(state: KitState, lang: str) -> CheckResult:
    """OK from PostgreSQL 12 (what the trigger is written for), warn below."""
    if state.server_version_num >= MIN_SERVER_VERSION_NUM:
        return CheckResult(
            "server_version", Status.OK, tr("doctor.server_version.ok", lang, version=state.server_version)
        )
    return CheckResult(
        "server_version",
        Status.WARN,
        tr("doctor.server_version.old", lang, version=state.server_version),
        tr("doctor.server_version.old_fix", lang),
    )


def trigger(state: KitState, lang: str, shipped: str | None) -> CheckResult:
    """Our trigger is on ``registro_entradas``, enabled, calls our function at the shipped version. ``shipped``:
    :func:`shipped_function_source` of the kit's file (None: do not compare bodies)."""
    if not state.entries_exists and state.other_schemas:  # there, but off this role's search_path
        return CheckResult(
            "trigger",
            Status.FAIL,
            tr("doctor.trigger.off_path", lang, table=names.ENTRIES_TABLE, schemas=", ".join(state.other_schemas)),
            tr("doctor.trigger.off_path_fix", lang),
            Problem.SCHEMA,
        )
    if not state.entries_exists:
        return CheckResult(
            "trigger",
            Status.FAIL,
            tr("doctor.trigger.no_table", lang, table=names.ENTRIES_TABLE),
            tr("doctor.trigger.run_setup_schema", lang),
            Problem.SCHEMA,
        )
    t = state.named_trigger
    if t is None:
        detail = tr("doctor.trigger.missing", lang, trigger=names.TRIGGER_NAME, table=names.ENTRIES_TABLE)
        if state.other_triggers:
            detail += " " + tr("doctor.trigger.others", lang, triggers=", ".join(state.other_triggers))
        return CheckResult("trigger", Status.FAIL, detail, tr("doctor.trigger.run_setup", lang), Problem.SCHEMA)
    if t.enabled in ("D", "R"):
        return CheckResult(
            "trigger",
            Status.FAIL,
            tr("doctor.trigger.disabled", lang, trigger=names.TRIGGER_NAME, mode=t.enabled),
            tr("doctor.trigger.enable", lang, trigger=names.TRIGGER_NAME, table=names.ENTRIES_TABLE),
            Problem.SCHEMA,
        )
    fn = state.function
    ours = state.named_trigger_function == names.TRIGGER_FUNCTION and fn is not None
    comment = fn.comment if fn is not None and ours else None
    if not ours or comment != names.TRIGGER_VERSION_COMMENT:
        return CheckResult(
            "trigger",
            Status.FAIL,
            tr("doctor.trigger.other_version", lang, function=state.named_trigger_function, comment=comment or "-"),
            tr("doctor.trigger.run_setup", lang),
            Problem.SCHEMA,
        )
    assert fn is not None
    if shipped is not None and _norm(adapt_to_columns(shipped, state.columns)) != _norm(fn.source):
        return CheckResult(
            "trigger",
            Status.WARN,
            tr("doctor.trigger.modified", lang, function=names.TRIGGER_FUNCTION),
            tr("doctor.trigger.run_setup", lang),
        )
    if state.other_schemas:
        ours_at = state.entries.schema if state.entries is not None else ""
        return CheckResult(
            "trigger",
            Status.WARN,
            tr("doctor.trigger.ok", lang, comment=comment)
            + "; "
            + tr("doctor.trigger.look_alike", lang, schemas=", ".join(state.other_schemas), schema=ours_at),
            tr("doctor.trigger.look_alike_fix", lang, schema=ours_at),
        )
    return CheckResult("trigger", Status.OK, tr("doctor.trigger.ok", lang, comment=comment))


def trigger_channel(args: bytes) -> bytes:
    """The channel (bytes, server encoding) a trigger notifies on from its raw ``tgargs``; no argument means the
    function's default (PostgreSQL docs, "pg_trigger": each argument NUL-terminated)."""
    return args.split(b"\x00")[0] if args else names.DEFAULT_CHANNEL.encode()


def channel(state: KitState, wanted: str, lang: str) -> CheckResult:
    """The trigger's channel equals ``wanted`` byte for byte (LISTEN is case-sensitive once quoted)."""
    if state.named_trigger is None:
        return skipped("channel", lang)
    theirs = trigger_channel(state.named_trigger.args)
    theirs_text = theirs.decode("utf-8", errors="replace")
    if theirs == wanted.encode("utf-8"):
        return CheckResult("channel", Status.OK, tr("doctor.channel.ok", lang, channel=theirs_text))
    key = "doctor.channel.case" if theirs_text.casefold() == wanted.casefold() else "doctor.channel.differs"
    return CheckResult(
        "channel",
        Status.FAIL,
        tr(key, lang, theirs=repr(theirs_text), ours=repr(wanted)),
        tr("doctor.channel.fix", lang, theirs=theirs_text),
    )


def partitions(state: KitState, lang: str) -> CheckResult:
    """An INSERT through the turnstile's path notifies, judged from the catalog: every table a row can land in
    (inheritance children, declarative partitions) runs our trigger. A ``BEFORE INSERT`` row trigger on the parent
    with no children is a warning: it may divert rows where doctor cannot see."""
    if not state.entries_exists or not state.triggers:
        return skipped("partitions", lang)
    children = state.relations[1:]
    if not children:
        if state.before_insert_triggers:
            return CheckResult(
                "partitions",
                Status.WARN,
                tr("doctor.partitions.before", lang, triggers=", ".join(state.before_insert_triggers)),
                tr("doctor.partitions.before_fix", lang),
            )
        return CheckResult("partitions", Status.OK, tr("doctor.partitions.none", lang))
    missing = untriggered_tables(state)
    declarative = any(r.declarative for r in children)
    kind = tr("doctor.partitions.kind_declarative" if declarative else "doctor.partitions.kind_inherit", lang)
    if missing:
        detail = tr("doctor.partitions.missing", lang, kind=kind, tables=", ".join(missing))
        if state.before_insert_triggers:
            detail += " " + tr("doctor.partitions.redirect", lang, triggers=", ".join(state.before_insert_triggers))
        return CheckResult("partitions", Status.FAIL, detail, tr("doctor.partitions.missing_fix", lang), Problem.SCHEMA)
    count = len(state.landing_tables())
    return CheckResult("partitions", Status.OK, tr("doctor.partitions.ok", lang, kind=kind, count=count))


def two_phase(state: KitState, mode: str, lang: str) -> CheckResult:
    """``max_prepared_transactions > 0``: a client may ``PREPARE TRANSACTION`` (MSDTC, XA), which the server refuses
    after our trigger's NOTIFY. A warning in notify mode (the turnstile's INSERT would be lost); OK in poll mode."""
    n = state.max_prepared_transactions
    if n <= 0:
        return CheckResult("two_phase", Status.OK, tr("doctor.two_phase.off", lang))
    if mode == "poll":
        return CheckResult("two_phase", Status.OK, tr("doctor.two_phase.poll", lang, count=n))
    return CheckResult(
        "two_phase", Status.WARN, tr("doctor.two_phase.on", lang, count=n), tr("doctor.two_phase.fix", lang)
    )


def replica(state: KitState, mode: str, lang: str) -> CheckResult | None:
    """A hot standby cannot LISTEN (and gets no NOTIFY from the primary): in notify mode, recommend poll mode.
    None when the server is not a replica or the mode is poll (nothing to say)."""
    if not state.in_recovery or mode == "poll":
        return None
    return CheckResult("listen", Status.WARN, tr("doctor.listen.replica", lang), tr("doctor.listen.replica_fix", lang))


def poll_mode_skip(check: str, lang: str) -> CheckResult:
    """A check of the notify path that poll mode does not need."""
    return skipped(check, lang, tr("doctor.poll_mode", lang))


def configure_findings(
    state: KitState, *, channel_name: str, mode: str, lang: str, shipped: str | None = None
) -> list[CheckResult]:
    """What ``configure`` should tell before saving: in notify mode the trigger, its channel, partitions, two-phase
    commit and a replica; in poll mode two-phase/replica notes only. The configuration is usable when no result is
    ``FAIL``. Pure."""
    if mode == "poll":
        return [two_phase(state, mode, lang)]
    out = [trigger(state, lang, shipped), channel(state, channel_name, lang), partitions(state, lang)]
    out.append(two_phase(state, mode, lang))
    rep = replica(state, mode, lang)
    if rep is not None:
        out.append(rep)
    return out
