"""Today's member entries, read from the table for the "Entradas de hoy" page (:mod:`agent.web`).

One index-backed query: ``registro_entradas`` rows with ``tipo_acceso = 'miembro'`` and
``fecha_hora >= <start of the desk's local day>`` joined with ``miembros``, newest first, at most ``limit`` rows.
The bound is a plain range on ``fecha_hora``, so the kit's index ``registro_entradas (fecha_hora)``
(``sql/schema.sql``, created by ``setup-db``) turns it into an index range scan however long the table is. The
select list comes from :class:`agent.db.queries.EntrySelect`: optional display columns the role cannot read are
``NULL``, odd values are read safely (the same expressions the listener uses).

Derived per row, like the engine does for live entries (issue 13 item 2): ``previous_entry_at`` is the member's
previous *granted* entry of the same day (enough for a repeat window of minutes), ``first_visit`` is true for a
member's first entry of the day when the member has no entry before today (a second query, one index probe per
member on ``(id_miembro, fecha_hora)``; skipped, all ``False``, when that query fails, e.g. a varchar id read as a
number). Read-only; any thread; the connection belongs to the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from agent.core import names
from agent.core.model import Entry
from agent.db import queries

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 5000
"""Most rows one page load reads (a very busy gym has ~3,000 member entries a day)."""


def local_day_start(now: dt.datetime) -> dt.datetime:
    """Midnight of ``now``'s local calendar day as an aware datetime (``now`` aware or naive local). Pure.

    The local time zone is the computer's (the front desk's day), resolved for that midnight, so a DST change
    during the day does not move it."""
    local = now.astimezone() if now.tzinfo is not None else now
    return dt.datetime.combine(local.date(), dt.time()).astimezone()


def today_sql(select: queries.EntrySelect) -> str:
    """The page query. Parameters: ``member`` (``'miembro'``), ``since`` (timestamptz), ``limit`` (int)."""
    return (
        f"SELECT {select._select_list()} {select._from()}"  # the listener's degrading select list, reused
        " AND e.fecha_hora >= %(since)s ORDER BY e.fecha_hora DESC, e.id_entrada DESC LIMIT %(limit)s"
    )


SEEN_BEFORE_SQL = f"""
SELECT ids.id::text FROM unnest(%(ids)s) AS ids(id)
 WHERE EXISTS (SELECT 1 FROM {names.ENTRIES_TABLE} AS e WHERE e.id_miembro = ids.id AND e.fecha_hora < %(since)s)
"""
"""Which of ``ids`` (a list of member ids, all int or all text) have an entry before ``since``."""


def read_today(conn: Any, since: dt.datetime, *, limit: int = DEFAULT_LIMIT) -> list[Entry]:
    """Member entries at or after ``since`` (aware), newest first, at most ``limit``, with ``previous_entry_at``
    and ``first_visit`` derived (module docstring). ``conn`` is an open psycopg2 connection in autocommit mode.

    Raises :class:`agent.db.queries.SchemaError` when a required column is missing and ``psycopg2.Error`` for
    database errors of the main query."""
    with conn.cursor() as cur:
        cur.execute(queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
        select = queries.EntrySelect.from_readable([(str(t), str(c)) for t, c in cur.fetchall()])
        cur.execute(today_sql(select), {"member": names.MEMBER_ACCESS, "since": since, "limit": limit})
        entries = [queries.EntrySelect.row_to_entry(row) for row in cur.fetchall()]
    return derive_visits(entries, _seen_before(conn, entries, since))


def _seen_before(conn: Any, entries: Sequence[Entry], since: dt.datetime) -> set[str] | None:
    ids = sorted({e.member_id for e in entries if e.member_id is not None}, key=str)
    if not ids:
        return set()
    if len({type(i) for i in ids}) > 1:  # mixed int/text ids (a varchar column): one typed array cannot hold them
        ids = [str(i) for i in ids]
    try:
        with conn.cursor() as cur:
            cur.execute(SEEN_BEFORE_SQL, {"ids": list(ids), "since": since})
            return {str(r[0]) for r in cur.fetchall()}
    except Exception as exc:  # an id type the column does not compare with: no first-visit marks, rows still shown
        log.info("first-visit lookup skipped: %s", type(exc).__name__)
        if not getattr(conn, "autocommit", True):
            conn.rollback()
        return None


def derive_visits(newest_first: Sequence[Entry], seen_before: set[str] | None) -> list[Entry]:
    """``newest_first`` with ``previous_entry_at`` (previous granted entry of the same member in the list) and
    ``first_visit`` (first in the list and not in ``seen_before``; never when ``seen_before`` is None). Pure."""
    last_granted: dict[str, dt.datetime] = {}
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in reversed(newest_first):  # oldest first
        if entry.member_id is None:
            out.append(entry)
            continue
        key = str(entry.member_id)
        first = seen_before is not None and key not in seen_before and key not in seen
        seen.add(key)
        out.append(
            dataclasses.replace(
                entry,
                previous_entry_at=entry.previous_entry_at or last_granted.get(key),
                first_visit=entry.first_visit or first,
            )
        )
        if not entry.denied:
            last_granted[key] = entry.occurred_at
    out.reverse()
    return out
