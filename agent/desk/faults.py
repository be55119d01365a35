"""Counting the failures the desk loop's exception barrier caught, for its visible error state. Pure.

Rule: :data:`FAULT_COUNT` failures within :data:`FAULT_WINDOW_S` seconds put the tray into the error state
(red icon, "Error interno repetido: vea el registro"); it clears after :data:`FAULT_CLEAR_S` seconds without
a failure. A single failure is only logged (with its traceback): one bad row must not turn the icon red.
"""

from __future__ import annotations

from collections import deque

FAULT_COUNT = 3
FAULT_WINDOW_S = 60.0
FAULT_CLEAR_S = 600.0


class FaultCounter:
    """Failure times (monotonic seconds). Owned by the desk thread."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=FAULT_COUNT)
        self._since: float | None = None
        self.total = 0

    def record(self, now: float) -> None:
        """One failure at ``now``."""
        self.total += 1
        self._times.append(now)
        if len(self._times) == FAULT_COUNT and now - self._times[0] <= FAULT_WINDOW_S:
            self._since = now

    def faulted(self, now: float) -> bool:
        """True while in the error state (set by :meth:`record`, cleared after a quiet :data:`FAULT_CLEAR_S`)."""
        if self._since is None:
            return False
        last = self._times[-1] if self._times else self._since
        if now - last >= FAULT_CLEAR_S:
            self._since = None
            return False
        return True
