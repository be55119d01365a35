"""Test doubles that the product never selects: recorders that tests read back. The product's own twins (the
null notifier, the memory credential store, autostart and single-instance guard) stay in ``agent/adapters``
because an environment override can pick them; these cannot."""

from __future__ import annotations

import threading

from agent.core.notify_text import Notice


class RecordingNotifier:
    """Keeps every notice in :attr:`notices`, in order. Thread-safe; :meth:`wait_for` blocks until ``count``
    notices were shown or ``timeout_s`` seconds passed. ``accept`` is what :meth:`show` returns (False plays a
    notifier whose display path refused the notice)."""

    name = "recording"

    def __init__(self, accept: bool = True) -> None:
        self.notices: list[Notice] = []
        self.closed = False
        self.accept = accept
        self._cond = threading.Condition()

    def show(self, notice: Notice) -> bool:
        """Record ``notice``; return :attr:`accept`."""
        with self._cond:
            self.notices.append(notice)
            self._cond.notify_all()
        return self.accept

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Notice]:
        """A copy of the notices once there are at least ``count`` (or when the time is up)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.notices) >= count, timeout=timeout_s)
            return list(self.notices)

    def close(self) -> None:
        """Mark closed (tests check the app closes its notifier)."""
        self.closed = True


class FakeTray:
    """The part of :class:`agent.core.tray_model.TrayView` the balloon notifier uses: ``balloon(title, body)``
    records the call and returns :attr:`has_balloon` (a backend without balloons returns False), or raises
    :attr:`fail` when set (a tray call that failed)."""

    name = "fake"
    has_menu = True

    def __init__(self, has_balloon: bool = True) -> None:
        self.has_balloon = has_balloon
        self.fail: Exception | None = None
        self.balloons: list[tuple[str, str]] = []

    def balloon(self, title: str, body: str) -> bool:
        if self.fail is not None:
            raise self.fail
        self.balloons.append((title, body))
        return self.has_balloon
