"""Which entries the desk already has: the same entry delivered twice is shown once. Pure, no clock.

An engine hands over an entry again when the desk had not acknowledged it to that engine: after "reload
settings" the old engine saves its ledger *without* the entries still held by the desk (paused, batched by flood
control, waiting for a photo or for a notifier), and the new engine replays them from the table (docs/engine.md
"Delivery"); an abandoned engine's acknowledgements are lost the same way. Without this record the desk would
count, list, publish and pop up such an entry a second time.

Rules (:meth:`SeenEntries.arrived`): an entry the desk holds (received, not yet acknowledged) is ignored when it
comes again — it is acknowledged once, when it is shown; an entry already acknowledged is acknowledged again at
once (the new engine is waiting for it) and not shown. The acknowledged ids are remembered up to
:data:`DONE_MAX` (oldest forgotten first: a day at a busy gym is ~3,000 entries), and forgotten when the
engine connects to another server (ids are per database).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from enum import Enum

from agent.desk.messages import Ack, Effect

DONE_MAX = 20_000


class Arrival(Enum):
    """What an entry's arrival means for the desk."""

    NEW = "new"
    HELD = "held"
    """The desk holds it (not yet acknowledged): ignore the copy."""
    DONE = "done"
    """Already acknowledged: acknowledge again, show nothing."""


class SeenEntries:
    """See the module docstring. Owned by the desk thread."""

    def __init__(self, done_max: int = DONE_MAX) -> None:
        self._held: set[int] = set()
        self._done: OrderedDict[int, None] = OrderedDict()
        self._done_max = max(1, done_max)

    def arrived(self, entry_id: int) -> Arrival:
        """Classify ``entry_id`` and, when new, remember it as held."""
        if entry_id in self._held:
            return Arrival.HELD
        if entry_id in self._done:
            return Arrival.DONE
        self._held.add(entry_id)
        return Arrival.NEW

    def acked(self, entry_ids: Iterable[int]) -> None:
        """These entries were acknowledged."""
        for entry_id in entry_ids:
            self._held.discard(entry_id)
            self._done[entry_id] = None
            self._done.move_to_end(entry_id)
        while len(self._done) > self._done_max:
            self._done.popitem(last=False)

    def track(self, effects: list[Effect]) -> list[Effect]:
        """Note the acknowledgements among ``effects``; returns them unchanged."""
        for effect in effects:
            if isinstance(effect, Ack):
                self.acked(effect.entry_ids)
        return effects

    def new_server(self) -> None:
        """The engine now reads another server (a reload changed the connection): its ids are another sequence,
        so the acknowledged ones are forgotten (an equal id there is a new entry). Held ones stay held."""
        self._done.clear()

    @property
    def held_count(self) -> int:
        """Entries received and not yet acknowledged."""
        return len(self._held)
