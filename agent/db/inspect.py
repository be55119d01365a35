"""Read, once, what the turnstile kit installed and what the server around it is like, into a plain frozen value.

:func:`read` runs a handful of catalog queries in one ``READ ONLY`` transaction (rolled back afterwards) and returns
a :class:`KitState`: the trigger on ``registro_entradas`` and its function body/version/channel, the tables the rows
actually land in (inheritance children from ``pg_inherits``, declarative partitions: ``pg_class.relkind = 'p'``),
their indexes (valid or left INVALID by a failed ``CREATE INDEX CONCURRENTLY``), a role's attributes and grants,
role/database-level settings (``pg_db_role_setting``), ``max_prepared_transactions``, ``pg_is_in_recovery()`` and
whether our own session is encrypted (``pg_stat_ssl``). It never writes.

``doctor``, ``configure`` and ``setup-db`` judge that value with pure functions (:mod:`agent.doctor.judge`).
Which thread: any; the caller owns ``conn`` (not shared meanwhile). Needs no privilege beyond the ability to log
in: every catalog read here is open to ``PUBLIC`` (PostgreSQL docs, "System Catalogs"; ``pg_db_role_setting``
and ``pg_stat_ssl`` are readable by every role).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.core import names

LIMIT_SETTINGS = ("statement_timeout", "idle_session_timeout", "idle_in_transaction_session_timeout", "lock_timeout")
"""Settings a role or database may carry (``ALTER ROLE ... SET``) that can end or cut the agent's session."""


@dataclass(frozen=True)
class TriggerInfo:
    """One trigger that calls our function, on ``relation``. ``enabled``: ``pg_trigger.tgenabled`` (``O`` origin,
    ``D`` disabled, ``R`` replica only, ``A`` always). ``args``: raw ``tgargs`` (NUL-terminated arguments).
    ``cloned``: created by the server from a partitioned parent's trigger (``tgparentid`` / ``tgisinternal``)."""

    relation: str
    name: str
    enabled: str
    args: bytes
    cloned: bool = False


@dataclass(frozen=True)
class Relation:
    """A table of the ``registro_entradas`` tree. ``kind``: ``r`` table, ``p`` partitioned (holds no rows).
    ``parent`` is '' for ``registro_entradas`` itself; ``declarative``: a partition, not an inheritance child.
    ``rows``: the planner's estimate (``pg_class.reltuples``; -1 or 0 when never analysed). ``schema``: its schema
    (``pg_namespace.nspname``): a partition or child may live in another schema than its parent, off the
    search_path, so statements naming it qualify it with this."""

    name: str
    kind: str
    parent: str = ""
    declarative: bool = False
    rows: float = 0.0
    schema: str = ""

    @property
    def holds_rows(self) -> bool:
        return self.kind == "r"


@dataclass(frozen=True)
class IndexInfo:
    """A plain (non-partial, non-expression) btree index: its key columns in order; ``valid`` False for an index a
    failed ``CREATE INDEX CONCURRENTLY`` left behind (``pg_index.indisvalid``/``indisready``)."""

    relation: str
    name: str
    columns: tuple[str, ...]
    valid: bool
    building: int = 0
    """PID of a session building it now (``pg_stat_progress_create_index``, PostgreSQL docs "Progress Reporting";
    seen by its owner or a superuser), else 0: not valid yet, but not a failed build's leftover either."""


@dataclass(frozen=True)
class RoleInfo:
    """A role's attributes and what it may do on the two tables. ``readable``: (table, column) it may SELECT;
    ``writable``: tables it may INSERT/UPDATE/DELETE/TRUNCATE."""

    name: str
    exists: bool
    superuser: bool = False
    attributes: tuple[str, ...] = ()
    readable: frozenset[tuple[str, str]] = frozenset()
    writable: tuple[str, ...] = ()
    acl: tuple[str, ...] = field(default=(), repr=False)
    """Raw ACLs (``rolcanlogin``/attributes, this database's ``datacl``, the two tables' ``relacl`` and every column's
    ``attacl``), as text: equal before and after ``setup-db`` means its grants changed nothing."""
    settings: tuple[tuple[str, str, str], ...] = ()
    """(scope, name, value) of :data:`LIMIT_SETTINGS` set for this role and/or this database (``pg_db_role_setting``;
    scope ``role``, ``database`` or ``role+database``), e.g. ``("role", "statement_timeout", "400ms")``."""


@dataclass(frozen=True)
class FunctionInfo:
    """Our trigger function as installed: ``source`` (``prosrc``) and ``comment`` (carries the payload version)."""

    source: str = field(repr=False)
    comment: str | None


@dataclass(frozen=True)
class KitState:
    """Everything doctor/configure/setup-db judge. Plain data, no connection inside; see the module docstring."""

    server_version_num: int
    server_version: str
    in_recovery: bool
    max_prepared_transactions: int
    entries_exists: bool
    members_exists: bool
    columns: frozenset[tuple[str, str]] = frozenset()
    """(table, column) present in the two tables (whatever the role may read)."""
    relations: tuple[Relation, ...] = ()
    """``registro_entradas`` first, then every descendant (inheritance children and partitions, any depth)."""
    triggers: tuple[TriggerInfo, ...] = ()
    """Every trigger calling our function, on any relation of the tree (by function, whatever its name)."""
    named_trigger: TriggerInfo | None = None
    """The trigger called ``aviso_nueva_entrada`` on ``registro_entradas``, whatever function it calls."""
    named_trigger_function: str = ""
    """The function that trigger calls (``proname``), '' when there is no such trigger."""
    other_triggers: tuple[str, ...] = ()
    """Names of the other user triggers on ``registro_entradas``."""
    before_insert_triggers: tuple[str, ...] = ()
    """User ``BEFORE INSERT ... FOR EACH ROW`` triggers on ``registro_entradas`` (may divert rows: return NULL)."""
    function: FunctionInfo | None = None
    indexes: tuple[IndexInfo, ...] = ()
    role: RoleInfo | None = None
    session_ssl: bool | None = None
    """Our own backend's ``pg_stat_ssl.ssl`` (None when unknown)."""
    other_schemas: tuple[str, ...] = ()
    """Schemas with another ``registro_entradas`` than the one this role's search_path finds (all when none)."""

    @property
    def entries(self) -> Relation | None:
        return self.relations[0] if self.relations else None

    def landing_tables(self) -> tuple[Relation, ...]:
        """The tables rows can land in: every relation of the tree that holds rows (``relkind = 'r'``)."""
        return tuple(r for r in self.relations if r.holds_rows)


RELATIONS_SQL = """
WITH RECURSIVE tree(oid, parent, depth) AS (
    SELECT to_regclass(%(table)s)::oid, 0::oid, 0 WHERE to_regclass(%(table)s) IS NOT NULL
  UNION ALL
    SELECT i.inhrelid, i.inhparent, t.depth + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
     WHERE t.depth < 10
)
SELECT c.relname::text, c.relkind::text, coalesce(p.relname::text, ''), c.relispartition, c.reltuples::float8,
       n.nspname::text
  FROM tree t JOIN pg_class c ON c.oid = t.oid LEFT JOIN pg_class p ON p.oid = t.parent
  JOIN pg_namespace n ON n.oid = c.relnamespace
 ORDER BY t.depth, c.relname
"""
"""Rows: (name, relkind, parent name or '', is a declarative partition, reltuples, schema), tree order."""


def _tree_oids_sql() -> str:
    return (
        "WITH RECURSIVE tree(oid, depth) AS (SELECT to_regclass(%(table)s)::oid, 0 "
        "WHERE to_regclass(%(table)s) IS NOT NULL UNION ALL SELECT i.inhrelid, t.depth + 1 FROM pg_inherits i "
        "JOIN tree t ON i.inhparent = t.oid WHERE t.depth < 10) "
    )


@contextlib.contextmanager
def read_only(conn: Any) -> Iterator[Any]:
    """A cursor inside a ``READ ONLY`` transaction that is rolled back afterwards (nothing can be written; the
    server refuses writes there, PostgreSQL docs "SET TRANSACTION"). Leaves the connection out of autocommit
    (``BEGIN READ ONLY`` per transaction, nothing session-wide that could leak into a pooler's server connection);
    an autocommit connection gets autocommit back afterwards."""
    was_autocommit = conn.autocommit
    if was_autocommit:
        conn.autocommit = False
    conn.set_session(readonly=True)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.set_session(readonly=False)
            if was_autocommit:
                conn.autocommit = True


def read(conn: Any, *, role: str | None = None) -> KitState:
    """Inspect the database ``conn`` is connected to. ``role``: whose attributes/grants/settings to read (default:
    the connected role; ``setup-db`` passes ``pos_user``). Raises ``psycopg2.Error`` (e.g. the connection broke);
    never writes. Blocks for a few catalog round trips."""
    with read_only(conn) as cur:
        return read_cursor(cur, role=role)


def read_cursor(cur: Any, *, role: str | None = None) -> KitState:
    """:func:`read` on a cursor inside the caller's own transaction (``setup-db`` compares before and after its
    changes without committing in between). Runs only SELECTs."""
    cur.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version'), pg_is_in_recovery(),"
        " current_setting('max_prepared_transactions')::int, to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL,"
        " (SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid())",
        (names.ENTRIES_TABLE, names.MEMBERS_TABLE),
    )
    version_num, version, recovery, prepared, entries, members, ssl = cur.fetchone()
    base = KitState(
        server_version_num=int(version_num),
        server_version=str(version),
        in_recovery=bool(recovery),
        max_prepared_transactions=int(prepared),
        entries_exists=bool(entries),
        members_exists=bool(members),
        session_ssl=None if ssl is None else bool(ssl),
        other_schemas=_other_schemas(cur),
    )
    role_info = _role(cur, role)
    if not entries:
        return _replace(base, role=role_info, function=_function(cur))
    params = {"table": names.ENTRIES_TABLE}
    cur.execute(RELATIONS_SQL, params)
    relations = tuple(
        Relation(str(n), str(k), str(p), bool(decl), float(rows or 0), str(ns))
        for n, k, p, decl, rows, ns in cur.fetchall()
    )
    cur.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid IN (to_regclass(%s), to_regclass(%s)) AND a.attnum > 0 AND NOT a.attisdropped",
        (names.ENTRIES_TABLE, names.MEMBERS_TABLE),
    )
    columns = frozenset((str(t), str(c)) for t, c in cur.fetchall())
    return _replace(
        base,
        columns=columns,
        relations=relations,
        role=role_info,
        function=_function(cur),
        indexes=_indexes(cur, params),
        **_triggers(cur, params),
    )


def _other_schemas(cur: Any) -> tuple[str, ...]:
    cur.execute(
        "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = %(t)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " AND c.oid IS DISTINCT FROM to_regclass(%(t)s) ORDER BY 1",
        {"t": names.ENTRIES_TABLE},
    )
    return tuple(str(r[0]) for r in cur.fetchall())


def _replace(state: KitState, **changes: Any) -> KitState:
    import dataclasses

    return dataclasses.replace(state, **changes)


def _function(cur: Any) -> FunctionInfo | None:
    cur.execute(
        "SELECT p.prosrc, obj_description(p.oid, 'pg_proc') FROM pg_proc p WHERE p.oid = to_regprocedure(%s)",
        (names.TRIGGER_FUNCTION + "()",),
    )
    row = cur.fetchone()
    return FunctionInfo(str(row[0] or ""), row[1]) if row else None


def _triggers(cur: Any, params: dict[str, str]) -> dict[str, Any]:
    # tgparentid exists from PostgreSQL 13; before, a clone is tgisinternal (PostgreSQL docs, "pg_trigger").
    cur.execute("SELECT current_setting('server_version_num')::int >= 130000")
    has_parentid = bool(cur.fetchone()[0])
    cloned = "t.tgparentid <> 0" if has_parentid else "t.tgisinternal"
    cur.execute(
        _tree_oids_sql() + f"SELECT c.relname, t.tgname, t.tgenabled, t.tgargs, {cloned} "
        "FROM pg_trigger t JOIN tree ON tree.oid = t.tgrelid JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgfoid = to_regprocedure(%(function)s) ORDER BY tree.depth, c.relname, t.tgname",
        {**params, "function": names.TRIGGER_FUNCTION + "()"},
    )
    ours = tuple(
        TriggerInfo(str(rel), str(name), _char(enabled), bytes(args or b""), bool(clone))
        for rel, name, enabled, args, clone in cur.fetchall()
    )
    cur.execute(
        "SELECT t.tgname, t.tgenabled, t.tgargs, p.proname, (t.tgtype & 2) <> 0 AND (t.tgtype & 4) <> 0 "
        "AND (t.tgtype & 1) <> 0 "
        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = to_regclass(%(table)s) AND NOT t.tgisinternal ORDER BY t.tgname",
        params,
    )
    named: TriggerInfo | None = None
    named_function = ""
    others: list[str] = []
    before: list[str] = []
    # tgtype bits (src/include/catalog/pg_trigger.h): 1 ROW, 2 BEFORE, 4 INSERT.
    for name, enabled, args, proname, before_insert_row in cur.fetchall():
        if name == names.TRIGGER_NAME:
            named = TriggerInfo(names.ENTRIES_TABLE, str(name), _char(enabled), bytes(args or b""))
            named_function = str(proname)
            continue
        others.append(str(name))
        if before_insert_row:
            before.append(str(name))
    return {
        "triggers": ours,
        "named_trigger": named,
        "named_trigger_function": named_function,
        "other_triggers": tuple(others),
        "before_insert_triggers": tuple(before),
    }


def _char(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _indexes(cur: Any, params: dict[str, str]) -> tuple[IndexInfo, ...]:
    cur.execute(
        _tree_oids_sql() + "SELECT c.relname, ic.relname, i.indisvalid AND i.indisready, "
        "coalesce((SELECT min(p.pid) FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid), 0), "
        "array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
        "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n) "
        "FROM pg_index i JOIN tree ON tree.oid = i.indrelid JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam "
        "WHERE am.amname = 'btree' AND i.indpred IS NULL AND i.indexprs IS NULL "
        "ORDER BY tree.depth, c.relname, ic.relname",
        params,
    )
    return tuple(
        IndexInfo(str(rel), str(idx), tuple(str(c) for c in cols), bool(valid), int(building))
        for rel, idx, valid, building, cols in cur.fetchall()
    )


def _role(cur: Any, role: str | None) -> RoleInfo | None:
    cur.execute(
        "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication, r.oid,"
        " r.rolcanlogin::text, (SELECT datacl::text FROM pg_database WHERE datname = current_database()),"
        " (SELECT array_agg(c.relacl::text ORDER BY c.oid) FROM pg_class c"
        "   WHERE c.oid IN (to_regclass(%(entries)s), to_regclass(%(members)s)))::text,"
        " (SELECT array_agg(a.attacl::text ORDER BY a.attrelid, a.attnum) FROM pg_attribute a"
        "   WHERE a.attrelid IN (to_regclass(%(entries)s), to_regclass(%(members)s)) AND a.attnum > 0)::text "
        "FROM pg_roles r WHERE r.rolname = coalesce(%(role)s, current_user)",
        {"role": role, "entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE},
    )
    row = cur.fetchone()
    if row is None:
        return RoleInfo(name=role or "", exists=False)
    name, superuser, createrole, createdb, bypassrls, replication, oid = row[:7]
    acl = tuple(str(v) for v in (superuser, createrole, createdb, bypassrls, replication, *row[7:]))
    attributes = tuple(
        n
        for n, v in (
            ("CREATEROLE", createrole),
            ("CREATEDB", createdb),
            ("BYPASSRLS", bypassrls),
            ("REPLICATION", replication),
        )
        if v
    )
    cur.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid IN (to_regclass(%s), to_regclass(%s)) AND a.attnum > 0 AND NOT a.attisdropped "
        "AND has_column_privilege(%s, a.attrelid, a.attnum, 'SELECT')",
        (names.ENTRIES_TABLE, names.MEMBERS_TABLE, name),
    )
    readable = frozenset((str(t), str(c)) for t, c in cur.fetchall())
    writable: list[str] = []
    for table in (names.ENTRIES_TABLE, names.MEMBERS_TABLE):
        cur.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND "
            "has_table_privilege(%s, to_regclass(%s), 'INSERT, UPDATE, DELETE, TRUNCATE')",
            (table, name, table),
        )
        if cur.fetchone()[0]:
            writable.append(table)
    cur.execute(
        "SELECT CASE WHEN s.setrole = 0 THEN 'database' WHEN s.setdatabase = 0 THEN 'role' ELSE 'role+database' END,"
        " s.setconfig FROM pg_db_role_setting s "
        "WHERE s.setrole IN (0, %s) AND s.setdatabase IN (0, (SELECT oid FROM pg_database "
        "WHERE datname = current_database())) AND NOT (s.setrole = 0 AND s.setdatabase = 0)",
        (oid,),
    )
    settings: list[tuple[str, str, str]] = []
    for scope, config in cur.fetchall():
        for item in config or ():
            key, _, value = str(item).partition("=")
            if key in LIMIT_SETTINGS:
                settings.append((str(scope), key, value))
    return RoleInfo(
        name=str(name),
        exists=True,
        superuser=bool(superuser),
        attributes=attributes,
        readable=readable,
        writable=tuple(writable),
        acl=acl,
        settings=tuple(sorted(settings)),
    )
