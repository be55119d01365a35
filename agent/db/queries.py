"""SQL the listener sends, built from :mod:`agent.core.names` and the columns the role can actually read.

Optional display columns a real turnstile schema lacks (or that are not granted) are read as ``NULL``; a missing
*required* column is a :class:`SchemaError`. Every query is read-only, and every one is bounded by an index on a
table of any size (docs/engine.md "Index use"); :func:`engine_queries` names them, with realistic parameters, for
``doctor`` to ``EXPLAIN``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.core import names
from agent.core.model import Entry, Member


class SchemaError(RuntimeError):
    """A required column is missing or not readable; the message names it (SQL names)."""


READABLE_COLUMNS_SQL = """
SELECT c.relname, a.attname
  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
 WHERE a.attrelid IN (to_regclass(%(entries)s), to_regclass(%(members)s))
   AND a.attnum > 0 AND NOT a.attisdropped
   AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
"""
"""Parameters: ``entries``, ``members`` (table names). Rows: (table, column) the current role may SELECT."""

HISTORY_INDEX_SQL = """
SELECT EXISTS (
  SELECT 1 FROM pg_index AS i
   WHERE i.indrelid = to_regclass(%(entries)s) AND i.indisvalid AND i.indnatts >= 2
     AND (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0]) = 'id_miembro'
     AND (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[1]) = 'fecha_hora')
"""
"""Parameter ``entries``. One row: whether an index on ``(id_miembro, fecha_hora, ...)`` exists (setup-db's
``registro_entradas_miembro_fecha_idx``). Without it the history columns would scan the table once per entry, so
the engine leaves them out (``previous_entry_at`` None, ``first_visit`` False) and logs why."""

PHOTO_COLUMN_IS_BYTEA_SQL = """
SELECT coalesce(nullif(t.typbasetype, 0), t.oid) = 'bytea'::regtype
  FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
 WHERE a.attrelid = to_regclass(%(members)s) AND a.attname = %(column)s AND NOT a.attisdropped
"""
"""Parameters ``members`` (table), ``column``. One row: whether the configured photo column is ``bytea`` (or a
domain over it). Any other type (an integer id, a URL as text) is left out of the re-read: ``octet_length(integer)``
does not exist, and one such error would fail every re-read, stopping all delivery."""

FECHA_INDEX_SQL = """
SELECT EXISTS (
  SELECT 1 FROM pg_index AS i
   WHERE i.indrelid = to_regclass(%(entries)s) AND i.indisvalid AND i.indpred IS NULL
     AND (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0]) = 'fecha_hora')
"""
"""Parameter ``entries``. One row: whether an index starting with ``fecha_hora`` exists (setup-db's
``registro_entradas_fecha_hora_idx``). Without it the late-commit window is bounded by the primary key instead
(``window_bottom`` of :meth:`EntrySelect.pending_ids_sql`): a sequential scan of the table on every poll and sweep
otherwise (measured: 66 in 2 s of an idle poll-mode agent on 300,000 rows)."""

REBASE_SQL = f"""
SELECT coalesce(max(e.id_entrada), 0) FROM {names.ENTRIES_TABLE} AS e
 WHERE e.id_entrada <= %(table_max)s AND e.fecha_hora < %(before)s
"""
"""After the ids went back: the highest id dated before ``before`` (the ledger's cursor time). Parameters
``table_max``, ``before``. Index: the primary key, backwards, down to the first row older than ``before``."""

START_SQL = f"""
SELECT coalesce((SELECT max(e.id_entrada) FROM {names.ENTRIES_TABLE} AS e WHERE e.fecha_hora < t.start), 0), t.start
  FROM (SELECT now() - %(elapsed_s)s * interval '1 second' AS start) AS t
"""
"""The cursor of a first start: ``elapsed_s`` seconds before the server's now (when the agent started, measured on
the agent's monotonic clock, so the PC's wall clock does not matter). Row: (highest id older than that, start)."""

BACKLOG_SQL = f"""
SELECT count(e.id_entrada), min(e.fecha_hora)::timestamptz, max(e.fecha_hora)::timestamptz,
       coalesce(max(e.id_entrada), 0), min(t.cutoff), coalesce(min(t.table_max), 0)
  FROM (SELECT now() - %(max_age_s)s * interval '1 second' AS cutoff,
               (SELECT max(x.id_entrada) FROM {names.ENTRIES_TABLE} AS x) AS table_max) AS t
  LEFT JOIN {names.ENTRIES_TABLE} AS e
    ON e.id_entrada > %(after_id)s AND e.tipo_acceso = %(member)s AND e.fecha_hora < t.cutoff
"""
"""Entries not yet delivered that are older than the replay age: reported as one summary. Row: count, oldest,
newest, max id, the ``cutoff`` time used (pass it to :meth:`EntrySelect.pending_ids_sql`, so that an entry
dated between two statements' ``now()`` is in exactly one of them), and the table's highest id (any
``tipo_acceso``; below the ledger's cursor: the ids were reset). Index: a range of the primary key (``id_entrada >
after_id``): only rows not yet delivered; the highest id by the primary key, backwards."""


def session_limits_sql(server_version: int, *, statement_timeout_ms: int, idle_in_transaction_ms: int) -> str:
    """``SET`` statements that make the session's limits the agent's own, whatever the role or database says
    (``ALTER ROLE ... SET statement_timeout``): ``statement_timeout`` (our query bound), ``idle_session_timeout =
    0`` (PostgreSQL 14+; the listener is idle by design between NOTIFYs and polls) and
    ``idle_in_transaction_session_timeout`` (the agent never holds a transaction open; a bound all the same) and
    ``default_transaction_isolation = 'read committed'`` (a serializable default fails every query on a standby).
    ``server_version``: ``connection.server_version`` (e.g. 150004). Session-level ``SET`` overrides role and
    database settings (PostgreSQL docs, "Setting Parameters": SET > ALTER ROLE > ALTER DATABASE > file)."""
    parts = [
        f"SET statement_timeout = {int(statement_timeout_ms)}",
        f"SET idle_in_transaction_session_timeout = {int(idle_in_transaction_ms)}",
        # A serializable default (role or server setting) is refused on a hot standby ("cannot use serializable
        # mode in a hot standby"): every query of poll mode there would fail. The engine's single autocommit
        # statements need nothing above read committed. Sent as its own statement before any query: in a
        # multi-statement string the implicit transaction already has the old default's isolation.
        "SET default_transaction_isolation = 'read committed'",
    ]
    if server_version >= 140000:
        parts.append("SET idle_session_timeout = 0")
    return "; ".join(parts)


# How each column is read, so that one odd row can never stop delivery for everyone (every value arrives in a type
# Python can hold): ids and texts as text (a varchar id_miembro 'M-001'; an enum tipo_acceso); dates outside
# 0001-9999 (a typo '20255-01-31', a BC date, 'infinity') as NULL; a timestamp without time zone in the session's
# time zone, and a missing or impossible fecha_hora as the statement's time.
_EXPR = {
    "id_entrada": "{t}.{c}",
    "fecha_hora": "CASE WHEN {t}.{c}::timestamptz BETWEEN '0001-01-02' AND '9999-12-30' THEN {t}.{c}::timestamptz"
    " ELSE statement_timestamp() END",
    "fecha_vencimiento": "CASE WHEN {t}.{c}::date BETWEEN '0001-01-01' AND '9999-12-31' THEN {t}.{c}::date END",
    "fecha_nacimiento": "CASE WHEN {t}.{c}::date BETWEEN '0001-01-01' AND '9999-12-31' THEN {t}.{c}::date END",
    "saldo_pendiente": "{t}.{c}::numeric",
}


PHOTO_BATCH_BYTES = 8_000_000
"""Photo bytes one re-read may carry (or one photo of ``photo_max_bytes``, if larger); entries beyond it arrive
without their photo bytes."""

_EARLIER = (
    "p.id_miembro = e.id_miembro AND p.tipo_acceso = %(member)s AND p.fecha_hora <= e.fecha_hora"
    " AND (p.fecha_hora < e.fecha_hora OR p.id_entrada < e.id_entrada)"
)
"""An earlier entry ``p`` of the same member as ``e``. Index: ``(id_miembro, fecha_hora)`` (setup-db's
``registro_entradas_miembro_fecha_idx``): a range of one member's entries."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class EntrySelect:
    """The SELECT list for entries joined with members, for the columns available on this server.

    ``photo_column``: a readable column of ``miembros`` holding the photo's bytes (``photos.column``), read into
    :attr:`agent.core.model.Member.photo_data` when at most ``photo_max_bytes`` long; None: no photo column.
    ``history``: compute ``previous_entry_at`` / ``first_visit`` (:class:`agent.core.model.Entry`) in the re-read.
    """

    entry_columns: tuple[str, ...]
    member_columns: tuple[str, ...]
    photo_column: str | None = None
    photo_max_bytes: int = 5_000_000
    history: bool = True

    @classmethod
    def from_readable(
        cls,
        readable: Sequence[tuple[str, str]],
        *,
        photo_column: str = "",
        photo_max_bytes: int = 5_000_000,
        history: bool = True,
    ) -> EntrySelect:
        """Build from :data:`READABLE_COLUMNS_SQL` rows. Raises :class:`SchemaError` naming what is missing. A
        configured ``photo_column`` that is not readable is left out (logged by the caller, never fatal)."""
        entries = {col for table, col in readable if table == names.ENTRIES_TABLE}
        members = {col for table, col in readable if table == names.MEMBERS_TABLE}
        missing = [f"{names.ENTRIES_TABLE}.{c}" for c in names.ENTRY_REQUIRED if c not in entries]
        missing += [f"{names.MEMBERS_TABLE}.{c}" for c in names.MEMBER_REQUIRED if c not in members]
        if missing:
            raise SchemaError("missing or not readable: " + ", ".join(missing))
        return cls(
            tuple(c for c in names.ENTRY_COLUMNS if c in entries),
            tuple(c for c in names.MEMBER_COLUMNS if c in members and c != "id_miembro"),
            photo_column=photo_column if photo_column and photo_column in members else None,
            photo_max_bytes=int(photo_max_bytes),
            history=history,
        )

    def _select_list(self, photo: bool) -> str:
        parts = [
            _EXPR.get(c, "e.{c}::text").format(c=c, t="e") if c in self.entry_columns else "NULL"
            for c in names.ENTRY_COLUMNS
        ]
        parts.append("m.id_miembro::text")
        parts += [
            _EXPR.get(c, "m.{c}::text").format(c=c, t="m") if c in self.member_columns else "NULL"
            for c in names.MEMBER_COLUMNS
            if c != "id_miembro"
        ]
        if self.history:
            granted = f" AND p.resultado::text = '{names.RESULT_GRANTED}'" if "resultado" in self.entry_columns else ""
            # Probed only where the row before it in this statement (same member, by fecha_hora then id) has another
            # fecha_hora: rows sharing one fecha_hora (one transaction: a bulk import, the 10,000-entry burst) made
            # each probe walk back through every tied row (ties sit in heap order in the index, not id order):
            # quadratic per member. :meth:`complete_history` fills those rows from the row before them.
            probe = (
                "lag(e.fecha_hora) OVER (PARTITION BY e.id_miembro ORDER BY e.fecha_hora, e.id_entrada)"
                " IS DISTINCT FROM e.fecha_hora"
            )
            parts.append(
                f"CASE WHEN {probe} THEN (SELECT CASE WHEN p.fecha_hora::timestamptz BETWEEN '0001-01-02' AND"
                f" '9999-12-30' THEN p.fecha_hora::timestamptz END FROM {names.ENTRIES_TABLE} AS p"
                f" WHERE {_EARLIER}{granted} ORDER BY p.fecha_hora DESC LIMIT 1) END"
            )
            # "no earlier entry", probed backwards from this entry like the column above (the same, recent, index
            # pages: a forward NOT EXISTS would start at the member's oldest entry, a page long out of cache)
            parts.append(
                f"CASE WHEN {probe} THEN e.id_miembro IS NOT NULL AND (SELECT 1 FROM {names.ENTRIES_TABLE} AS p"
                f" WHERE {_EARLIER} ORDER BY p.fecha_hora DESC LIMIT 1) IS NULL ELSE false END"
            )
        else:
            parts += ["NULL", "false"]
        if photo and self.photo_column:
            col, cap = f"m.{_quote(self.photo_column)}", int(self.photo_max_bytes)
            # at most PHOTO_BATCH_BYTES of photos per statement, the earliest entries first: 30 entries with a
            # 4 MB photo each were 240 MB on the wire (bytea is sent as hex), longer than the query timeout on a
            # slow link, and the retry asked for the same again (nothing was delivered any more)
            size = f"CASE WHEN octet_length({col}) <= {cap} THEN octet_length({col}) ELSE 0 END"
            budget = max(cap, PHOTO_BATCH_BYTES)
            parts.append(
                f"CASE WHEN octet_length({col}) <= {cap}"
                f" AND sum({size}) OVER (ORDER BY e.id_entrada) <= {budget} THEN {col} END"
            )
        else:
            parts.append("NULL")
        return ", ".join(parts)

    def by_ids_sql(self, *, photo: bool = True) -> str:
        """The re-read: member entries by id, with their member, history and (``photo``) photo bytes.

        Parameters: ``member`` (``tipo_acceso`` of members), ``ids`` (list of int). Index: the primary key
        (``id_entrada = ANY(ids)``), ``miembros``' primary key, and ``(id_miembro, fecha_hora)`` for the
        history columns. Rows: see :meth:`row_to_entry`."""
        return (
            f"SELECT {self._select_list(photo)} FROM {names.ENTRIES_TABLE} AS e"
            f" LEFT JOIN {names.MEMBERS_TABLE} AS m ON m.id_miembro = e.id_miembro"
            " WHERE e.id_entrada = ANY(%(ids)s) AND e.tipo_acceso = %(member)s ORDER BY e.id_entrada"
        )

    @staticmethod
    def pending_ids_sql() -> str:
        """Ids (and times) of member entries that may not have been delivered: the catch-up, the sweep and the
        poll. Two index range scans in one statement, never a scan of the table:

        * new ids: ``id_entrada > greatest(after_id, page_after)`` by the primary key, in id order, at most
          ``limit`` rows, not dated before ``cutoff`` (those went into the backlog summary; None: any date);
        * the late-commit window: ``fecha_hora >= since AND id_entrada <= window_top`` by the ``fecha_hora``
          index (``registro_entradas_fecha_hora_idx``): rows that committed after a higher id was delivered (not
          before ``cutoff`` either). ``window_top``: the id window's floor (:meth:`agent.core.ledger.Ledger.
          hole_floor`), as the ids above it are either remembered or holes, probed below: at 1 entry/s the
          branch returns nothing, at 100/s 5,000 rows instead of 6,000 (it returned every delivered id of the
          last minute on every poll). ``until`` (the server's now + 5 min): rows dated further ahead (a
          turnstile clock ahead) stayed in the window until their date came, read again on every poll (a day
          ahead: all of a turnstile's entries of the day, on each poll); late commits among them are the id
          window's.
        * the id window's holes: ``id_entrada = ANY(holes)`` by the primary key (:meth:`agent.core.ledger.Ledger.
          holes`: ids below the cursor not delivered, whatever their date; any ``tipo_acceso``, so that a
          visitor's id is settled once and not probed again).

        Parameters: ``member``, ``after_id`` (the ledger's cursor id), ``page_after`` (keyset paging of the new
        ids; 0 or ``after_id`` on the first page), ``since`` (cursor time - lookback), ``cutoff`` (the backlog's,
        or None), ``limit``, ``holes`` (list of int, may be empty), ``window_top`` (at most ``after_id``),
        ``until`` (or None: no upper bound), ``window_bottom`` (0; without a ``fecha_hora`` index, a primary key
        bound below ``window_top``).
        Rows: ``(id_entrada, fecha_hora as timestamptz, is_new_part, is_member)``; the new part first, in id
        order."""
        t = names.ENTRIES_TABLE
        fecha = _EXPR["fecha_hora"].format(t="e", c="fecha_hora")
        return (
            f"(SELECT e.id_entrada::bigint, {fecha}, true, true FROM {t} AS e"
            " WHERE e.id_entrada > greatest(%(after_id)s, %(page_after)s) AND e.tipo_acceso = %(member)s"
            " AND (%(cutoff)s IS NULL OR e.fecha_hora >= %(cutoff)s OR e.fecha_hora IS NULL)"
            " ORDER BY e.id_entrada LIMIT %(limit)s)"
            f" UNION ALL (SELECT e.id_entrada::bigint, {fecha}, false, true FROM {t} AS e"
            " WHERE e.fecha_hora >= %(since)s AND (%(cutoff)s IS NULL OR e.fecha_hora >= %(cutoff)s)"
            " AND (%(until)s IS NULL OR e.fecha_hora < %(until)s)"
            " AND e.id_entrada <= %(window_top)s AND e.id_entrada > %(window_bottom)s AND e.tipo_acceso = %(member)s)"
            f" UNION ALL (SELECT e.id_entrada::bigint, {fecha}, false, e.tipo_acceso IS NOT DISTINCT FROM %(member)s"
            f" FROM {t} AS e WHERE e.id_entrada = ANY(%(holes)s::bigint[]))"
        )

    @staticmethod
    def dates_sql() -> str:
        """Ids and their ``fecha_hora`` as :meth:`by_ids_sql` reads it (any ``tipo_acceso``). Parameter ``ids``.
        Index: the primary key. Used once after the ids went back (:meth:`agent.core.ledger.Ledger.rebase`)."""
        fecha = _EXPR["fecha_hora"].format(t="e", c="fecha_hora")
        return (
            f"SELECT e.id_entrada::bigint, {fecha} FROM {names.ENTRIES_TABLE} AS e"
            " WHERE e.id_entrada = ANY(%(ids)s::bigint[])"
        )

    @classmethod
    def catch_up_sql(cls) -> str:
        """:meth:`pending_ids_sql` with the cutoff computed from a ``max_age_s`` parameter, no holes and the time
        window up to ``after_id`` (the older interface, used by ``doctor``)."""
        return (
            cls.pending_ids_sql()
            .replace("%(cutoff)s", "(now() - %(max_age_s)s * interval '1 second')")
            .replace("%(holes)s", "'{}'")
            .replace("%(window_top)s", "%(after_id)s")
            .replace("%(until)s", "NULL::timestamptz")
            .replace("%(window_bottom)s", "0")
        )

    def complete_history(self, entries: Sequence[Entry]) -> list[Entry]:
        """``entries`` of one statement of :meth:`by_ids_sql` (or the page's today query) with the history of the
        rows the SQL did not probe: a row whose member's previous row in the statement has the same
        ``fecha_hora`` takes ``previous_entry_at`` from that row (its time when it was granted, else its own
        ``previous_entry_at``) and ``first_visit = False``. Same order, same length. Pure."""
        if not self.history:
            return list(entries)
        granted_known = "resultado" in self.entry_columns
        out = list(entries)
        last: dict[int | str, int] = {}  # member id -> index in out of its previous row (by fecha_hora, id)

        def key(i: int) -> tuple[int, float, int]:
            at = out[i].occurred_at
            return (0, at.timestamp(), out[i].entry_id) if at is not None else (1, 0.0, out[i].entry_id)

        for i in sorted(range(len(out)), key=key):
            entry = out[i]
            member = entry.member_id
            if member is None:
                continue
            j = last.get(member)
            last[member] = i
            if j is None or entry.occurred_at is None or out[j].occurred_at != entry.occurred_at:
                continue  # probed by the SQL
            before = out[j]
            granted = before.result == names.RESULT_GRANTED if granted_known else True
            previous = before.occurred_at if granted else before.previous_entry_at
            out[i] = dataclasses.replace(entry, previous_entry_at=previous, first_visit=False)
        return out

    @staticmethod
    def row_to_entry(row: Sequence[Any]) -> Entry:
        """An :class:`Entry` from one row of :meth:`by_ids_sql`. Never raises for odd member data: what cannot be
        read is ``None`` (the entry itself is always delivered)."""
        n = len(names.ENTRY_COLUMNS)
        e = dict(zip(names.ENTRY_COLUMNS.values(), row[:n], strict=True))
        member_keys = ["member_id"] + [v for k, v in names.MEMBER_COLUMNS.items() if k != "id_miembro"]
        m = dict(zip(member_keys, row[n : n + len(member_keys)], strict=True))
        previous, first_visit, photo = row[n + len(member_keys) :]
        member = None
        if m["member_id"] is not None:
            member = Member(
                member_id=_id(m["member_id"]),
                first_name=str(m["first_name"] or ""),
                last_name=str(m["last_name"] or ""),
                plan=m["plan"],
                expires_on=m["expires_on"],
                balance_due=m["balance_due"],
                birth_date=m["birth_date"],
                photo_url=m["photo_url"],
                notes=m["notes"],
                photo_data=bytes(photo) if isinstance(photo, bytes | memoryview) and len(photo) else None,
            )
        return Entry(
            entry_id=int(e["entry_id"]),
            member_id=_id(e["member_id"]) if e["member_id"] is not None else None,
            occurred_at=e["occurred_at"],
            access_type=e["access_type"],
            turnstile=e["turnstile"],
            result=e["result"],
            member=member,
            previous_entry_at=previous,
            first_visit=bool(first_visit),
        )


@dataclass(frozen=True)
class NamedQuery:
    """One statement the engine sends, with sample parameters, for ``doctor`` to ``EXPLAIN``."""

    name: str
    sql: str
    params: dict[str, Any]


def engine_queries(
    select: EntrySelect, *, max_id: int, now: dt.datetime, lookback_s: float = 60.0
) -> tuple[NamedQuery, ...]:
    """Every statement an idle agent sends on a sweep (NOTIFY mode), a poll (poll mode), and the re-read, with
    the parameters it would use with its cursor at ``max_id`` (the table's highest id) at server time ``now``.
    Names: ``backlog``, ``pending`` (sweep, catch-up and poll), ``reread`` (one batch of ids), ``start``."""
    common: dict[str, Any] = {"member": names.MEMBER_ACCESS}
    pending = {
        **common,
        "after_id": max_id,
        "page_after": max_id,
        "since": now - dt.timedelta(seconds=lookback_s),
        "cutoff": now - dt.timedelta(seconds=600),
        "limit": 5000,
        "holes": [max_id - 3, max_id - 1],
        "window_top": max_id - 1000,
        "until": now + dt.timedelta(seconds=300),
        "window_bottom": 0,
    }
    return (
        NamedQuery("backlog", BACKLOG_SQL, {**common, "after_id": max_id, "max_age_s": 600.0}),
        NamedQuery("pending", select.pending_ids_sql(), pending),
        NamedQuery("reread", select.by_ids_sql(), {**common, "ids": [max_id]}),
        NamedQuery("start", START_SQL, {"elapsed_s": 0.0}),
    )


def _id(text: Any) -> int | str:
    """A member id read as text: an int when it is one, else the text itself (e.g. varchar 'M-001')."""
    value = str(text).strip()
    try:
        return int(value)
    except ValueError:
        return value
