"""In-process single-instance twin for tests (``AVISO_SINGLE_INSTANCE=memory``): names held in this process only.

Two guards with the same name in one process exclude each other, like two processes with the real adapters.
Which thread: any (a lock guards the shared set).
"""

from __future__ import annotations

import threading

_held: set[str] = set()
_lock = threading.Lock()


class MemoryInstance:
    """:class:`agent.adapters.single_instance_api.SingleInstance` over a process-wide set of names."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._mine = False

    def acquire(self) -> bool:
        with _lock:
            if self._mine:
                return True
            if self.name in _held:
                return False
            _held.add(self.name)
            self._mine = True
            return True

    def release(self) -> None:
        with _lock:
            if self._mine:
                _held.discard(self.name)
                self._mine = False
