"""The display path's health: which notifiers to try for a notice, what to acknowledge, when the path is degraded,
when to retry the primary notifier, and the one summary of what was missed. Pure: ``now`` is passed in.

Rules (issue 11 item 1):

* Notifiers are an ordered list, primary first (e.g. D-Bus → tray balloon → console). A notice is offered to each
  in turn until one accepts it (``Notifier.show`` returned True).
* The entries a notice stands for are acknowledged once *some* notifier accepted it; when none did they are not
  acknowledged (the engine replays them at the next start) and wait here for the summary.
* When the primary fails, the path is **degraded** (icon not green; tooltip "avisos no se muestran: …"). Until
  its retry time (:class:`agent.core.backoff.Backoff`: 2 s, doubling, capped at 60 s) the primary is skipped and
  notices go straight to the fallbacks; each of them is remembered as *missed* (a fallback such as the console or
  a balloon is easy to miss at a desk).
* At the retry time a **probe** is sent to the primary only: the one summary of the missed notices ("N avisos no
  mostrados mientras fallaban las notificaciones"). When the primary accepts it (or any later notice), the path is
  healthy again and the entries the summary stood for are acknowledged with it. A failed probe doubles the
  delay. Without missed notices the next notice itself is the probe. A probe retires exactly the missed notices it
  summarised: what was missed after it was built (the timers build it before the notices of the same tick are
  shown) gets a summary of its own at once, and two probes in flight never acknowledge an entry twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.core.backoff import Backoff
from agent.core.notify_text import Notice
from agent.desk.messages import Ack, Effect, ShowNotice

RETRY_BASE_S = 2.0
RETRY_CAP_S = 60.0


@dataclass
class _Missed:
    notices: list[Notice] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    """Entry ids no notifier accepted: acknowledged with the summary."""


class DisplayHealth:
    """See the module docstring. ``names`` are the notifiers' names, primary first; ``summarize(notices)`` builds
    the missed summary. Owned by the desk thread."""

    def __init__(
        self,
        names: Sequence[str],
        summarize: Callable[[Sequence[Notice]], Notice],
        backoff: Backoff | None = None,
    ) -> None:
        if not names:
            raise ValueError("at least one notifier is needed")
        self.names = tuple(names)
        self._summarize = summarize
        self._backoff = backoff or Backoff(base_s=RETRY_BASE_S, cap_s=RETRY_CAP_S, jitter=0.2, rng=random.Random(0))  # noqa: S311 (jitter, not secrets)
        self.degraded = False
        self.retry_at = 0.0
        self.failed_name = ""
        self._missed = _Missed()
        self._retired = 0
        """Missed notices already retired by accepted probes, counted from the first one ever missed."""

    # -- queries ------------------------------------------------------------------------------------------------
    def order(self, show: ShowNotice, now: float) -> list[int]:
        """Indexes of the notifiers to try for ``show``, in order."""
        if show.probe:
            return [0]
        if self.degraded and now < self.retry_at:
            return list(range(1, len(self.names)))
        return list(range(len(self.names)))

    @property
    def missed_count(self) -> int:
        """Notices missed since the path degraded."""
        return len(self._missed.notices)

    @property
    def pending_ids(self) -> tuple[int, ...]:
        """Entries no notifier accepted, waiting for the summary (never acknowledged until it is shown)."""
        return tuple(self._missed.pending)

    def next_deadline(self) -> float | None:
        """When :meth:`due` will have a probe, or None."""
        return self.retry_at if self.degraded and self._missed.notices else None

    # -- transitions --------------------------------------------------------------------------------------------
    def due(self, now: float) -> ShowNotice | None:
        """The probe (missed summary to the primary only) when the retry time has come, else None. Each probe
        moves the retry time on (a failed probe then waits longer)."""
        if not (self.degraded and self._missed.notices and now >= self.retry_at):
            return None
        self.retry_at = self._backoff.retry_at(now)
        notices = tuple(self._missed.notices)
        covers = self._retired + len(notices)
        return ShowNotice(self._summarize(notices), self.pending_ids, probe=True, covers=covers)

    def outcome(self, show: ShowNotice, tried: Sequence[int], accepted: int | None, now: float) -> list[Effect]:
        """Record what happened to ``show`` (``tried`` notifier indexes in order, ``accepted`` the index that took
        it or None); returns the acknowledgements and, on recovery, the missed summary's probe."""
        out: list[Effect] = []
        if show.probe:
            if accepted == 0:
                return self._retire(show, now)
            self._fail(now, reset_retry=False)
            return []
        if 0 in tried:
            if accepted == 0:
                if self.degraded and self._missed.notices:
                    self.retry_at = now  # the summary goes out at once
                    probe = self.due(now)
                    if probe is not None:
                        out.append(probe)
                else:
                    self._recover()
            else:
                self._fail(now, reset_retry=True)
        if accepted is not None and show.entry_ids:
            out.insert(0, Ack(show.entry_ids))
        if (accepted != 0 and self.degraded) or accepted is None:  # (not degraded: there is no primary to fail)
            self._missed.notices.extend(show.items or (show.notice,))  # a summary: the entries it stood for
            if accepted is None:
                self._missed.pending.extend(show.entry_ids)
        return out

    def _retire(self, probe: ShowNotice, now: float) -> list[Effect]:
        """The primary accepted ``probe``: acknowledge the entries it stood for that are still pending, drop the
        notices it covered; a summary of whatever was missed after it was built follows at once."""
        pending = set(self._missed.pending)
        ids = tuple(i for i in dict.fromkeys(probe.entry_ids) if i in pending)
        out: list[Effect] = [Ack(ids)] if ids else []
        drop = max(0, probe.covers - self._retired)
        if drop:
            del self._missed.notices[:drop]
            self._retired += drop
        self._missed.pending = [i for i in self._missed.pending if i not in set(ids)]
        if not self._missed.notices:
            self._recover()
            return out
        self.retry_at = now
        follow = self.due(now)
        return out + ([follow] if follow is not None else [])

    def _fail(self, now: float, *, reset_retry: bool) -> None:
        if not self.degraded:
            self.degraded = True
            self.failed_name = self.names[0]
        if reset_retry:
            self.retry_at = self._backoff.retry_at(now)

    def _recover(self) -> None:
        self.degraded = False
        self.failed_name = ""
        self._backoff.reset()
        self._retired += len(self._missed.notices)
        self._missed = _Missed()
