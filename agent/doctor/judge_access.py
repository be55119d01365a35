"""Pure judgements of how the agent reads the table, over one :class:`~agent.db.inspect.KitState`: the indexes
its queries rely on, role/database-level session limits, the role's privileges, the measured cost of a sweep.
Also :func:`index_plan`, what ``setup-db`` creates. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.core import names
from agent.core.i18n import tr
from agent.db.inspect import KitState
from agent.db.kit_plan import index_plan
from agent.doctor.report import CheckResult, Status

SWEEP_WARN_MS = 50.0
"""A sweep runs every heartbeat (15 s) per front desk: above this the turnstile's PC feels ten desks."""
SEQ_SCAN_ROWS = 10_000.0
"""Below this many rows a sequential scan is what the planner rightly prefers: no warning."""


def indexes(state: KitState, lang: str) -> CheckResult:
    """Warn when an index the agent relies on is missing or INVALID on a table rows land in."""
    plan = index_plan(state)
    if not state.entries_exists:
        return CheckResult("indexes", Status.SKIP, tr("doctor.skipped", lang))
    if not plan:
        count = len(state.landing_tables())
        return CheckResult("indexes", Status.OK, tr("doctor.indexes.ok", lang, tables=count))
    parts = [
        tr("doctor.indexes.invalid", lang, index=p.invalid, table=p.table)
        if p.invalid
        else tr("doctor.indexes.partitioned", lang, table=p.table, columns=", ".join(p.columns))
        if p.partitioned
        else tr("doctor.indexes.missing", lang, table=p.table, columns=", ".join(p.columns))
        for p in plan
    ]
    return CheckResult("indexes", Status.WARN, "; ".join(parts), tr("doctor.indexes.fix", lang))


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def duration_ms(value: str) -> float | None:
    """A time setting as stored by ``ALTER ROLE ... SET`` ('400ms', '4s', '1min', '5000': no unit = ms) in
    milliseconds; None when it cannot be read (PostgreSQL docs, "Parameter Names and Values")."""
    m = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)\s*([a-z]*)'?\s*", value.strip().lower())
    if not m:
        return None
    unit = m.group(2) or "ms"
    return float(m.group(1)) * _UNITS_MS[unit] if unit in _UNITS_MS else None


def session_limits(state: KitState, heartbeat_s: float, lang: str) -> CheckResult:
    """Role/database-level ``statement_timeout`` / ``idle_session_timeout`` / ``idle_in_transaction_session_timeout``
    below the heartbeat: reported (warning) with the fact that the agent sets its own values per session."""
    role = state.role
    if role is None or not role.exists:
        return CheckResult("session_limits", Status.SKIP, tr("doctor.skipped", lang))
    low: list[str] = []
    for scope, name, value in role.settings:
        if name == "lock_timeout":
            continue
        ms = duration_ms(value)
        if ms is not None and 0 < ms < heartbeat_s * 1000:
            low.append(tr("doctor.session_limits.item", lang, name=name, value=value, scope=scope))
    if not low:
        return CheckResult("session_limits", Status.OK, tr("doctor.session_limits.ok", lang, role=role.name))
    return CheckResult(
        "session_limits",
        Status.WARN,
        tr("doctor.session_limits.low", lang, role=role.name, items="; ".join(low), seconds=f"{heartbeat_s:g}"),
        tr("doctor.session_limits.fix", lang, role=role.name),
    )


def role(state: KitState, lang: str) -> CheckResult:
    """Warn when the connected role can do more than read the agent's columns (superuser, attributes, writes,
    sensitive columns)."""
    r = state.role
    if r is None or not r.exists:
        return CheckResult("role", Status.SKIP, tr("doctor.skipped", lang))
    sensitive = [c for t, c in sorted(r.readable) if t == names.MEMBERS_TABLE and c in names.SENSITIVE_MEMBER_COLUMNS]
    issues: list[str] = []
    if r.superuser:
        issues.append(tr("doctor.role.superuser", lang))
    else:
        if r.attributes:
            issues.append(tr("doctor.role.attributes", lang, attributes=", ".join(r.attributes)))
        if r.writable:
            issues.append(tr("doctor.role.can_write", lang, tables=", ".join(r.writable)))
        if sensitive:
            issues.append(tr("doctor.role.sensitive", lang, columns=", ".join(sensitive)))
    if issues:
        return CheckResult(
            "role",
            Status.WARN,
            tr("doctor.role.too_much", lang, user=r.name) + " " + "; ".join(issues),
            tr("doctor.role.fix", lang),
        )
    return CheckResult("role", Status.OK, tr("doctor.role.ok", lang, user=r.name))


@dataclass(frozen=True)
class SweepCost:
    """What ``EXPLAIN (ANALYZE, BUFFERS)`` measured for one idle sweep: total execution time (ms), shared buffers
    touched (hit + read), and whether a plan node scans ``registro_entradas`` (or a child) sequentially."""

    ms: float
    buffers: int
    seq_scan: bool
    measured: bool = True
    """False: the plan alone (``EXPLAIN`` without ``ANALYZE``) showed a sequential scan of a large table, so it was
    not run (see :func:`worth_running`); ``ms`` and ``buffers`` are then 0."""
    seq_tables: tuple[str, ...] = ()
    """The relations scanned sequentially (plan nodes' ``Relation Name``); empty: not known, all count."""


def table_rows(state: KitState) -> float:
    """The planner's row estimate summed over the tables rows land in (``reltuples``; never analysed counts 0)."""
    return sum(max(r.rows, 0.0) for r in state.landing_tables())


def scanned_rows(cost: SweepCost, state: KitState) -> float:
    """Rows of the tables the sweep scans sequentially: an empty inheritance parent that the planner rightly scans
    (its rows were redirected to a child) does not count the child's rows."""
    if not cost.seq_tables:
        return table_rows(state)
    return sum(max(r.rows, 0.0) for r in state.relations if r.name in cost.seq_tables)


def worth_running(cost: SweepCost, state: KitState) -> bool:
    """Whether doctor may measure a sweep with ``EXPLAIN ANALYZE`` (which runs it): not when its plan scans a table
    of :data:`SEQ_SCAN_ROWS` rows or more sequentially. That one measurement would read the whole table on the
    turnstile's server (2,000,000 rows: 4,000,000 tuples for the two statements, measured; tens of millions on a
    years-old table), only to report what the plan already says. Pure."""
    return not (cost.seq_scan and scanned_rows(cost, state) >= SEQ_SCAN_ROWS)


def sweep(cost: SweepCost, state: KitState, lang: str) -> CheckResult:
    """Warn when a sweep scans a large table sequentially or takes longer than :data:`SWEEP_WARN_MS`."""
    rows = table_rows(state)
    if not cost.measured:
        detail = tr("doctor.sweep.not_run", lang, rows=f"{rows:,.0f}")
        return CheckResult("sweep", Status.WARN, detail, tr("doctor.indexes.fix", lang))
    detail = tr("doctor.sweep.detail", lang, ms=f"{cost.ms:.1f}", buffers=cost.buffers, rows=f"{rows:,.0f}")
    if cost.seq_scan and scanned_rows(cost, state) >= SEQ_SCAN_ROWS:
        return CheckResult(
            "sweep", Status.WARN, detail + "; " + tr("doctor.sweep.seq", lang), tr("doctor.indexes.fix", lang)
        )
    if cost.ms > SWEEP_WARN_MS:
        return CheckResult("sweep", Status.WARN, detail, tr("doctor.sweep.slow_fix", lang))
    return CheckResult("sweep", Status.OK, detail)
