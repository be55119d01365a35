"""What the kit still has to install, as pure functions of one :class:`~agent.db.inspect.KitState`: the indexes
to build (:func:`index_plan`), the tables rows land in without our trigger (:func:`untriggered_tables`), and the
notes ``setup-db`` prints about the installed state (:func:`setup_notes`). Used by ``setup-db`` and by the doctor's
judges (:mod:`agent.doctor.judge`, :mod:`agent.doctor.judge_access`). No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.i18n import tr
from agent.db.inspect import KitState

REQUIRED_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id_entrada_idx", ("id_entrada",)),
    ("fecha_hora_idx", ("fecha_hora",)),
    ("miembro_fecha_idx", ("id_miembro", "fecha_hora")),
)
"""(name suffix, leading key columns) of the indexes the agent's queries rely on: the cursor's ``id_entrada >``
bound (the primary key covers it on ``registro_entradas`` and on declarative partitions, whose primary key leads
with it; an inheritance child inherits no index at all, and without one every idle sweep scanned the child: the
turnstile's whole history once rows are redirected there), the sweep/catch-up by time, the re-read of a member's
previous entry (repeat-entry / first-visit alerts)."""


@dataclass(frozen=True)
class IndexPlan:
    """One index ``setup-db`` should build on ``table``: ``name`` over ``columns``; ``invalid`` names an INVALID
    index left by a failed concurrent build that must be dropped first ('' when none). ``partitioned``: ``table``
    is a declaratively partitioned table: the index is made ``ON ONLY`` it and the partitions' indexes are
    attached to it (then partitions created later get the index from the server)."""

    table: str
    name: str
    columns: tuple[str, ...]
    invalid: str = ""
    partitioned: bool = False
    schema: str = ""
    """``table``'s schema ('' : found by the search_path); the index is created in it."""
    building: int = 0
    """PID of another session building ``invalid`` concurrently right now: ``setup-db`` leaves it alone (dropping
    it would make one of the two builds fail, e.g. with a deadlock) and says so."""


def index_name(table: str, suffix: str) -> str:
    """``<table>_<suffix>``, e.g. ``registro_entradas_fecha_hora_idx`` (the name ``sql/schema.sql`` uses), cut to
    PostgreSQL's 63-byte identifier limit."""
    return f"{table}_{suffix}".encode()[:63].decode("utf-8", errors="ignore")


def index_plan(state: KitState) -> list[IndexPlan]:
    """The missing or INVALID indexes on every table rows land in, then (declarative partitioning) each
    partitioned table's index (sub-partitions first, the root last) that makes partitions created later get one
    too; in build order. Pure."""
    plan: list[IndexPlan] = []
    for rel in state.landing_tables():
        mine = [i for i in state.indexes if i.relation == rel.name]
        for suffix, cols in REQUIRED_INDEXES:
            if any(i.valid and i.columns[: len(cols)] == cols for i in mine):
                continue
            name = index_name(rel.name, suffix)
            stale = next((i for i in mine if not i.valid and i.columns[: len(cols)] == cols), None)
            invalid = stale.name if stale else ""
            plan.append(
                IndexPlan(
                    rel.name, invalid or name, cols, invalid, schema=rel.schema,
                    building=stale.building if stale else 0,
                )
            )  # fmt: skip
    # Sub-partitioned trees: every partitioned table gets its index, the deepest first, so that each one's
    # partitions (a partitioned partition included) already have an index to attach when it is made.
    for parent in reversed([r for r in state.relations if r.kind == "p"]):
        mine = [i for i in state.indexes if i.relation == parent.name]
        for suffix, cols in REQUIRED_INDEXES:
            if any(i.valid and i.columns[: len(cols)] == cols for i in mine):
                continue
            pending = next((i.name for i in mine if i.columns == cols), "")  # made ON ONLY, not all attached
            plan.append(
                IndexPlan(
                    parent.name, pending or index_name(parent.name, suffix), cols, partitioned=True,
                    schema=parent.schema,
                )
            )  # fmt: skip
    return plan


def untriggered_tables(state: KitState) -> tuple[str, ...]:
    """Tables rows can land in (``relkind = 'r'`` in the ``registro_entradas`` tree) whose inserts run no enabled
    trigger of ours. A partitioned parent (``relkind = 'p'``) holds no rows: its partitions are judged."""
    covered = {t.relation for t in state.triggers if t.enabled not in ("D", "R")}
    return tuple(r.name for r in state.landing_tables() if r.name not in covered)


def setup_notes(state: KitState, *, with_trigger: bool, lang: str) -> list[str]:
    """Lines ``setup-db`` prints after installing, from the state read afterwards: two-phase commit, a replica, the
    tables the trigger covers. Pure."""
    lines: list[str] = []
    if with_trigger:
        covered = sorted({t.relation for t in state.triggers})
        if len(state.relations) > 1:
            lines.append(tr("setup.partitions", lang, tables=", ".join(covered)))
        missing = untriggered_tables(state)
        if missing:
            lines.append(tr("setup.partitions_missing", lang, tables=", ".join(missing)))
        if state.max_prepared_transactions > 0:
            lines.append(tr("setup.two_phase", lang, count=state.max_prepared_transactions))
    return lines
