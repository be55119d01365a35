"""Helpers for tests that run a real :class:`agent.db.engine.ListenerEngine` against a real server."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.db.engine import EngineConfig, ListenerEngine

FAST = {
    "heartbeat_s": 1.0,
    "query_timeout_s": 1.0,
    "connect_timeout_s": 2.0,
    "backoff_base_s": 0.05,
    "backoff_cap_s": 0.5,
    "persist_interval_s": 0.0,
}


class Running:
    """An engine plus a thread that drains its events into lists (the 'UI side' of the tests)."""

    def __init__(self, dsn: str, password: str | None, *, cursor_path: Path | None = None, **overrides: object) -> None:
        cfg = EngineConfig(dsn=dsn, password=password, cursor_path=cursor_path)
        self.config = replace(cfg, **{**FAST, **overrides})  # type: ignore[arg-type]
        self.queue: queue.Queue[Event] = queue.Queue()
        self.engine = ListenerEngine(self.config, self.queue)
        self.entries: list[EntryReceived] = []
        self.states: list[StateChanged] = []
        self.summaries: list[BacklogSummary] = []
        self._cond = threading.Condition()
        self._drainer = threading.Thread(target=self._drain, daemon=True)

    def __enter__(self) -> Running:
        self.engine.start()
        self._drainer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.stop(timeout_s=2)

    def _drain(self) -> None:
        while True:
            ev = self.queue.get()
            with self._cond:
                if isinstance(ev, EntryReceived):
                    self.entries.append(ev)
                elif isinstance(ev, StateChanged):
                    self.states.append(ev)
                else:
                    self.summaries.append(ev)
                self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_listening(self, timeout: float = 10.0, after: int = 0) -> bool:
        return self.wait(lambda: any(s.state is ConnState.LISTENING for s in self.states[after:]), timeout)

    def ids(self) -> list[int]:
        with self._cond:
            return [e.entry.entry_id for e in self.entries]

    def wait_ids(self, expected: set[int], timeout: float = 15.0) -> bool:
        return self.wait(lambda: expected <= {e.entry.entry_id for e in self.entries}, timeout)


def assert_exactly_once(delivered: list[int], inserted: set[int]) -> None:
    """Every inserted id delivered, none twice, nothing else."""
    dupes = [i for i, n in collections.Counter(delivered).items() if n > 1]
    assert not dupes, f"delivered twice: {dupes[:20]}"
    missing = inserted - set(delivered)
    assert not missing, f"never delivered: {sorted(missing)[:20]} ({len(missing)} of {len(inserted)})"
    extra = set(delivered) - inserted
    assert not extra, f"delivered but not inserted as member entries: {sorted(extra)[:20]}"
