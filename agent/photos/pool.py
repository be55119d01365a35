"""A small pool of **daemon** threads for the photo source: ``submit(fn, *args)`` runs ``fn`` on one of them.

Why not :class:`concurrent.futures.ThreadPoolExecutor`: since Python 3.9 its worker threads are not daemon threads
and an ``atexit`` hook joins every one of them, so a worker stuck where :meth:`Photos.close` cannot reach it (a
``getaddrinfo`` without timeout, a read from a file share whose server went away, a slow ``done``) held the whole
process at exit: measured here, "Salir" took 20 s with a 20 s step in flight, and a restart in that time found the
single-instance lock still held. Daemon threads are dropped at exit; the work they did is a cache that is safe to
lose (writes are atomic renames).

Threads: ``submit`` and ``shutdown`` from any thread. The submitted callables carry their own exception barrier;
this pool logs anything that still escapes and keeps the thread alive.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class DaemonPool:
    """``workers`` daemon threads named ``<name>_<i>`` reading one FIFO queue."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``. Raises ``RuntimeError`` after :meth:`shutdown`."""
        with self._lock:
            if self._closed:
                raise RuntimeError("photo pool is shut down")
            self._queue.put((fn, args))

    def shutdown(self) -> None:
        """Drop what is queued and let the threads end after their current call. Returns at once; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            for _ in self._threads:
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # the callables have their own barrier; this one keeps the thread alive regardless
                log.exception("photo pool task failed")
