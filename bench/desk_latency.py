"""Desk-visible latency: a member entry's INSERT -> the notification server receiving its notice.

Run ``.venv/bin/python -m bench.desk_latency`` (100 entries at 1/s, ~2 minutes) or with ``--count N --rate R``.
docs/benchmarks.md ("Desk-visible latency") has the figures and how to read them.

What runs (all real, nothing in-process):

* a desktop: the command re-runs itself inside ``build/desktop-session.sh`` (a private D-Bus session from
  ``dbus-run-session``, Xvfb, dunst as the notification server, trayer as the tray host);
* ``dbus-monitor --session`` watching the ``org.freedesktop.Notifications.Notify`` method calls;
* a throwaway PostgreSQL (:mod:`agent.db.throwaway`, ``AVISO_PG_BACKEND`` picks the binaries) with the kit
  installed by :func:`agent.db.setup.apply` (schema, trigger, ``pos_user``, demo data) and ``count`` extra
  members named ``Banco Latencia NNNN`` (no photo), one per entry, so each notice names exactly one entry;
* the whole agent process, ``python -m agent --lang es tray --dsn ... --flood-max 1000 --flood-window 1`` with the
  D-Bus notifier and the pystray (xorg) tray, as ``tests/test_e2e_desktop.py`` starts it. Flood control is
  raised on purpose: the default (4 notices per 30 s) would fold most entries of a 1/s run into summaries, and
  this measures each entry's own notice;
* the turnstile: :func:`agent.db.simulate.insert_entries`, one autocommit INSERT per entry on one connection,
  paced at ``rate`` entries/s.

Clocks, both this machine's ``CLOCK_REALTIME``: the start of an entry is ``time.time()`` in the insert callback,
right after the autocommit INSERT (hence its COMMIT) returned to the client; its end is the ``time=`` stamp that
``dbus-monitor`` prints for the matching ``Notify`` call (``gettimeofday`` when the monitor reads the message the
bus daemon forwards to it and to dunst). A second figure starts at the row's ``fecha_hora`` (the server's
``now()``: the start of the INSERT's transaction), so it includes the INSERT and the COMMIT themselves. The
commit itself lies between the two starts: the first figure is low when the inserting client is scheduled late
(the NOTIFY is sent at commit, before the client reads the reply), the second is high by the INSERT's own time.
Each ``Notify`` is matched to its entry by the member name in its summary.

A warm-up entry (member ``Banco Latencia 0000``) is inserted and waited for before the measured ones: it proves
the agent listens and makes its first D-Bus connection; it is not counted. Every 10 matched entries the bench
closes dunst's popups (``dunstctl close-all``), as a daemon's timeout would, so the screen never holds 100.

Exit status: 0 when every entry was matched to a ``Notify`` call, 1 when some were not (or the agent failed),
2 when the desktop tools are missing. No latency target decides the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

from agent.core import names
from agent.db import setup, simulate, throwaway
from bench.bus_monitor import BusMonitor, Notice
from bench.stats import percentile

REPO = Path(__file__).resolve().parent.parent
SESSION_SCRIPT = REPO / "build" / "desktop-session.sh"
SESSION_MARK = "AVISO_DESK_LATENCY_SESSION"
"""Set when this process runs inside the desktop session it started (no second re-run)."""
TOOLS = ("dbus-run-session", "dbus-send", "dbus-monitor", "Xvfb", "dunst", "dunstctl", "trayer")
FLOOD_MAX = 1000
FLOOD_WINDOW_S = 1.0
NAME_PREFIX = "Banco"
TAG = "Latencia"
TAG_RE = re.compile(rf"\b{TAG} (\d{{4}})\b")
TARGET_P99_MS = 30.0
CLOSE_EVERY = 10


def missing_tools() -> list[str]:
    """Desktop programs this bench needs that are not on ``PATH`` (build/dev.sh installs them as root)."""
    return [t for t in TOOLS if shutil.which(t) is None]


def _tag_of(summary: str) -> int | None:
    found = TAG_RE.search(summary)
    return int(found.group(1)) if found else None


def _names(tag: int) -> Callable[[str], bool]:
    """A summary test: does it name member ``Banco Latencia <tag>``?"""
    return lambda summary: _tag_of(summary) == tag


def _add_members(admin_dsn: str, count: int) -> dict[int, int]:
    """Insert members ``Banco Latencia 0000`` .. ``count`` (plan Mensual, expiring in 30 days, no photo);
    returns tag -> id_miembro."""
    conn = psycopg2.connect(admin_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {names.MEMBERS_TABLE} (nombre, apellido, plan, fecha_vencimiento)"
                " SELECT %s, %s || ' ' || lpad(g::text, 4, '0'), 'Mensual', current_date + 30"
                " FROM generate_series(0, %s) AS g RETURNING id_miembro, apellido",
                (NAME_PREFIX, TAG, count),
            )
            return {int(last.split()[-1]): int(mid) for mid, last in cur.fetchall()}
    finally:
        conn.close()


def _agent_env(work: Path, password: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("AVISO_LANG", "PGPASSWORD", "AVISO_DEBUG_STACKS"):
        env.pop(var, None)
    for var in [v for v in env if v.startswith("AVISO_NOTIFICATIONS_")]:  # settings overrides from the caller's env
        env.pop(var)
    runtime = work / "run"
    runtime.mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        XDG_STATE_HOME=str(work / "state"),
        XDG_DATA_HOME=str(work / "data"),
        XDG_CACHE_HOME=str(work / "cache"),
        AVISO_RUNTIME_DIR=str(runtime),
        AVISO_LOG_DIR=str(work / "log"),
        AVISO_CONFIG_FILE=str(work / "config.toml"),
        AVISO_MACHINE_CONFIG_FILE=str(work / "machine.toml"),
        AVISO_CREDENTIALS="memory",
        AVISO_NOTIFIER="dbus",
        AVISO_TRAY="pystray",
        PYSTRAY_BACKEND="xorg",
        PGPASSWORD=password,
        PYTHONPATH=str(REPO),
    )
    return env


def agent_command(dsn: str) -> list[str]:
    """The agent as a front desk runs it, with flood control raised (see the module docstring)."""
    flood = ["--flood-max", str(FLOOD_MAX), "--flood-window", str(FLOOD_WINDOW_S)]
    return [sys.executable, "-m", "agent", "--lang", "es", "tray", "--dsn", dsn, *flood]


def _loadavg() -> tuple[float, float, float]:
    if sys.platform == "win32":  # the bench is Linux-only; this keeps mypy --platform win32 clean
        return (math.nan, math.nan, math.nan)
    return os.getloadavg()


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from the first line of ``/proc/stat`` (proc(5); idle = idle + iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def _dunst_close_all() -> None:
    subprocess.run(["dunstctl", "close-all"], capture_output=True, timeout=10, check=False)


def measure(count: int, rate: float, work: Path) -> dict[str, Any]:
    """Run one measurement inside the desktop session; returns the result dictionary (see :func:`summarize`)."""
    server = throwaway.from_environment()
    monitor = BusMonitor(raw_path=work / "bus.txt")
    agent: subprocess.Popen[bytes] | None = None
    agent_out = work / "agent.out"
    try:
        password = "pw-" + secrets.token_urlsafe(12)
        dbname = "desk_latency"
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {dbname}")
        admin.close()
        conn = psycopg2.connect(server.dsn(dbname=dbname))
        setup.apply(conn, schema=True, pos_password=password, demo_data=True)
        conn.close()
        admin_dsn = server.dsn(dbname=dbname)
        tags = _add_members(admin_dsn, count)
        monitor.start()
        with open(agent_out, "wb") as out:
            agent = subprocess.Popen(
                agent_command(server.dsn(dbname=dbname, user=names.ROLE)),
                cwd=REPO,
                env=_agent_env(work, password),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        warm = None
        for _ in range(20):  # until the agent listens: one warm-up entry every 3 s
            if agent.poll() is not None:
                break
            simulate.insert_entries(admin_dsn, count=1, member_id=tags[0])
            warm = monitor.wait_for(_names(0), 3.0)
            if warm is not None:
                break
        if warm is None:
            ended = "" if agent.poll() is None else f" (it exited with status {agent.returncode})"
            raise RuntimeError(f"the agent raised no notice for the warm-up entry{ended} (--keep DIR keeps its log)")
        time.sleep(1.0)
        _dunst_close_all()
        with monitor.cond:
            first_measured = len(monitor.notices)  # the warm-up's notices (and any catch-up summary) stay out
        load_before = _loadavg()
        cpu_before = cpu_times()
        committed: dict[int, float] = {}
        row_times: dict[int, float] = {}

        def on_insert(row: simulate.Inserted) -> None:
            t = time.time()
            tag = len(committed) + 1
            committed[tag] = t
            row_times[tag] = row.occurred_at.timestamp()
            if tag % CLOSE_EVERY == 0:  # the popups pile up otherwise (dunstrc: timeout 0)
                monitor.wait_for(_names(tag), 2.0)
                _dunst_close_all()

        members = [tags[i] for i in range(1, count + 1)]
        simulate.insert_entries(admin_dsn, count=count, rate_per_s=rate, members=members, on_insert=on_insert)
        deadline = time.monotonic() + 15.0  # for all the notices still to come, not each
        for tag in committed:
            monitor.wait_for(_names(tag), max(0.0, deadline - time.monotonic()))
        time.sleep(0.5)  # late duplicates or summaries
        load_after = _loadavg()
        cpu_after = cpu_times()
        busy = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
        with monitor.cond:
            notices = monitor.notices[first_measured:]
        return summarize(committed, row_times, notices, count, rate, (load_before, load_after), busy)
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        if agent is not None and agent.returncode not in (0, None):
            print(agent_out.read_text(errors="replace")[-3000:], file=sys.stderr)
        with contextlib.suppress(Exception):
            monitor.stop()
        server.stop()


def _figures(values_ms: list[float]) -> dict[str, float]:
    v = sorted(values_ms)
    return {
        "n": len(v),
        "p50": percentile(v, 50),
        "p90": percentile(v, 90),
        "p99": percentile(v, 99),
        "max": v[-1] if v else math.nan,
        "min": v[0] if v else math.nan,
    }


def summarize(
    committed: dict[int, float],
    row_times: dict[int, float],
    notices: list[Notice],
    count: int,
    rate: float,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    busy: float,
) -> dict[str, Any]:
    """Match each entry (by tag) to the first ``Notify`` naming it. Keys: ``inserted``, ``matched``,
    ``unmatched`` (tags), ``duplicates`` (extra Notify calls naming an entry), ``other_notices`` (summaries of
    Notify calls naming no measured entry, e.g. a flood summary), ``from_commit_ms`` / ``from_row_ms`` (figures:
    n, p50, p90, p99, max, min), ``per_entry`` ([tag, from_commit_ms, from_row_ms]), ``meta``."""
    first: dict[int, Notice] = {}
    duplicates = 0
    other = []
    for n in notices:
        tag = _tag_of(n.summary)
        if tag is None or tag not in committed:
            other.append(n.summary)
            continue
        if tag in first:
            duplicates += 1
        else:
            first[tag] = n
    per_entry = [
        [tag, (first[tag].t - committed[tag]) * 1e3, (first[tag].t - row_times[tag]) * 1e3]
        for tag in sorted(committed)
        if tag in first
    ]
    return {
        "inserted": len(committed),
        "matched": len(per_entry),
        "unmatched": sorted(set(committed) - set(first)),
        "duplicates": duplicates,
        "other_notices": other,
        "from_commit_ms": _figures([e[1] for e in per_entry]),
        "from_row_ms": _figures([e[2] for e in per_entry]),
        "per_entry": per_entry,
        "meta": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "count": count,
            "rate_per_s": rate,
            "flood_override": {"flood_max_count": FLOOD_MAX, "flood_window_s": FLOOD_WINDOW_S},
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
            "loadavg_before": load[0],
            "loadavg_after": load[1],
            "cpu_busy_during": busy,
            "pg_backend": os.environ.get("AVISO_PG_BACKEND", "auto"),
        },
    }


def report(res: dict[str, Any]) -> str:
    """The printed table."""
    m = res["meta"]
    lines = [
        "Desk-visible latency: INSERT -> D-Bus Notify (dbus-monitor), "
        f"{res['inserted']} entries at {m['rate_per_s']:g}/s",
        f"flood control raised for the bench: --flood-max {FLOOD_MAX} --flood-window {FLOOD_WINDOW_S:g}",
        f"matched {res['matched']}/{res['inserted']}, duplicates {res['duplicates']}, "
        f"other notices {len(res['other_notices'])}, unmatched {res['unmatched'] or 'none'}",
        f"{'from':<32}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'min':>9}  (ms)",
    ]
    for key, label in (("from_commit_ms", "COMMIT returned (client)"), ("from_row_ms", "fecha_hora (server now())")):
        f = res[key]
        lines.append(f"{label:<32}" + "".join(f"{f[k]:>9.1f}" for k in ("p50", "p90", "p99", "max", "min")))
    verdicts = ["met" if res[k]["p99"] <= TARGET_P99_MS else "missed" for k in ("from_row_ms", "from_commit_ms")]
    lines.append(
        f"target p99 <= {TARGET_P99_MS:g} ms: {verdicts[0]} from fecha_hora (the upper bound),"
        f" {verdicts[1]} from COMMIT returned"
    )
    lines.append(
        f"cpus {m['cpus']}, load average 1/5/15 min before {' '.join(f'{x:.2f}' for x in m['loadavg_before'])}"
        f", after {' '.join(f'{x:.2f}' for x in m['loadavg_after'])}; all CPUs busy {m['cpu_busy_during']:.0%}"
        " during the run (/proc/stat)"
    )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.desk_latency", description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=100, help="member entries to measure (default 100)")
    p.add_argument("--rate", type=float, default=1.0, help="entries per second (default 1)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the result as JSON")
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy the agent's log and output and the bus monitor's text to DIR (to explain a slow entry)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the options; outside the desktop session, re-run inside ``build/desktop-session.sh``."""
    args = _parser().parse_args(argv)
    if not 1 <= args.count <= 9999 or args.rate <= 0:
        print("--count must be 1..9999 and --rate above 0", file=sys.stderr)
        return 2
    if os.environ.get(SESSION_MARK) != "1":
        missing = missing_tools()
        if missing:
            print(f"desk_latency: missing {', '.join(missing)} (build/dev.sh installs them as root)", file=sys.stderr)
            return 2
        env = dict(os.environ, **{SESSION_MARK: "1"}, PYTHONPATH=str(REPO))
        for var in ("AVISO_IN_DBUS_SESSION", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(var, None)  # always a private session of our own
        inner = ["--count", str(args.count), "--rate", repr(args.rate)]
        for flag in ("json", "keep"):  # the session runs in the repository folder: absolute paths
            if getattr(args, flag) is not None:
                inner += [f"--{flag}", str(getattr(args, flag).resolve())]
        cmd = [str(SESSION_SCRIPT), sys.executable, "-m", "bench.desk_latency", *inner]
        return subprocess.run(cmd, env=env, cwd=REPO, check=False).returncode
    with tempfile.TemporaryDirectory(prefix="aviso-desk-latency-") as tmp:
        try:
            res = measure(args.count, args.rate, Path(tmp))
        except (RuntimeError, psycopg2.Error, throwaway.ServerError) as exc:
            print(f"desk_latency: {exc}", file=sys.stderr)
            return 1
        finally:
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for name in ("log", "agent.out", "bus.txt"):
                    src = Path(tmp) / name
                    if src.is_dir():
                        shutil.copytree(src, args.keep / name, dirs_exist_ok=True)
                    elif src.exists():
                        shutil.copy2(src, args.keep / name)
    print(report(res))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0 if res["matched"] == res["inserted"] == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
