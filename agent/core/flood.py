"""Which notices reach the screen, and when: flood control, pause/resume and catch-up batching. Pure, no I/O.

Every method takes ``now``, a monotonic clock reading in seconds (``time.monotonic()`` in the app), so the rules
are unit-tested without sleeping. Not thread-safe: the tray's controller thread is the only caller.

Rules (:class:`NoticeGate`):

* **Flood control** — at most ``max_count`` entry notices in any ``window_s``-second sliding window (defaults in
  :class:`agent.core.config.NotificationSettings`: 4 per 30 s; docs/it-deployment.md justifies them). Entries
  beyond the limit are *held*; once held, later entries are held too (order is kept), and all held entries are
  released as **one summary** when the burst settles (no new held entry for ``settle_s`` seconds) or, during a
  sustained stream, ``window_s`` seconds after the first held one. So a burst of N > K entries shows K notices
  and one summary of N - K; a sustained stream shows at most K + 1 notices per window. A summary that stands
  for exactly one entry is shown as that entry's own notice (:attr:`Summarize.single`): "1 more entry" would
  hide its name and status (e.g. a denied passage) for nothing.
* **Urgent items** (``urgent=True``: the desk passes its warnings — denied, expired, debt, repeat entry) are not
  held behind a burst of normal ones: they have **their own** budget of ``max_count`` per ``window_s`` and are
  shown at once while it lasts (a denied member in a rush used to wait up to ``window_s`` for the summary, long
  after walking past the desk); beyond it they are held like the rest. So a sustained stream shows at most
  ``2 * max_count + 1`` notices per window, ``max_count`` of them warnings.
* **Pause** — for a duration or until resumed: nothing is shown, everything is kept; resuming (by hand or when the
  duration ends) yields **one summary** of what came in, even when nothing did. The pause is a property of the
  tray, not of the connection: reconnects do not touch it.
* **Catch-up** — entries the engine replays from the table after a (re)connect or restart arrive as
  ``Source.CATCHUP``; they are batched and released as one summary when the replay settles (``catchup_settle_s``
  without another one), when a live entry arrives, or at once by :meth:`NoticeGate.flush_catchup`. A replay of a
  single entry is shown as a normal notice (it goes through flood control like a live one).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class FloodControl(Generic[T]):
    """At most ``max_count`` items shown per sliding ``window_s`` seconds; the rest held for one summary.

    Raises ``ValueError`` for ``max_count < 1`` or non-positive windows.
    """

    def __init__(self, max_count: int = 5, window_s: float = 30.0, settle_s: float = 3.0) -> None:
        if max_count < 1 or window_s <= 0 or settle_s <= 0:
            raise ValueError("flood control needs max_count >= 1, window_s > 0 and settle_s > 0")
        self.max_count = max_count
        self.window_s = window_s
        self.settle_s = settle_s
        self._shown: deque[float] = deque()
        self._urgent_shown: deque[float] = deque()
        self._held: list[T] = []
        self._held_first = 0.0
        self._held_last = 0.0

    def _purge(self, now: float) -> None:
        for shown in (self._shown, self._urgent_shown):
            while shown and shown[0] <= now - self.window_s:
                shown.popleft()

    def offer(self, item: T, now: float, urgent: bool = False) -> bool:
        """True: show ``item`` now (it is counted). False: it is held for the next summary. ``urgent`` items use
        their own budget first (module docstring)."""
        self._purge(now)
        if urgent and len(self._urgent_shown) < self.max_count:
            self._urgent_shown.append(now)
            return True
        if not self._held and len(self._shown) < self.max_count:
            self._shown.append(now)
            return True
        if not self._held:
            self._held_first = now
        self._held.append(item)
        self._held_last = now
        return False

    def due(self, now: float) -> list[T] | None:
        """The held items when their summary is due (then they are forgotten), else None."""
        if not self._held:
            return None
        if now - self._held_last >= self.settle_s or now - self._held_first >= self.window_s:
            return self.take_held()
        return None

    def take_held(self) -> list[T]:
        """All held items, oldest first, now; nothing is held afterwards."""
        held, self._held = self._held, []
        return held

    def next_deadline(self) -> float | None:
        """The ``now`` at which :meth:`due` will next return items, or None when nothing is held."""
        if not self._held:
            return None
        return min(self._held_last + self.settle_s, self._held_first + self.window_s)

    @property
    def held_count(self) -> int:
        """How many items are waiting for a summary."""
        return len(self._held)


class SummaryReason(StrEnum):
    """Why several items became one summary (titles in :func:`agent.core.notify_summary.summary_notice`)."""

    FLOOD = "flood"
    PAUSE = "pause"
    CATCHUP = "catchup"
    MISSED = "missed"
    """Not from the gate: notices the display path could not show while it was degraded (the desk's summary
    when the primary notifier works again)."""


@dataclass(frozen=True)
class Show(Generic[T]):
    """Show this one item now."""

    item: T


@dataclass(frozen=True)
class Summarize(Generic[T]):
    """Show one summary of ``items`` (oldest first) plus ``extra`` entries known only by count (backlog)."""

    reason: SummaryReason
    items: tuple[T, ...]
    extra: int = 0

    @property
    def count(self) -> int:
        """Entries the summary stands for."""
        return len(self.items) + self.extra

    @property
    def single(self) -> T | None:
        """The one item of a flood summary that stands for exactly one entry (show it as that entry's normal
        notice instead of "1 more entry"), else None. Pause summaries always stay summaries (resuming says so,
        even for one or none); a single catch-up item never becomes a summary (:meth:`NoticeGate.flush_catchup`)."""
        if self.reason is SummaryReason.FLOOD and len(self.items) == 1 and not self.extra:
            return self.items[0]
        return None


Output = Show[T] | Summarize[T]


@dataclass
class _Pause(Generic[T]):
    until: float  # math.inf: until resumed
    items: list[T] = field(default_factory=list)
    extra: int = 0


class NoticeGate(Generic[T]):
    """Flood control + pause + catch-up batching (rules in the module docstring)."""

    def __init__(
        self, max_count: int = 5, window_s: float = 30.0, settle_s: float = 3.0, catchup_settle_s: float = 1.0
    ) -> None:
        self.flood: FloodControl[T] = FloodControl(max_count, window_s, settle_s)
        self.catchup_settle_s = catchup_settle_s
        self._catchup: list[T] = []
        self._catchup_last = 0.0
        self._pause: _Pause[T] | None = None

    # -- input -----------------------------------------------------------------------------------------------
    def submit(self, item: T, now: float, *, catchup: bool = False, urgent: bool = False) -> list[Output[T]]:
        """Offer one entry's item (live, or replayed when ``catchup``; ``urgent``: a warning, see
        :class:`FloodControl`); returns what to show now, in order."""
        out = self._expire_pause(now)
        if self._pause is not None:
            self._pause.items.append(item)
            return out
        if catchup:
            self._catchup.append(item)
            self._catchup_last = now
            return out
        out += self.flush_catchup(now)
        if self.flood.offer(item, now, urgent):
            out.append(Show(item))
        return out

    def submit_backlog(self, count: int, now: float) -> bool:
        """Entries known only by count (the engine's backlog summary). While paused they are added to the pause
        summary and True is returned; otherwise False (the caller shows its own backlog notice)."""
        self._expire_pause(now)
        if self._pause is None:
            return False
        self._pause.extra += count
        return True

    def tick(self, now: float) -> list[Output[T]]:
        """Summaries that became due by ``now`` (timed pause ended, catch-up or burst settled). Call often (the
        app calls it at least every 250 ms, and at :meth:`next_deadline`)."""
        out = self._expire_pause(now)
        if self._pause is not None:
            return out
        if self._catchup and now - self._catchup_last >= self.catchup_settle_s:
            out += self.flush_catchup(now)
        held = self.flood.due(now)
        if held:
            out.append(Summarize(SummaryReason.FLOOD, tuple(held)))
        return out

    def flush_catchup(self, now: float) -> list[Output[T]]:
        """Release batched catch-up items now: one summary, or the item itself when there is only one."""
        items, self._catchup = self._catchup, []
        if not items:
            return []
        if len(items) == 1:
            return [Show(items[0])] if self.flood.offer(items[0], now) else []
        return [Summarize(SummaryReason.CATCHUP, tuple(items))]

    # -- pause -----------------------------------------------------------------------------------------------
    def pause(self, now: float, duration_s: float | None = None) -> None:
        """Pause for ``duration_s`` seconds, or until :meth:`resume` when None. Pausing again while paused sets a
        new end and keeps what was collected. Held flood and catch-up items move into the pause."""
        until = math.inf if duration_s is None else now + duration_s
        if self._pause is None:
            self._pause = _Pause(until)
            self._pause.items.extend(self._catchup)
            self._pause.items.extend(self.flood.take_held())
            self._catchup = []
        else:
            self._pause.until = until

    def resume(self, now: float) -> list[Output[T]]:
        """End the pause: one summary of everything that came in (possibly of nothing). [] when not paused."""
        if self._pause is None:
            return []
        pause, self._pause = self._pause, None
        return [Summarize(SummaryReason.PAUSE, tuple(pause.items), pause.extra)]

    def _expire_pause(self, now: float) -> list[Output[T]]:
        if self._pause is not None and now >= self._pause.until:
            return self.resume(now)
        return []

    def paused(self, now: float) -> bool:
        """True while a pause is in force at ``now``."""
        return self._pause is not None and now < self._pause.until

    @property
    def paused_until(self) -> float | None:
        """Monotonic end of the pause, ``math.inf`` for "until resumed", None when not paused."""
        return self._pause.until if self._pause is not None else None

    def next_deadline(self) -> float | None:
        """The earliest ``now`` at which :meth:`tick` may have something to do, or None."""
        candidates = []
        if self._pause is not None:
            if self._pause.until != math.inf:
                candidates.append(self._pause.until)
        else:
            if self._catchup:
                candidates.append(self._catchup_last + self.catchup_settle_s)
            flood = self.flood.next_deadline()
            if flood is not None:
                candidates.append(flood)
        return min(candidates) if candidates else None
