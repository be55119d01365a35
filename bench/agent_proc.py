"""One listening agent process for the benchmarks, driven by :mod:`bench.run` over stdin/stdout (JSON lines).

Each agent runs in its own process, like an agent on a front-desk PC, so the inserting "turnstile" (the bench
process) and the listener never share a GIL, and ``/proc/<pid>`` figures (CPU, context switches, memory) are the
agent's alone. Times are ``time.monotonic()`` (``CLOCK_MONOTONIC``, one clock for every process on the machine),
so the bench compares its COMMIT timestamps with the agent's hand-over timestamps directly.

Modes (first stdin line: a JSON object, see :func:`main`):

* ``raw`` — the limit: a bare psycopg2 ``select()``/``poll()`` loop (psycopg2 docs, "Asynchronous
  notifications"); the hand-over is the moment the Notify object is taken from ``conn.notifies``.
* ``engine`` — our :class:`agent.db.engine.ListenerEngine` with everything on (LISTEN-then-catch-up, dedupe
  ledger persisted to a cursor file, batched re-read, sweeps) feeding a consumer thread that runs the tray's
  :class:`agent.core.flood.NoticeGate` with the app's defaults and records what a notifier would have been given.
  The hand-over time is ``EntryReceived.received_monotonic``; ``t_gate`` is when the gate has decided. The
  engine logs at INFO to a rotating file, as the app does.
* ``poll`` — the seed's old way: ``SELECT ... WHERE id_entrada > last`` every ``poll_s`` seconds.

``engines`` > 1 runs that many independent listeners in the process (fan-out).

Protocol: the agent prints ``{"event": "ready", "pid": ..}`` once every listener listens; then answers each
command line: ``{"cmd": "wait", "count": N, "timeout": S, "settle": bool}`` (every listener has N records and,
with ``settle``, nothing held by flood control), ``{"cmd": "reconnect"}`` (``reconnect_now()`` on every engine),
``{"cmd": "report"}`` (records, notifications, states, engine stats), ``{"cmd": "stop"}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import queue
import select
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

from agent.core import names
from agent.core.config import NotificationSettings
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.core.flood import NoticeGate, Show, Summarize
from agent.core.model import Source
from agent.db.engine import EngineConfig, ListenerEngine


def _payload_id(payload: str) -> int:
    """The entry id of our trigger's JSON payload, or of a bare trigger's ``pg_notify(channel, id)``."""
    value = json.loads(payload)
    return int(value["id_entrada"] if isinstance(value, dict) else value)


class Listener:
    """Common state: records ``[entry_id, t_handover, t_gate]``, notifications ``[kind, count, t]``."""

    def __init__(self, cond: threading.Condition) -> None:
        self.cond = cond
        self.records: list[tuple[Any, ...]] = []
        """Tuples (not lists): the garbage collector untracks tuples of atoms, so a long run adds no GC work."""
        self.notifications: list[list[Any]] = []
        self.states: list[list[Any]] = []
        self.ready = threading.Event()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def reconnect(self) -> None:
        """Only the engine reconnects on request."""

    def settled(self) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        return {}


class RawListener(Listener):
    """The bare psycopg2 loop: select() on the socket, poll(), take the notifies. Payload parsed at report time."""

    def __init__(self, cond: threading.Condition, dsn: str, password: str, channel: str) -> None:
        super().__init__(cond)
        self.conn = psycopg2.connect(dsn, password=password, application_name="bench raw")
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        self.channel = channel
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._raw: list[tuple[str, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f'LISTEN "{self.channel}"')
        self._thread.start()
        self.ready.set()

    def _run(self) -> None:
        conn = self.conn
        fds: list[Any] = [conn, self._wake_r]
        while not self._stop:
            r, _, _ = select.select(fds, [], [])
            if conn not in r:
                continue
            conn.poll()
            while conn.notifies:
                n = conn.notifies.pop(0)
                t = time.monotonic()
                with self.cond:
                    self._raw.append((n.payload, t))
                    self.cond.notify_all()

    @property
    def count(self) -> int:
        return len(self._raw)

    def stop(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(2)
        self.conn.close()

    def finish(self) -> None:
        self.records = [(_payload_id(p), t, t) for p, t in self._raw]


class PollListener(Listener):
    """The seed's polling: every ``poll_s`` seconds, the member entries after the last id seen."""

    def __init__(self, cond: threading.Condition, dsn: str, password: str, poll_s: float) -> None:
        super().__init__(cond)
        self.conn = psycopg2.connect(dsn, password=password, application_name="bench poll")
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.queries = 0
        self._last = 0

    def start(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT coalesce(max(id_entrada), 0) FROM {names.ENTRIES_TABLE}")
            row = cur.fetchone()
            assert row is not None
            self._last = int(row[0])
        self._thread.start()
        self.ready.set()

    def _run(self) -> None:
        sql = (
            "SELECT e.id_entrada, e.id_miembro, e.fecha_hora, e.resultado, m.nombre, m.apellido, m.plan,"
            " m.fecha_vencimiento, m.saldo_pendiente"
            f" FROM {names.ENTRIES_TABLE} AS e LEFT JOIN {names.MEMBERS_TABLE} AS m ON m.id_miembro = e.id_miembro"
            " WHERE e.id_entrada > %s AND e.tipo_acceso = %s ORDER BY e.id_entrada"
        )
        while not self._stop.wait(self.poll_s):
            with self.conn.cursor() as cur:
                cur.execute(sql, (self._last, names.MEMBER_ACCESS))
                rows = cur.fetchall()
            self.queries += 1
            t = time.monotonic()
            with self.cond:
                for row in rows:
                    self.records.append((int(row[0]), t, t))
                    self._last = max(self._last, int(row[0]))
                self.cond.notify_all()

    @property
    def count(self) -> int:
        return len(self.records)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()

    def stats(self) -> dict[str, Any]:
        return {"queries": self.queries}


class EngineListener(Listener):
    """Our engine plus a consumer thread playing the tray: flood control, then a recording notifier."""

    def __init__(self, cond: threading.Condition, config: EngineConfig) -> None:
        super().__init__(cond)
        self.queue: queue.Queue[Event] = queue.Queue()
        self.engine = ListenerEngine(config, self.queue)
        ns = NotificationSettings()
        self.gate: NoticeGate[int] = NoticeGate(ns.flood_max_count, ns.flood_window_s)
        self._stopping = False
        self._thread = threading.Thread(target=self._consume, name="bench-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.engine.start()

    @property
    def count(self) -> int:
        return len(self.records)

    def _consume(self) -> None:
        while True:
            deadline = self.gate.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ev: Event | None = self.queue.get(timeout=timeout)
            except queue.Empty:
                ev = None
            now = time.monotonic()
            with self.cond:
                outs = []
                if isinstance(ev, EntryReceived):
                    outs = self.gate.submit(ev.entry.entry_id, now, catchup=ev.source is Source.CATCHUP)
                    self.records.append((ev.entry.entry_id, ev.received_monotonic, time.monotonic(), ev.source.value))
                elif isinstance(ev, BacklogSummary):
                    if not self.gate.submit_backlog(ev.count, now):
                        self.notifications.append(["backlog", ev.count, now])
                elif isinstance(ev, StateChanged):
                    self.states.append([ev.state.value, now])
                    if ev.state is ConnState.LISTENING:
                        self.ready.set()
                    if ev.state is ConnState.STOPPED and self._stopping:
                        self.cond.notify_all()
                        return
                outs += self.gate.tick(time.monotonic())
                t = time.monotonic()
                for out in outs:
                    if isinstance(out, Show):
                        self.notifications.append(["show", 1, t])
                    elif isinstance(out, Summarize):
                        self.notifications.append([f"summary:{out.reason.value}", out.count, t])
                self.cond.notify_all()

    def settled(self) -> bool:
        return self.gate.next_deadline() is None and self.queue.empty()

    def reconnect(self) -> None:
        self.engine.reconnect_now()

    def stop(self) -> None:
        self._stopping = True
        self.engine.stop(timeout_s=3)
        self._thread.join(3)

    def stats(self) -> dict[str, Any]:
        return dict(self.engine.stats)


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    """Read the configuration line, start the listeners, answer commands until ``stop`` or EOF.

    Configuration keys: ``mode`` (raw/engine/poll), ``dsn`` (no password), ``password``, ``channel``,
    ``engines`` (default 1), ``poll_s`` (default 2.0), ``workdir`` (cursor files and the log),
    ``engine`` (EngineConfig overrides, e.g. ``{"heartbeat_s": 15}``).
    """
    cfg = json.loads(sys.stdin.readline())
    mode = cfg["mode"]
    count = int(cfg.get("engines", 1))
    workdir = Path(cfg.get("workdir", "."))
    cond = threading.Condition()
    listeners: list[Any] = []
    if mode == "engine":
        handler = logging.handlers.RotatingFileHandler(
            workdir / "agent.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        for i in range(count):
            base = EngineConfig(
                dsn=cfg["dsn"],
                password=cfg["password"],
                channel=cfg.get("channel", names.DEFAULT_CHANNEL),
                cursor_path=workdir / f"cursor-{i}.json",
                application_name=f"bench engine {i}",
            )
            listeners.append(EngineListener(cond, replace(base, **cfg.get("engine", {}))))
    elif mode == "raw":
        listeners = [
            RawListener(cond, cfg["dsn"], cfg["password"], cfg.get("channel", names.DEFAULT_CHANNEL))
            for _ in range(count)
        ]
    elif mode == "poll":
        listeners = [PollListener(cond, cfg["dsn"], cfg["password"], float(cfg.get("poll_s", 2.0)))]
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    for lst in listeners:
        lst.start()
    for lst in listeners:
        if not lst.ready.wait(120):
            _reply({"event": "error", "error": "a listener did not start listening within 120 s"})
            return 1
    import os

    _reply({"event": "ready", "pid": os.getpid(), "t": time.monotonic()})
    for line in sys.stdin:
        cmd = json.loads(line)
        name = cmd["cmd"]
        if name == "wait":
            want, settle = int(cmd["count"]), bool(cmd.get("settle"))
            deadline = time.monotonic() + float(cmd["timeout"])
            ok = True
            with cond:
                while not all(lst.count >= want and (not settle or lst.settled()) for lst in listeners):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        ok = False
                        break
                    cond.wait(min(left, 0.05) if settle else left)
            _reply({"event": "waited", "ok": ok, "t": time.monotonic(), "counts": [lst.count for lst in listeners]})
        elif name == "reconnect":
            t = time.monotonic()
            for lst in listeners:
                lst.reconnect()
            _reply({"event": "reconnecting", "t": t})
        elif name == "report":
            for lst in listeners:
                if isinstance(lst, RawListener):
                    lst.finish()
            with cond:
                _reply(
                    {
                        "event": "report",
                        "listeners": [
                            {
                                "records": lst.records,
                                "notifications": lst.notifications,
                                "states": lst.states,
                                "stats": lst.stats(),
                            }
                            for lst in listeners
                        ],
                    }
                )
        elif name == "stop":
            break
    for lst in listeners:
        with contextlib.suppress(Exception):
            lst.stop()
    _reply({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
