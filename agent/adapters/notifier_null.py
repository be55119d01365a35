"""Notifiers that show nothing: :class:`NullNotifier` (``AVISO_NOTIFIER=null``) and :class:`RecordingNotifier`,
the fake twin that tests read. Thin adapters."""

from __future__ import annotations

import threading

from agent.core.notify_text import Notice


class NullNotifier:
    """Drops every notice (the log still records each entry)."""

    name = "null"

    def show(self, notice: Notice) -> bool:
        """Do nothing; True (the null notifier accepts everything: tests and ``AVISO_NOTIFIER=null``)."""
        return True

    def close(self) -> None:
        """Nothing to release."""


class RecordingNotifier:
    """Keeps every notice in :attr:`notices`, in order. Thread-safe; :meth:`wait_for` blocks until ``count``
    notices were shown or ``timeout_s`` seconds passed."""

    name = "recording"

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.closed = False
        self._cond = threading.Condition()

    def show(self, notice: Notice) -> bool:
        """Record ``notice``; True."""
        with self._cond:
            self.notices.append(notice)
            self._cond.notify_all()
        return True

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Notice]:
        """A copy of the notices once there are at least ``count`` (or when the time is up)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.notices) >= count, timeout=timeout_s)
            return list(self.notices)

    def close(self) -> None:
        """Mark closed (tests check the app closes its notifier)."""
        self.closed = True
