"""The engine slot: the one listener engine the desk talks to, and its swap on "reload settings".

Reload is a swap, not a second engine (issue 11 item 6): :meth:`EngineSlot.swap` stops the old engine and waits
for it at most :data:`JOIN_S` seconds; a hung one (e.g. stuck in a DNS lookup for the old host) is abandoned —
its ledger writes are disabled (``ListenerEngine.abandon()``, when the engine has it) and its late events are
ignored: every engine posts through a :class:`_TaggingQueue` that wraps each event as
:class:`agent.desk.loop.Tagged` with the engine's generation, and the desk drops events of any generation but
the current one. So the delivery cursor has one writer at a time.

Threads: ``swap`` runs on the reload thread (the composition's), ``ack``/``reconnect_now`` on the desk thread,
``generation`` is read by the desk thread. A lock guards the swap.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agent.core.events import Event
from agent.desk.loop import Tagged

log = logging.getLogger("agent.desk.engines")

JOIN_S = 2.0
"""How long a swap waits for the old engine to stop, seconds."""


class Engine(Protocol):
    """What the slot needs from :class:`agent.db.engine.ListenerEngine`."""

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 1.0) -> Any: ...

    def reconnect_now(self) -> None: ...

    def ack(self, entry_id: int) -> None: ...


EngineFactory = Callable[["queue.Queue[Event]"], Engine]
"""Builds an engine that posts its events to the given queue (the composition binds the settings)."""


class _TaggingQueue(queue.Queue):  # type: ignore[type-arg]
    """A queue whose ``put`` forwards ``Tagged(generation, event)`` to the desk's inbox. The engine only puts."""

    def __init__(self, target: queue.Queue[Any], generation: int) -> None:
        super().__init__()
        self._target = target
        self.generation = generation

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._target.put(Tagged(self.generation, item), block, timeout)


class EngineSlot:
    """See the module docstring. ``inbox`` is the desk's queue."""

    def __init__(self, inbox: queue.Queue[Any], make: EngineFactory) -> None:
        self._inbox = inbox
        self._lock = threading.Lock()
        self._generation = 1
        self.engine: Engine = make(_TaggingQueue(inbox, self._generation))
        self.abandoned: list[Engine] = []

    @property
    def generation(self) -> int:
        """The current engine's generation (1, 2, ... one more per swap)."""
        return self._generation

    def start(self) -> None:
        """Start the current engine."""
        self.engine.start()

    def ack(self, entry_ids: Sequence[int]) -> None:
        """Acknowledge entries to the current engine."""
        engine = self.engine
        for entry_id in entry_ids:
            engine.ack(entry_id)

    def reconnect_now(self) -> None:
        """Ask the current engine to reconnect at once."""
        self.engine.reconnect_now()

    def swap(self, make: EngineFactory, join_s: float = JOIN_S) -> bool:
        """Stop the old engine (bounded), then start a new one from ``make``. Returns True when the old one
        stopped in time, False when it was abandoned."""
        with self._lock:
            old = self.engine
            stopped = bool(old.stop(timeout_s=join_s))
            if not stopped:
                abandon = getattr(old, "abandon", None)
                if callable(abandon):
                    abandon()
                else:  # the engine helper's ListenerEngine.abandon() is not merged yet
                    log.warning("old engine has no abandon(): its late ledger writes are not disabled")
                self.abandoned.append(old)
                log.warning("old engine did not stop within %.1f s: abandoned, its events are ignored", join_s)
            self._generation += 1
            self.engine = make(_TaggingQueue(self._inbox, self._generation))
            self.engine.start()
            log.info("engine %s started", self._generation)
            return stopped

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the current engine at exit."""
        self.engine.stop(timeout_s=timeout_s)
