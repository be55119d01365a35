"""SQL the listener sends, built from :mod:`agent.core.names` and the columns the role can actually read.

Optional display columns a real turnstile schema lacks (or that are not granted) are read as ``NULL``; a missing
*required* column is a :class:`SchemaError`. Every query is read-only.
"""

from __future__ import annotations

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

START_SQL = f"""
SELECT coalesce((SELECT max(e.id_entrada) FROM {names.ENTRIES_TABLE} AS e WHERE e.fecha_hora < t.start), 0), t.start
  FROM (SELECT now() - %(elapsed_s)s * interval '1 second' AS start) AS t
"""
"""The cursor of a first start: ``elapsed_s`` seconds before the server's now (when the agent started, measured on
the agent's monotonic clock, so the PC's wall clock does not matter). Row: (highest id older than that, start)."""

BACKLOG_SQL = f"""
SELECT count(*), min(fecha_hora)::timestamptz, max(fecha_hora)::timestamptz, coalesce(max(id_entrada), 0)
  FROM {names.ENTRIES_TABLE}
 WHERE tipo_acceso = %(member)s AND id_entrada > %(after_id)s
   AND fecha_hora < now() - %(max_age_s)s * interval '1 second'
"""
"""Entries not yet delivered that are older than the replay age: reported as one summary. Row: count, oldest,
newest, max id."""


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


@dataclass(frozen=True)
class EntrySelect:
    """The SELECT list for entries joined with members, for the columns available on this server."""

    entry_columns: tuple[str, ...]
    member_columns: tuple[str, ...]

    @classmethod
    def from_readable(cls, readable: Sequence[tuple[str, str]]) -> EntrySelect:
        """Build from :data:`READABLE_COLUMNS_SQL` rows. Raises :class:`SchemaError` naming what is missing."""
        entries = {col for table, col in readable if table == names.ENTRIES_TABLE}
        members = {col for table, col in readable if table == names.MEMBERS_TABLE}
        missing = [f"{names.ENTRIES_TABLE}.{c}" for c in names.ENTRY_REQUIRED if c not in entries]
        missing += [f"{names.MEMBERS_TABLE}.{c}" for c in names.MEMBER_REQUIRED if c not in members]
        if missing:
            raise SchemaError("missing or not readable: " + ", ".join(missing))
        return cls(
            tuple(c for c in names.ENTRY_COLUMNS if c in entries),
            tuple(c for c in names.MEMBER_COLUMNS if c in members and c != "id_miembro"),
        )

    def _select_list(self) -> str:
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
        return ", ".join(parts)

    def _from(self) -> str:
        return (
            f"FROM {names.ENTRIES_TABLE} AS e LEFT JOIN {names.MEMBERS_TABLE} AS m ON m.id_miembro = e.id_miembro"
            f" WHERE e.tipo_acceso = %(member)s"
        )

    def by_ids_sql(self) -> str:
        """Entries by id (parameter ``ids``: list of int), member entries only."""
        return f"SELECT {self._select_list()} {self._from()} AND e.id_entrada = ANY(%(ids)s) ORDER BY e.id_entrada"

    def catch_up_sql(self) -> str:
        """One page of member entries to replay, by id.

        Parameters: ``after_id`` (cursor id), ``since`` (cursor time - lookback, timestamptz), ``max_age_s``
        (replay age, seconds), ``page_after`` (keyset: last id of the previous page, 0 at first), ``limit``.
        """
        return (
            f"SELECT {self._select_list()} {self._from()}"
            " AND (e.fecha_hora >= now() - %(max_age_s)s * interval '1 second'"
            " AND (e.id_entrada > %(after_id)s OR e.fecha_hora >= %(since)s)"
            " OR e.fecha_hora IS NULL AND e.id_entrada > %(after_id)s)"
            " AND e.id_entrada > %(page_after)s ORDER BY e.id_entrada LIMIT %(limit)s"
        )

    @staticmethod
    def row_to_entry(row: Sequence[Any]) -> Entry:
        """An :class:`Entry` from one row of :meth:`by_ids_sql` / :meth:`catch_up_sql`. Never raises for odd
        member data: what cannot be read is ``None`` (the entry itself is always delivered)."""
        n = len(names.ENTRY_COLUMNS)
        e = dict(zip(names.ENTRY_COLUMNS.values(), row[:n], strict=True))
        member_keys = ["member_id"] + [v for k, v in names.MEMBER_COLUMNS.items() if k != "id_miembro"]
        m = dict(zip(member_keys, row[n:], strict=True))
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
            )
        return Entry(
            entry_id=int(e["entry_id"]),
            member_id=_id(e["member_id"]) if e["member_id"] is not None else None,
            occurred_at=e["occurred_at"],
            access_type=e["access_type"],
            turnstile=e["turnstile"],
            result=e["result"],
            member=member,
        )


def _id(text: Any) -> int | str:
    """A member id read as text: an int when it is one, else the text itself (e.g. varchar 'M-001')."""
    value = str(text).strip()
    try:
        return int(value)
    except ValueError:
        return value
