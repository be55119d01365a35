"""Today's member entries, read from the table for the "Entradas de hoy" page (:mod:`agent.web`).

One index-backed query: ``registro_entradas`` rows with ``tipo_acceso = 'miembro'`` and
``fecha_hora >= <start of the desk's local day>`` joined with ``miembros``, newest first, at most ``limit`` rows.
The bound is a plain range on ``fecha_hora``, so the kit's index ``registro_entradas (fecha_hora)``
(``sql/schema.sql``, created by ``setup-db``) turns it into an index range scan however long the table is. The
select list is the listener's (:class:`agent.db.queries.EntrySelect`): optional display columns the role cannot
read are ``NULL``, odd values are read safely, and ``previous_entry_at`` / ``first_visit`` are computed exactly as
for live entries (one probe per row on the ``(id_miembro, fecha_hora)`` index). No photo bytes are read (the page
shows thumbnails from the photo cache). Read-only; any thread; the connection belongs to the caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.core import names
from agent.core.model import Entry
from agent.db import queries

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
        f"SELECT {select._select_list(False)} FROM {names.ENTRIES_TABLE} AS e"  # the listener's select list, reused
        f" LEFT JOIN {names.MEMBERS_TABLE} AS m ON m.id_miembro = e.id_miembro"
        " WHERE e.tipo_acceso = %(member)s AND e.fecha_hora >= %(since)s"
        " ORDER BY e.fecha_hora DESC, e.id_entrada DESC LIMIT %(limit)s"
    )


def read_today(conn: Any, since: dt.datetime, *, limit: int = DEFAULT_LIMIT) -> list[Entry]:
    """Member entries at or after ``since`` (aware), newest first, at most ``limit``, with ``previous_entry_at``
    and ``first_visit``. ``conn`` is an open psycopg2 connection in autocommit mode.

    Raises :class:`agent.db.queries.SchemaError` when a required column is missing and ``psycopg2.Error`` for
    database errors."""
    with conn.cursor() as cur:
        cur.execute(queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
        select = queries.EntrySelect.from_readable([(str(t), str(c)) for t, c in cur.fetchall()])
        cur.execute(today_sql(select), {"member": names.MEMBER_ACCESS, "since": since, "limit": limit})
        return select.complete_history([queries.EntrySelect.row_to_entry(row) for row in cur.fetchall()])
