"""agent/db/today.py on a real PostgreSQL: today's member entries only, newest first, the day's repeat and
first-visit facts, entries made while no agent ran, and an index range scan on a large table."""

from __future__ import annotations

import datetime as dt

import psycopg2
from conftest import Database
from web_support import insert_at

from agent.db.queries import EntrySelect
from agent.db.today import local_day_start, read_today, today_sql


def pos_conn(db: Database) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(db.pos_dsn())
    conn.autocommit = True
    return conn


def test_local_day_start_is_local_midnight() -> None:
    now = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)
    start = local_day_start(now)
    assert start.tzinfo is not None
    local = now.astimezone()
    assert start.astimezone().date() == local.date()
    assert (start.astimezone().hour, start.astimezone().minute) == (0, 0)
    assert start <= now


def test_reads_only_todays_member_entries_newest_first_with_visit_facts(db: Database) -> None:
    now = dt.datetime.now().astimezone()
    since = local_day_start(now)
    yesterday = since - dt.timedelta(hours=2)
    at = [since + (now - since) * f for f in (0.2, 0.4, 0.6, 0.8)]  # today, in order, whatever the hour
    # member 1 came yesterday (not a first visit today), member 2 never before (first visit), member 3 twice today
    old = insert_at(db, [(1, yesterday, "permitido")])
    ids = insert_at(
        db,
        [
            (1, at[0], "permitido"),
            (2, at[1], "permitido"),
            (3, at[2], "permitido"),
            (3, at[3], "permitido"),
        ],
    )
    with db.connect_admin() as conn, conn.cursor() as cur:  # not a member entry: never listed
        cur.execute("INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'visitante')")
    conn = pos_conn(db)
    try:
        entries = read_today(conn, since)
    finally:
        conn.close()
    assert [e.entry_id for e in entries] == list(reversed(ids))
    assert old[0] not in [e.entry_id for e in entries]
    by_id = {e.entry_id: e for e in entries}
    assert by_id[ids[0]].member is not None and by_id[ids[0]].member.first_name == "María José"
    assert not by_id[ids[0]].first_visit  # member 1 was here yesterday
    assert by_id[ids[0]].previous_entry_at == yesterday
    assert by_id[ids[1]].first_visit  # member 2: no entry before today
    assert by_id[ids[2]].first_visit and not by_id[ids[3]].first_visit  # member 3: only the first of the day
    assert by_id[ids[3]].previous_entry_at == by_id[ids[2]].occurred_at  # the repeat entry's previous one
    assert by_id[ids[2]].previous_entry_at is None


def test_entries_made_while_no_agent_ran_are_listed(db: Database) -> None:
    """The page reads the table: rows inserted before anything was listening are there."""
    now = dt.datetime.now().astimezone()
    ids = insert_at(db, [(4, local_day_start(now) + (now - local_day_start(now)) / 2, "denegado")])
    conn = pos_conn(db)
    try:
        entries = read_today(conn, local_day_start(now))
    finally:
        conn.close()
    assert [e.entry_id for e in entries] == ids
    assert entries[0].denied


def test_query_is_an_index_range_scan_on_a_large_table(db: Database) -> None:
    """200,000 older rows: the day's query uses the kit's (fecha_hora) index, not a sequential scan."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
            " SELECT 1 + g % 8, 'miembro', now() - interval '3 days' - g * interval '1 second'"
            " FROM generate_series(1, 200000) AS g"
        )
        cur.execute("ANALYZE registro_entradas")
    conn = pos_conn(db)
    try:
        with conn.cursor() as cur:
            from agent.core import names
            from agent.db import queries

            cur.execute(queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
            select = EntrySelect.from_readable([(str(t), str(c)) for t, c in cur.fetchall()])
            since = local_day_start(dt.datetime.now().astimezone())
            cur.execute("EXPLAIN " + today_sql(select), {"member": "miembro", "since": since, "limit": 5000})
            plan = "\n".join(str(r[0]) for r in cur.fetchall())
    finally:
        conn.close()
    assert "registro_entradas_fecha_hora_idx" in plan, plan
    assert "Seq Scan on registro_entradas" not in plan, plan
