"""Where the trigger's cost goes: ``.venv/bin/python -m bench.trigger_variants [--rounds N] [--inserts N]``.

Installs the kit in a throwaway database, then measures the server CPU time per autocommit INSERT (the inserting
backend's ``/proc/<pid>/schedstat``, see :mod:`bench.proc`) with no trigger and with variants of the trigger
function, in interleaved rounds, and prints the median of each and its cost above no trigger. Variants:

* ``bare`` — ``PERFORM pg_notify(channel, id::text)``;
* ``ours`` — ``sql/setup_postgres_trigger.sql`` as it is;
* ``no_member_lookup`` — ours without the member lookup and JSON (minimal payload only);
* ``no_queue_guard`` — ours without the ``pg_notification_queue_usage()`` check;
* ``no_exception_block`` — ours without its exception block (unsafe: measurement only).

The variants are measurement aids derived from the file by text substitution; a variant whose substitution no
longer applies (the file changed) is reported as skipped. Rows cycle over the demo members (the 20 KB note trimmed
as in :mod:`bench.run`). No listener is connected.
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg2

from agent.core import names
from agent.db import setup, throwaway
from bench import proc

LOOKUP_START = "        SELECT pg_catalog.jsonb_build_object("
LOOKUP_END = "LEFT JOIN miembros AS m ON m.id_miembro OPERATOR(pg_catalog.=) NEW.id_miembro;"
GUARD = """    IF pg_catalog.pg_notification_queue_usage() >= limite THEN
        RAISE WARNING 'aviso_entradas: NOTIFY queue % percent full, entry % not notified %',
            pg_catalog.round((pg_catalog.pg_notification_queue_usage() * 100)::numeric, 4), NEW.id_entrada,
            '(agents read it from the table)';
        RETURN NULL;
    END IF;
"""
HANDLER_START = "    EXCEPTION WHEN OTHERS THEN\n        -- Member lookup denied"
HANDLER_END = "    END;\n    -- pg_notify runs outside"
BARE = f"""CREATE OR REPLACE FUNCTION aviso_notificar_entrada() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify(coalesce(TG_ARGV[0], '{names.DEFAULT_CHANNEL}'), NEW.id_entrada::text);
    RETURN NULL;
END
$fn$;"""


def function_text() -> str:
    """The ``CREATE OR REPLACE FUNCTION`` statement of the trigger file (as ``setup-db`` runs it)."""
    src = setup.trigger_sql()
    return src[src.index("CREATE OR REPLACE FUNCTION") : src.index("COMMENT ON FUNCTION")]


def variants(ours: str) -> dict[str, str | None]:
    """Variant name -> function text (None: no trigger; '' : the substitution does not apply any more)."""

    def cut(text: str, begin: str, end: str, new: str, keep_end: bool = False) -> str:
        if not text or begin not in text or end not in text[text.index(begin) :]:
            return ""
        i = text.index(begin)
        j = text.index(end, i) + (0 if keep_end else len(end))
        return text[:i] + new + text[j:]

    no_lookup = cut(ours, LOOKUP_START, LOOKUP_END, "        payload := NULL;")
    no_guard = ours.replace(GUARD, "", 1) if GUARD in ours else ""
    # Unsafe, measurement only: without the exception block an error would abort the turnstile's INSERT.
    no_block = cut(ours, HANDLER_START, HANDLER_END, "", keep_end=True)
    if no_block:
        no_block = no_block.replace("    BEGIN\n" + LOOKUP_START, LOOKUP_START, 1)
        no_block = no_block.replace(HANDLER_END, HANDLER_END.removeprefix("    END;\n"), 1)
    return {
        "none": None,
        "bare": BARE,
        "ours": ours,
        "no_member_lookup": no_lookup,
        "no_queue_guard": no_guard,
        "no_exception_block": no_block,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.trigger_variants", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5; the median is shown)")
    p.add_argument("--inserts", type=int, default=2000, help="INSERTs measured per variant and round")
    p.add_argument("--backend", default=os.environ.get("AVISO_PG_BACKEND", "system"))
    args = p.parse_args(argv)
    server = throwaway.ThrowawayPostgres(args.backend).start()
    try:
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE bench_trigger")
        admin.close()
        conn = psycopg2.connect(server.dsn(dbname="bench_trigger"))
        setup.apply(conn, schema=True, demo_data=True)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(f"UPDATE {names.MEMBERS_TABLE} SET notas = left(notas, 200) WHERE length(notas) > 200")
        cur.execute(f"SELECT id_miembro FROM {names.MEMBERS_TABLE} ORDER BY 1")
        members = [int(r[0]) for r in cur.fetchall()]
        table = variants(function_text())
        skipped = [name for name, text in table.items() if text == ""]
        runs: dict[str, list[float]] = {name: [] for name, text in table.items() if text != ""}
        for _ in range(args.rounds):
            for name in runs:
                text = table[name]
                state = "DISABLE" if text is None else "ENABLE"
                cur.execute(f"ALTER TABLE {names.ENTRIES_TABLE} {state} TRIGGER {names.TRIGGER_NAME}")
                if text is not None:
                    cur.execute(text)
                runs[name].append(_cpu_per_insert(server.dsn(dbname="bench_trigger"), members, args.inserts))
        setup.apply(conn)  # leave the real function in place (the database is thrown away anyway)
        conn.close()
    finally:
        server.stop()
    med = {name: sorted(v)[len(v) // 2] for name, v in runs.items()}
    print(f"server CPU per INSERT, median of {args.rounds} rounds x {args.inserts} INSERTs (us)")
    for name, value in med.items():
        extra = value - med["none"]
        print(f"  {name:<24} {value:7.1f}   trigger {extra:+7.1f}   rounds {' '.join(f'{x:.0f}' for x in runs[name])}")
    for name in skipped:
        print(f"  {name:<24} skipped: the trigger file no longer has the text this variant replaces")
    return 0


def _cpu_per_insert(dsn: str, members: list[int], n: int) -> float:
    """µs of the inserting backend's CPU per autocommit INSERT, on a fresh connection (fresh plan caches)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            row = cur.fetchone()
            assert row is not None
            pid = int(row[0])
            sql = f"INSERT INTO {names.ENTRIES_TABLE} (id_miembro, tipo_acceso) VALUES (%s, %s)"

            def insert(i: int) -> None:
                cur.execute(sql, (members[i % len(members)], names.MEMBER_ACCESS))

            for i in range(max(20, n // 10)):  # warm-up: plan and function caches
                insert(i)
            before = proc.sample(pid).cpu_ns
            for i in range(n):
                insert(i)
            after = proc.sample(pid).cpu_ns
    finally:
        conn.close()
    return (after - before) / n / 1000.0


if __name__ == "__main__":
    sys.exit(main())
