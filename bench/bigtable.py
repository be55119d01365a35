"""The years-of-rows scenario (issue 12 item 6): ``python -m bench --big [--big-rows N]`` (opt-in: loading 10 M
rows takes minutes). Figures are printed and written to ``bench/results/big.json``; docs/benchmarks.md has the
latest table.

On one throwaway PostgreSQL, a database ``big`` whose ``registro_entradas`` holds ``rows`` entries over the last
365 days (2,000 members, 1 in 10 a visitor, with the indexes ``setup-db`` creates) and a database ``empty`` with
the same schema and no entries. Measured:

1. idle cost per minute of the NOTIFY-mode engine (default 15 s sweeps) on ``big`` vs ``empty``, and of the
   poll-mode engine (1 s) on ``big``: CPU time of the *server backend* serving the agent
   (``/proc/<pid>/task/*/schedstat``) and shared buffers touched (hit + read, ``pg_statio_user_tables`` of
   ``registro_entradas`` and ``miembros``, heap and index), over ``idle_s`` seconds after the agent settled;
2. the server's cost of one poll on ``big``: ``EXPLAIN (ANALYZE, BUFFERS)`` execution time of the poll query
   (median of 50) and the backend CPU per poll from (1);
3. catch-up after an hour's outage: 36,000 entries dated over the last hour inserted while the agent is stopped;
   time from ``start()`` to LISTENING (the catch-up runs before it), with the default replay age (older entries
   become one summary) and with a replay age of 2 h (all 36,000 one by one);
4. latency from COMMIT to the engine's hand-over: NOTIFY mode at 100/s (after 6,000 entries fill the lookback
   window) and poll mode at 1/s (interval 1 s), on ``big``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.db.engine import EngineConfig, ListenerEngine
from bench import proc
from bench.stats import summarize_ms

INDEXES = (
    "CREATE INDEX IF NOT EXISTS registro_entradas_fecha_hora_idx ON registro_entradas (fecha_hora)",
    "CREATE INDEX IF NOT EXISTS registro_entradas_miembro_fecha_idx ON registro_entradas (id_miembro, fecha_hora)",
)


def load(b: Any, dbname: str, rows: int) -> float:
    """Fill ``dbname`` with ``rows`` entries (indexes built after the load, as setup-db would on an existing
    table); returns seconds taken."""
    t0 = time.monotonic()
    conn = b.admin(dbname)
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("DROP INDEX IF EXISTS registro_entradas_fecha_hora_idx")
        cur.execute("INSERT INTO miembros (nombre, apellido, plan) SELECT 'Socio', 'N' || g, 'Mensual'"
                    " FROM generate_series(1, 2000) AS g")  # fmt: skip
        cur.execute("SELECT min(id_miembro), max(id_miembro) FROM miembros")
        lo, hi = cur.fetchone()
        cur.execute("SET session_replication_role = replica")  # no trigger, no NOTIFY for the history
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora, resultado)"
            " SELECT CASE WHEN g %% 10 = 0 THEN NULL ELSE %(lo)s + (g * 7919) %% (%(hi)s - %(lo)s + 1) END,"
            "        CASE WHEN g %% 10 = 0 THEN 'visitante' ELSE 'miembro' END,"
            "        now() - interval '365 days' + (g::float8 / %(n)s) * interval '365 days' - interval '2 hours',"
            "        CASE WHEN g %% 17 = 0 THEN 'denegado' ELSE 'permitido' END"
            "   FROM generate_series(1::bigint, %(n)s) AS g",
            {"lo": lo, "hi": hi, "n": rows},
        )
        cur.execute("RESET session_replication_role")
        for sql in INDEXES:
            cur.execute(sql)
        cur.execute("VACUUM ANALYZE registro_entradas")
        cur.execute("ANALYZE miembros")
    conn.close()
    return time.monotonic() - t0


def _backend_pid(b: Any, dbname: str, app: str) -> int:
    conn = b.admin()
    with conn.cursor() as cur:
        for _ in range(100):
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s", (dbname, app))
            row = cur.fetchone()
            if row:
                conn.close()
                return int(row[0])
            time.sleep(0.1)
    conn.close()
    raise RuntimeError(f"no backend for {app} on {dbname}")


def _buffers(b: Any, dbname: str) -> tuple[int, int]:
    """(blocks found in shared buffers, blocks read from outside them) of ``registro_entradas`` and ``miembros``,
    heap and indexes, as the statistics have them now."""
    conn = b.admin(dbname)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0)),"
            " sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0)) FROM pg_statio_user_tables"
            " WHERE relname IN ('registro_entradas', 'miembros')"
        )
        hit, read = cur.fetchone()  # type: ignore[misc]
    conn.close()
    return int(hit or 0), int(read or 0)


def idle(b: Any, idle_s: float, cases: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Scenario 1: idle agents at once, one per database (``cases``: db, label, EngineConfig overrides)."""
    agents = [b.agent("engine", db, engine=eng) for db, _, eng in cases]
    try:
        for a in agents:
            a.ready()
        time.sleep(12.0)  # connect + catch-up statistics flushed (idle backends flush within 10 s)
        pids = [_backend_pid(b, db, "bench engine 0") for db, _, _ in cases]
        cpu0 = [proc.sample(p).cpu_ns for p in pids]
        buf0 = [_buffers(b, db) for db, _, _ in cases]
        time.sleep(idle_s)
        cpu1 = [proc.sample(p).cpu_ns for p in pids]
        stats = [a.cmd(cmd="report")["listeners"][0]["stats"] for a in agents]
    finally:
        for a in agents:
            a.stop()
    time.sleep(0.5)  # the backends have exited and flushed their statistics
    per_min = 60.0 / idle_s
    out = []
    for i, (db, label, _) in enumerate(cases):
        polls = int(stats[i].get("polls", 0))
        row = {
            "db": db,
            "mode": label,
            "server_cpu_ms_per_min": round((cpu1[i] - cpu0[i]) / 1e6 * per_min, 2),
            "buffers_hit_per_min": round((_buffers(b, db)[0] - buf0[i][0]) * per_min),
            "buffers_read_per_min": round((_buffers(b, db)[1] - buf0[i][1]) * per_min),
            "queries": stats[i].get("queries"),
        }
        if polls:
            row["polls"] = polls
            row["server_cpu_ms_per_poll"] = round((cpu1[i] - cpu0[i]) / 1e6 / polls, 3)
        out.append(row)
    return out


def poll_query_cost(b: Any) -> dict[str, Any]:
    """Scenario 2: EXPLAIN ANALYZE of the poll query at the table's end, as pos_user, 50 times."""
    from agent.core import names
    from agent.db import queries

    conn = psycopg2.connect(b.pos_dsn("big"), password=b.password)
    conn.autocommit = True
    times, buffers, plan = [], [], ""
    with conn.cursor() as cur:
        cur.execute(queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE})
        select = queries.EntrySelect.from_readable([(str(t), str(c)) for t, c in cur.fetchall()])
        cur.execute("SELECT max(id_entrada), now() FROM registro_entradas")
        max_id, now = cur.fetchone()  # type: ignore[misc]
        pending = next(q for q in queries.engine_queries(select, max_id=max_id, now=now) if q.name == "pending")
        for _ in range(50):
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + pending.sql, pending.params)
            (doc,) = cur.fetchone()  # type: ignore[misc]
            top = doc[0]
            times.append(float(top["Execution Time"]) + float(top["Planning Time"]))
            buffers.append(int(top["Plan"].get("Shared Hit Blocks", 0)) + int(top["Plan"].get("Shared Read Blocks", 0)))
        cur.execute("EXPLAIN " + pending.sql, pending.params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p99_ms": round(sorted(times)[int(len(times) * 0.99) - 1], 3),
        "buffers": int(statistics.median(buffers)),
        "seq_scan": "Seq Scan on registro_entradas" in plan,
    }


def catch_up(b: Any, missed: int, replay_max_age_s: float) -> dict[str, Any]:
    """Scenario 3: ``missed`` entries over the last hour while the agent is stopped, then its start."""
    workdir = Path(tempfile.mkdtemp(prefix="aviso-bench-big-"))
    cfg = EngineConfig(
        dsn=b.pos_dsn("big"), password=b.password, cursor_path=workdir / "cursor.json",
        replay_max_age_s=replay_max_age_s, application_name="bench catch-up",
    )  # fmt: skip
    events: queue.Queue[Event] = queue.Queue()
    first = ListenerEngine(cfg, events)
    first.start()
    _until(events, lambda e: isinstance(e, StateChanged) and e.state is ConnState.LISTENING)
    first.stop(timeout_s=5)
    conn = b.admin("big")
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora)"
            " SELECT (SELECT min(id_miembro) FROM miembros) + g %% 2000, 'miembro',"
            "        now() - interval '1 hour' + (g::float8 / %(n)s) * interval '1 hour'"
            "   FROM generate_series(1, %(n)s) AS g",
            {"n": missed},
        )
    conn.close()
    events = queue.Queue()
    second = ListenerEngine(cfg, events)
    t0 = time.monotonic()
    second.start()
    got = _until(events, lambda e: isinstance(e, StateChanged) and e.state is ConnState.LISTENING, 120)
    elapsed = time.monotonic() - t0
    second.stop(timeout_s=5)
    got += _drain(events)
    delivered = sum(1 for e in got if isinstance(e, EntryReceived))
    summarized = sum(e.count for e in got if isinstance(e, BacklogSummary))
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()
    return {
        "missed": missed,
        "replay_max_age_s": replay_max_age_s,
        "seconds_to_listening": round(elapsed, 3),
        "delivered": delivered,
        "summarized": summarized,
        "complete": delivered + summarized == missed,
    }


def _until(events: queue.Queue[Event], pred: Any, timeout_s: float = 60.0) -> list[Event]:
    seen: list[Event] = []
    deadline = time.monotonic() + timeout_s
    while True:
        e = events.get(timeout=max(0.01, deadline - time.monotonic()))
        seen.append(e)
        if pred(e):
            return seen


def _drain(events: queue.Queue[Event]) -> list[Event]:
    out: list[Event] = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def latency(
    b: Any, engine: dict[str, Any], rate: float, seconds: float, prefill: int, db: str = "big"
) -> dict[str, Any]:
    """Scenario 4: COMMIT -> hand-over latency of one engine process on ``db``."""
    from bench.run import Turnstile, _latencies

    a = b.agent("engine", db, engine=engine)
    try:
        a.ready()
        ts = Turnstile(b.server.dsn(dbname=db))
        before: dict[int, float] = {}
        if prefill:
            before, _ = ts.insert(prefill, None)
            a.cmd(timeout_s=120, cmd="wait", count=len(before), timeout=90)
        commits, elapsed = ts.insert(int(rate * seconds), rate)
        ts.close()
        a.cmd(timeout_s=120, cmd="wait", count=len(before) + len(commits), timeout=90)
        records = [r for r in a.cmd(cmd="report")["listeners"][0]["records"] if int(r[0]) not in before]
    finally:
        a.stop()
    lat, counts = _latencies(records, commits)
    return {"rate": rate, "seconds": round(elapsed, 1), **counts, "latency_ms": summarize_ms(lat)}


def run(b: Any, rows: int, idle_s: float, log: Any) -> dict[str, Any]:
    """Every scenario above; ``b`` is a :class:`bench.run.Bench`."""
    res: dict[str, Any] = {"rows": rows}
    for db in ("big", "empty"):
        b.create_db(db)
    log(f"== loading {rows:,} rows into registro_entradas")
    res["load_s"] = round(load(b, "big", rows), 1)
    for sql in INDEXES:
        with b.admin("empty").cursor() as cur:
            cur.execute(sql)
    log(f"   loaded in {res['load_s']} s")
    log(f"== idle agents ({idle_s:g} s)")
    res["idle"] = idle(b, idle_s, [("big", "notify", {}), ("empty", "notify", {})])
    res["idle"] += idle(b, idle_s / 2, [("big", "poll", {"mode": "poll", "poll_interval_s": 1.0})])
    log("== poll query cost")
    res["poll_query"] = poll_query_cost(b)
    log("== catch-up after an hour's outage")
    res["catchup"] = [catch_up(b, 36_000, 600.0), catch_up(b, 36_000, 7200.0)]
    log("== latency")
    res["latency_notify_100"] = latency(b, {}, 100.0, 10.0, 6_000)
    res["latency_notify_100_empty"] = latency(b, {}, 100.0, 10.0, 6_000, db="empty")
    res["latency_poll_1"] = latency(b, {"mode": "poll", "poll_interval_s": 1.0}, 1.0, 60.0, 0)
    res["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    res["loadavg_end"] = os.getloadavg()
    return res


def table(res: dict[str, Any]) -> str:
    """The figures with their targets, as a Markdown table."""
    by = {(r["db"], r["mode"]): r for r in res["idle"]}
    big, empty, poll = by[("big", "notify")], by[("empty", "notify")], by[("big", "poll")]
    hits = {"big": big["buffers_hit_per_min"], "empty": empty["buffers_hit_per_min"]}
    reads = {"big": big["buffers_read_per_min"], "empty": empty["buffers_read_per_min"]}
    ratio_cpu = big["server_cpu_ms_per_min"] / max(empty["server_cpu_ms_per_min"], 0.01)
    ratio_hit = hits["big"] / max(hits["empty"], 1)
    c600, c7200 = res["catchup"]
    n100, p1 = res["latency_notify_100"], res["latency_poll_1"]
    e100 = res["latency_notify_100_empty"]
    pq = res["poll_query"]

    def ok(flag: bool) -> str:
        return "met" if flag else "MISSED"

    rows = [
        ("Idle NOTIFY agent, server CPU / min: big vs empty", f"{big['server_cpu_ms_per_min']} vs "
         f"{empty['server_cpu_ms_per_min']} ms ({ratio_cpu:.2f}x)", "<= 1.5x", ok(ratio_cpu <= 1.5)),
        ("Idle NOTIFY agent, buffers read (from outside shared buffers) / min: big vs empty",
         f"{reads['big']} vs {reads['empty']}", "<= 1.5x", ok(reads["big"] <= max(1.5 * reads["empty"], 1))),
        ("Idle NOTIFY agent, buffers found in shared buffers / min: big vs empty",
         f"{hits['big']} vs {hits['empty']} ({ratio_hit:.2f}x)", "(B-tree depth)", "info"),
        ("Catch-up of 36,000 missed in 1 h (replay age 600 s)", f"{c600['seconds_to_listening']} s "
         f"({c600['delivered']} one by one + {c600['summarized']} in a summary)", "<= 2 s",
         ok(c600["seconds_to_listening"] <= 2 and c600["complete"])),
        ("Catch-up of 36,000, all one by one (replay age 2 h)", f"{c7200['seconds_to_listening']} s "
         f"({c7200['delivered']} delivered)", "<= 2 s", ok(c7200["seconds_to_listening"] <= 2 and c7200["complete"])),
        ("NOTIFY mode at 100/s, p99 (p50) latency", f"{n100['latency_ms']['p99']:.1f} ms "
         f"({n100['latency_ms']['p50']:.1f}), {n100['delivered']}/{n100['inserted']}; empty table: "
         f"{e100['latency_ms']['p99']:.1f} ms ({e100['latency_ms']['p50']:.1f})", "unchanged vs empty table", "info"),
        ("Poll mode at 1/s (1 s interval), p99 (p50) latency", f"{p1['latency_ms']['p99']:.0f} ms "
         f"({p1['latency_ms']['p50']:.0f}), {p1['delivered']}/{p1['inserted']}", "<= 1050 ms",
         ok(p1["latency_ms"]["p99"] <= 1050 and p1["delivered"] == p1["inserted"])),
        ("Poll query on the big table: server time median (p99)", f"{pq['median_ms']} ms ({pq['p99_ms']}), "
         f"{pq['buffers']} buffers, seq scan: {pq['seq_scan']}", "<= 1 ms", ok(pq["median_ms"] <= 1)),
        ("Poll agent backend CPU per poll (idle, 1 s)", f"{poll['server_cpu_ms_per_poll']} ms over "
         f"{poll['polls']} polls, {poll['buffers_hit_per_min']} buffers / min", "<= 1 ms",
         ok(poll["server_cpu_ms_per_poll"] <= 1)),
    ]  # fmt: skip
    out = [f"Big table: {res['rows']:,} rows in registro_entradas (loaded in {res['load_s']} s)", "",
           "| Figure | Measured | Target | |", "|---|---|---|---|"]  # fmt: skip
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out)


def main(backend: str, rows: int, idle_s: float, out_path: Path, log: Any) -> int:
    """Start a throwaway server, run, print the table, write ``out_path`` (JSON)."""
    from bench.run import FULL, Bench

    started = time.monotonic()
    b = Bench(FULL, backend, log)
    try:
        res = run(b, rows, idle_s, log)
        res["server"] = b.server_version
        res["seconds"] = round(time.monotonic() - started, 1)
        res["command"] = f"python -m bench --big --big-rows {rows}"
    finally:
        b.close()
    print(table(res))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"== wrote {out_path} in {res['seconds']} s")
    return 0
