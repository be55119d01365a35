"""The entry listeners' own thread: the page hook (and any other listener) gets every member entry without ever
stalling the desk.

A listener runs arbitrary code (the "today's entries" page pushes to its browsers): one that blocks or is slow
must not hold up the notices of the entries after it. So the desk thread only *puts* ``(entry, notice)`` into a
bounded queue (:meth:`ListenerPump.publish`, never blocks) and the **aviso-listeners** thread calls the
listeners in order, each inside this thread's exception barrier (logged with its traceback, counted in
:attr:`ListenerPump.failures`; it does not count towards the desk's error state: the notices still work). When
the queue is full (a listener stuck for :data:`QUEUE_MAX` entries) new entries are dropped for the listeners
only — the desk shows them as usual; the page re-reads today's entries from the table — and logged once per
:data:`DROP_LOG_EVERY` drops.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from agent.core.model import Entry
from agent.core.notify_text import Notice

log = logging.getLogger("agent.desk.listeners")

EntryListener = Callable[[Entry, Notice | None], None]
QUEUE_MAX = 1000
DROP_LOG_EVERY = 100


class ListenerPump:
    """See the module docstring. :meth:`publish` is for the desk thread; :meth:`drain` and :meth:`stop` for any
    thread. The thread starts on the first entry (a daemon: a listener stuck at exit does not keep the process)."""

    def __init__(self, listeners: Sequence[EntryListener], maxsize: int = QUEUE_MAX) -> None:
        self.listeners = tuple(listeners)
        self._queue: queue.Queue[tuple[Entry, Notice | None] | None] = queue.Queue(maxsize=max(1, maxsize))
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.dropped = 0

    def publish(self, entry: Entry, notice: Notice | None) -> bool:
        """Hand ``(entry, notice)`` to the listeners; returns at once. False when dropped (queue full)."""
        if not self.listeners:
            return True
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aviso-listeners", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((entry, notice))
        except queue.Full:
            self.dropped += 1
            if self.dropped % DROP_LOG_EVERY == 1:
                log.warning("entry listeners are stuck: %s entries not passed on to them", self.dropped)
            return False
        return True

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every published entry went through the listeners; False on timeout (tests, exit)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, name="aviso-listeners-drain", daemon=True).start()
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 1.0) -> None:
        """Let the thread end after what is queued (bounded wait; a stuck listener is left behind)."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            log.warning("entry listeners still stuck at exit")
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                for listener in self.listeners:
                    try:
                        listener(*item)
                    except Exception:  # this thread's barrier: one listener must not stop the others
                        self.failures += 1
                        log.exception("entry listener %s failed", getattr(listener, "__qualname__", listener))
            finally:
                self._queue.task_done()
