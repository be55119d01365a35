"""A simulated turnstile (the seed's ``test_simular_entrada_postgres.py``): inserts rows into
``registro_entradas`` the way a real turnstile would, one autocommit INSERT per passage, or all in one
transaction with ``burst``.

Which thread: any; each call opens its own connection (as a role that may INSERT, not ``pos_user``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg2

from agent.core import names
from agent.db import connect


class SimulateError(RuntimeError):
    """Nothing can be inserted as asked (e.g. no members); the message says why."""


@dataclass(frozen=True)
class Inserted:
    """One inserted row, as the turnstile wrote it."""

    entry_id: int
    member_id: int | None
    access_type: str
    result: str
    occurred_at: dt.datetime
    name: str = ""


def member_ids(conn: psycopg2.extensions.connection) -> list[int]:
    """All ``id_miembro`` values, ascending."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT id_miembro FROM {names.MEMBERS_TABLE} ORDER BY id_miembro")
        return [int(r[0]) for r in cur.fetchall()]


def insert_entries(
    dsn: str,
    *,
    count: int,
    rate_per_s: float | None = None,
    member_id: int | None = None,
    access_type: str = names.MEMBER_ACCESS,
    burst: bool = False,
    result: str = names.RESULT_GRANTED,
    stop: threading.Event | None = None,
    members: Sequence[int] | None = None,
    on_insert: Callable[[Inserted], None] | None = None,
    password: str | None = None,
) -> list[Inserted]:
    """Insert ``count`` entries and return them in insertion order.

    ``rate_per_s`` paces single inserts (None = as fast as possible); ``burst`` inserts all in one transaction.
    Member entries cycle over ``members`` (default: every member) unless ``member_id`` is given; visitor and
    employee entries have no member. ``stop`` ends early. Raises :class:`SimulateError` (also for a malformed
    ``dsn``, with a message that never quotes it) or ``psycopg2.Error``.
    """
    if access_type not in names.ACCESS_TYPES:
        raise SimulateError(f"tipo_acceso must be one of {', '.join(names.ACCESS_TYPES)}")
    if result not in (names.RESULT_GRANTED, names.RESULT_DENIED):
        raise SimulateError(f"resultado must be {names.RESULT_GRANTED} or {names.RESULT_DENIED}")
    try:
        # Parsed here, not by psycopg2.connect: libpq's parse errors quote the DSN, password included.
        kwargs = connect.connection_kwargs(dsn, password=password, application_name="aviso-entradas simulate")
    except ValueError as exc:
        raise SimulateError(str(exc)) from None  # no chained cause: it would carry libpq's text
    conn = psycopg2.connect(**kwargs)
    try:
        conn.autocommit = not burst
        pool: Sequence[int | None]
        if access_type != names.MEMBER_ACCESS:
            pool = [None]
        elif member_id is not None:
            pool = [member_id]
        else:
            pool = list(members) if members is not None else member_ids(conn)
            if not pool:
                raise SimulateError("the miembros table is empty: run setup-db --demo-data")
        cycle = itertools.cycle(pool)
        out: list[Inserted] = []
        start = time.monotonic()
        with conn.cursor() as cur:
            for i in range(count):
                if stop is not None and stop.is_set():
                    break
                if rate_per_s and not burst:
                    delay = start + i / rate_per_s - time.monotonic()
                    if delay > 0:
                        if stop is not None:
                            if stop.wait(delay):
                                break
                        else:
                            time.sleep(delay)
                mid = next(cycle)
                cur.execute(
                    f"INSERT INTO {names.ENTRIES_TABLE} (id_miembro, tipo_acceso, resultado)"
                    " VALUES (%s, %s, %s) RETURNING id_entrada, fecha_hora",
                    (mid, access_type, result),
                )
                row = cur.fetchone()
                assert row is not None
                item = Inserted(int(row[0]), mid, access_type, result, row[1])
                out.append(item)
                if on_insert is not None and not burst:
                    on_insert(item)
        if burst:
            conn.commit()
            if on_insert is not None:
                for item in out:
                    on_insert(item)
        return out
    finally:
        conn.close()
