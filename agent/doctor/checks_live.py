"""Checks that talk to the server beyond the catalog: ``listen`` (a NOTIFY round trip on a private channel),
``queries`` (the agent's own queries run), ``sweep`` (what an idle sweep costs, measured), ``tls``, ``clock``,
``queue``. Read-only: every query runs in a ``READ ONLY`` transaction; the LISTEN self-test uses a random channel,
never the turnstile's, so no agent sees it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import select
import time
from typing import Any

from agent.core import names
from agent.core.advice import Problem, explain
from agent.core.i18n import tr
from agent.db.inspect import read_only
from agent.doctor import judge, judge_access
from agent.doctor.context import Context
from agent.doctor.report import CheckResult, Status, failed

CLOCK_SKEW_WARN_S = 30.0
"""Above this many seconds between the PC's and the server's clocks, warn (entry times and "ago" texts drift)."""
SWEEP_TIMEOUT_S = 30.0
"""The measured sweep (``EXPLAIN ANALYZE``) may take this long; a longer one is reported as the error it is."""
QUEUE_WARN = 0.25
QUEUE_FAIL = 0.5
"""At half full the trigger stops sending notifications (``sql/setup_postgres_trigger.sql``)."""


def listen(ctx: Context) -> CheckResult:
    """LISTEN on a private channel here, NOTIFY from a second connection, wait for it. Poll mode: skipped; a
    replica in notify mode: poll mode recommended (a standby cannot LISTEN)."""
    import psycopg2
    from psycopg2 import sql

    from agent.db.connect import ConnectError, open_connection

    lang = ctx.lang
    if ctx.target.mode == "poll":
        return judge.poll_mode_skip("listen", lang)
    replica = judge.replica(ctx.kit(), ctx.target.mode, lang)
    if replica is not None:
        return replica
    chan = "aviso_doctor_" + secrets.token_hex(6)
    token = secrets.token_hex(8)
    conn = ctx.conn
    try:
        conn.autocommit = False
        conn.set_session(readonly=False)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("LISTEN {}").format(sql.Identifier(chan)))
        conn.commit()
    except psycopg2.Error as exc:
        with contextlib.suppress(Exception):
            conn.rollback()
        return ctx.error("listen", exc)
    started = time.monotonic()
    try:
        other = open_connection(ctx.kwargs)
    except ConnectError as exc:
        return failed("listen", exc.detail, exc.problem, lang)
    try:
        other.autocommit = True
        with other.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, %s)", (chan, token))
    except psycopg2.Error as exc:
        return ctx.error("listen", exc)
    finally:
        other.close()
    got = _wait_for(conn, chan, token, started + ctx.target.listen_timeout_s)
    elapsed_ms = (time.monotonic() - started) * 1000
    with contextlib.suppress(psycopg2.Error):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(chan)))
        conn.commit()
    if got:
        return CheckResult("listen", Status.OK, tr("doctor.listen.ok", lang, ms=f"{elapsed_ms:.1f}"))
    evidence = _pooler_evidence(ctx)
    detail = tr("doctor.listen.no_notify", lang, seconds=ctx.target.listen_timeout_s)
    return failed("listen", f"{detail} {evidence}" if evidence else detail, Problem.POOLER, lang)


def _wait_for(conn: Any, chan: str, token: str, deadline: float) -> bool:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([conn], [], [], left)
        if not ready:
            continue
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            if n.channel == chan and n.payload == token:
                return True


def _pooler_evidence(ctx: Context) -> str:
    """Why a LISTEN went deaf: the server port differs from ours (a proxy in between), or the backend changes
    between transactions on one client connection (transaction pooling). '' when nothing was found."""
    import psycopg2

    clues: list[str] = []
    try:
        pids = []
        for _ in range(2):
            with read_only(ctx.conn) as cur:
                cur.execute("SELECT pg_backend_pid(), inet_server_port()")
                pid, server_port = cur.fetchone()
                pids.append(pid)
        our_port = int(ctx.conn.info.port)
        if server_port is not None and int(server_port) != our_port:
            clues.append(tr("doctor.listen.port_differs", ctx.lang, ours=our_port, server=server_port))
        if pids[0] != pids[1]:
            clues.append(tr("doctor.listen.pid_changes", ctx.lang))
    except (psycopg2.Error, TypeError, ValueError):
        pass
    return " ".join(clues)


def _entry_select(ctx: Context) -> Any:
    """The agent's SELECT for the columns this role can read; raises ``SchemaError``."""
    from agent.db import queries as q

    role = ctx.kit().role
    return q.EntrySelect.from_readable(sorted(role.readable) if role else [])


def queries(ctx: Context) -> CheckResult:
    """Runs the listener's own queries (:mod:`agent.db.queries`), read-only, with harmless parameters: the cursor at
    the newest entry, so they read next to nothing on a table of any size."""
    from agent.db import queries as q

    lang = ctx.lang
    role = ctx.kit().role
    have = role.readable if role else frozenset()
    missing_optional = [
        f"{table}.{col}"
        for table, columns in ((names.ENTRIES_TABLE, names.ENTRY_COLUMNS), (names.MEMBERS_TABLE, names.MEMBER_COLUMNS))
        for col in columns
        if (table, col) not in have
    ]
    try:
        entry_select = _entry_select(ctx)
    except q.SchemaError:
        required = [f"{names.ENTRIES_TABLE}.{c}" for c in names.ENTRY_REQUIRED]
        required += [f"{names.MEMBERS_TABLE}.{c}" for c in names.MEMBER_REQUIRED]
        missing = [c for c in required if c in missing_optional]
        detail = tr("doctor.queries.missing", lang, columns=", ".join(missing))
        return CheckResult("queries", Status.FAIL, detail, explain(Problem.SCHEMA, lang), Problem.SCHEMA)
    params = {"member": names.MEMBER_ACCESS, "after_id": 0, "since": dt.datetime.now(dt.UTC), "max_age_s": 60.0}
    with read_only(ctx.conn) as cur:
        # From the newest entry, as a running agent reads: after_id = 0 made the backlog count every member entry
        # of the table (2,000,000 rows: 0.6 s of the turnstile's server on every doctor run, measured). The
        # primary key answers max(id_entrada) from its index.
        cur.execute(f"SELECT coalesce(max(id_entrada), 0) FROM {names.ENTRIES_TABLE}")
        params["after_id"] = int(cur.fetchone()[0])
        cur.execute(q.START_SQL, {"elapsed_s": 0.0})
        cur.execute(q.BACKLOG_SQL, {**params, "max_age_s": 600.0})
        cur.execute(entry_select.catch_up_sql(), {**params, "page_after": 0, "limit": 1})
        cur.fetchall()
        cur.execute(entry_select.by_ids_sql(), {"member": names.MEMBER_ACCESS, "ids": [0]})
        cur.fetchall()
    if missing_optional:
        return CheckResult(
            "queries",
            Status.WARN,
            tr("doctor.queries.optional_missing", lang, columns=", ".join(missing_optional)),
            tr("doctor.queries.optional_fix", lang),
        )
    return CheckResult("queries", Status.OK, tr("doctor.queries.ok", lang))


def _lookback_s() -> float:
    """The engine's default late-commit window (``EngineConfig.lookback_s``), seconds."""
    from agent.db.engine_config import EngineConfig

    return float(EngineConfig.__dataclass_fields__["lookback_s"].default)  # type: ignore[arg-type]


SWEEP_STATEMENTS = ("backlog", "pending")
"""The statements of one idle sweep (NOTIFY mode) or one poll (poll mode), by their
:func:`agent.db.queries.engine_queries` names."""


def sweep(ctx: Context) -> CheckResult:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of what an idle agent sends on each sweep / poll
    (:func:`agent.db.queries.engine_queries`, the engine's own statements and parameters, cursor at the newest
    entry): time, buffers, sequential scans. ``EXPLAIN ANALYZE`` runs the SELECTs (read-only); nothing is
    written. Each statement's plain plan comes first: one that scans a large table sequentially is not run
    (:func:`judge_access.worth_running`), it is reported from the plan."""
    from agent.db import queries as q

    state = ctx.kit()
    if not state.entries_exists:
        return CheckResult("sweep", Status.SKIP, tr("doctor.skipped", ctx.lang))
    try:
        entry_select = _entry_select(ctx)
    except q.SchemaError:
        return CheckResult("sweep", Status.SKIP, tr("doctor.skipped", ctx.lang))
    tables = {r.name for r in state.relations}
    total = judge_access.SweepCost(0.0, 0, False)
    with read_only(ctx.conn) as cur:
        # A role-level statement_timeout (reported by `session_limits`) must not cancel the measurement itself.
        cur.execute("SET LOCAL statement_timeout = %s", (f"{int(SWEEP_TIMEOUT_S * 1000)}ms",))
        cur.execute(f"SELECT coalesce(max(id_entrada), 0), now() FROM {names.ENTRIES_TABLE}")
        max_id, now = cur.fetchone()
        for stmt in q.engine_queries(entry_select, max_id=int(max_id), now=now, lookback_s=_lookback_s()):
            if stmt.name not in SWEEP_STATEMENTS:
                continue
            cur.execute("EXPLAIN (FORMAT JSON) " + stmt.sql, stmt.params)  # the plan only: nothing runs
            planned = _add(judge_access.SweepCost(0.0, 0, False), _plan(cur), tables)
            if not judge_access.worth_running(planned, state):
                not_run = judge_access.SweepCost(0.0, 0, True, measured=False, seq_tables=planned.seq_tables)
                return judge_access.sweep(not_run, state, ctx.lang)
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + stmt.sql, stmt.params)
            total = _add(total, _plan(cur), tables)
    return judge_access.sweep(total, state, ctx.lang)


def _plan(cur: Any) -> dict[str, Any]:
    raw = cur.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]  # type: ignore[no-any-return]


def _add(total: judge_access.SweepCost, plan: dict[str, Any], tables: set[str]) -> judge_access.SweepCost:
    root = plan["Plan"]
    ms = float(plan.get("Execution Time", 0.0)) + float(plan.get("Planning Time", 0.0))
    buffers = int(root.get("Shared Hit Blocks", 0)) + int(root.get("Shared Read Blocks", 0))
    scanned: list[str] = list(total.seq_tables)
    stack = [root]
    while stack:
        node = stack.pop()
        name = node.get("Relation Name")
        if node.get("Node Type") == "Seq Scan" and name in tables and name not in scanned:
            scanned.append(str(name))
        stack.extend(node.get("Plans", []))
    return judge_access.SweepCost(total.ms + ms, total.buffers + buffers, bool(scanned), total.measured, tuple(scanned))


def tls(ctx: Context) -> CheckResult:
    """TLS in use (the server's own ``pg_stat_ssl`` for our backend when known) and verified; an unencrypted
    session to a remote host, which ``sslmode`` allowed, is a warning naming a default root.crt if one exists."""
    lang = ctx.lang
    info = ctx.conn.info
    params = info.dsn_parameters
    sslmode = params.get("sslmode", "prefer")
    host = params.get("host", "")
    local = host.startswith("/") or host.startswith("@") or host in ("localhost", "127.0.0.1", "::1")
    server_says = ctx.kit().session_ssl
    encrypted = bool(info.ssl_in_use) if server_says is None else server_says
    if encrypted:
        proto = info.ssl_attribute("protocol") or "TLS"
        cipher = info.ssl_attribute("cipher") or ""
        if sslmode == "verify-full":
            return CheckResult("tls", Status.OK, tr("doctor.tls.verified", lang, protocol=proto, cipher=cipher))
        detail = tr("doctor.tls.unverified", lang, protocol=proto, sslmode=sslmode) + _ignored_root_cert(ctx)
        return CheckResult("tls", Status.WARN, detail, tr("doctor.tls.verify_fix", lang))
    if local:
        return CheckResult("tls", Status.OK, tr("doctor.tls.local", lang, host=host))
    detail = tr("doctor.tls.off", lang)
    return CheckResult("tls", Status.WARN, detail, tr("doctor.tls.off_fix", lang))


def _ignored_root_cert(ctx: Context) -> str:
    """' <libpq's default root.crt> exists and is ignored' when the connection layer kept libpq from it
    (:data:`agent.db.connect.NO_ROOT_CERT`), else ''. A stale file there is not what decides the session."""
    from agent.db.connect import NO_ROOT_CERT, default_root_cert

    path = default_root_cert() if (ctx.kwargs or {}).get("sslrootcert") == NO_ROOT_CERT else None
    return " " + tr("doctor.tls.root_cert_ignored", ctx.lang, path=path) if path else ""


def clock(ctx: Context) -> CheckResult:
    with read_only(ctx.conn) as cur:
        before = ctx.clock()
        cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
        after = ctx.clock()
        server = float(cur.fetchone()[0])
    skew = server - (before + after) / 2
    detail = tr("doctor.clock.detail", ctx.lang, seconds=f"{skew:+.1f}")
    if abs(skew) <= CLOCK_SKEW_WARN_S:
        return CheckResult("clock", Status.OK, detail)
    return CheckResult("clock", Status.WARN, detail, tr("doctor.clock.fix", ctx.lang))


def queue_status(usage: float) -> Status:
    """``pg_notification_queue_usage()`` (0..1) as a status: fail at :data:`QUEUE_FAIL` (the trigger stops
    sending), warn from :data:`QUEUE_WARN`. Pure."""
    if usage >= QUEUE_FAIL:
        return Status.FAIL
    if usage >= QUEUE_WARN:
        return Status.WARN
    return Status.OK


def queue(ctx: Context) -> CheckResult:
    with read_only(ctx.conn) as cur:
        cur.execute("SELECT pg_notification_queue_usage()")
        usage = float(cur.fetchone()[0])
    status = queue_status(usage)
    detail = tr("doctor.queue.detail", ctx.lang, percent=f"{usage * 100:.2f}")
    return CheckResult("queue", status, detail, "" if status is Status.OK else tr("doctor.queue.fix", ctx.lang))
