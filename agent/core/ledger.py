"""The delivery ledger: what has been delivered, for zero loss and no duplicates. Pure (serializes to a dict).

Why not just "``id_entrada`` > last id": ids come from a sequence when a transaction *starts* its insert, but rows
become visible when it *commits*, so two turnstile transactions can commit out of id order (PostgreSQL docs, "Sequence
Manipulation Functions": sequence values are not rolled back and carry no ordering guarantee across sessions). The
ledger therefore keeps a cursor (highest id and highest ``fecha_hora`` delivered) *and* the ids delivered within the
last ``lookback_s`` seconds of ``fecha_hora``; catch-up reads ``id > cursor_id OR fecha_hora >= cursor_time -
lookback_s`` and drops the ids it remembers. An entry that commits more than ``lookback_s`` after its ``fecha_hora``
*and* after a later id was delivered is outside the guarantee (docs/engine.md "Guarantees and their bounds").

The **id window** closes the gap the time window leaves when ``fecha_hora`` is not the server's time: with
``lookback_ids`` > 0 every id delivered among the last ``lookback_ids`` ids below the cursor is remembered whatever
its date, so the ids of that range *not* remembered (:meth:`Ledger.holes`) are exactly the ones not delivered yet,
and the engine probes them by primary key. Two turnstiles sharing a sequence with ``CACHE 20`` (one holds ids
1-20, the other 21-40), one of them with its clock two minutes behind: its entries, always below the cursor and
dated before the time window, were lost in both modes (``tests/test_engine_break.py``). Ids at or below
:attr:`Ledger.id_floor` (the first start's cursor, the end of a summary, a ledger saved before this existed) are
outside the id window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

FORMAT_VERSION = 1


@dataclass
class Ledger:
    """Cursor plus recently delivered ids. Owned by the worker thread.

    ``max_recent`` bounds memory (ids, ~100 bytes each); beyond it the oldest are forgotten first.
    """

    lookback_s: float = 60.0
    max_recent: int = 50_000
    cursor_id: int = 0
    cursor_time: dt.datetime | None = None
    recent: dict[int, dt.datetime] = field(default_factory=dict)
    floor: dt.datetime | None = None
    """Ids at or below the cursor dated before this are never delivered: when the agent was first started."""
    forgotten_max_id: int = 0
    """Highest id forgotten to keep memory bounded (more than ``max_recent`` ids in the window, e.g. one
    transaction of 70,000 rows): ids at or below it count as delivered."""
    lookback_ids: int = 0
    """Size of the id window below the cursor (0: none). A setting, not saved in the file."""
    id_floor: int = 0
    """Ids at or below this are outside the id window (not all of them were remembered)."""

    @property
    def initialized(self) -> bool:
        """False until the first cursor is set (a first start begins at the table's current end)."""
        return self.cursor_time is not None

    def start_at(self, max_id: int, start_time: dt.datetime) -> None:
        """First start ever: deliver what was inserted from ``start_time`` (server clock) on, ``max_id`` being the
        highest id older than that. Entries inserted while the server was unreachable at start count as new."""
        self.cursor_id, self.cursor_time, self.floor = max_id, start_time, start_time
        self.id_floor = max_id

    def since(self) -> dt.datetime | None:
        """Lower bound of ``fecha_hora`` for catch-up (None before :meth:`start_at`)."""
        if self.cursor_time is None:
            return None
        return self.cursor_time - dt.timedelta(seconds=self.lookback_s)

    def hole_floor(self) -> int:
        """Ids above this and at or below the cursor are in the id window."""
        return max(self.id_floor, self.forgotten_max_id, self.cursor_id - max(0, self.lookback_ids))

    def holes(self) -> list[int]:
        """Ids of the id window not delivered (nor settled): ascending, at most ``lookback_ids``."""
        return [i for i in range(self.hole_floor() + 1, self.cursor_id + 1) if i not in self.recent]

    def settle(self, entry_id: int, occurred_at: dt.datetime) -> None:
        """Remember an id of the id window that is not a member entry (a visitor): never a hole again."""
        self.recent[entry_id] = occurred_at

    def is_new(self, entry_id: int, occurred_at: dt.datetime) -> bool:
        """True if this entry should be delivered: not remembered, and either after the cursor's id or inside the
        catch-up window. An id above the cursor is new whatever its ``fecha_hora`` says (a turnstile clock that is
        behind, passages uploaded late); the window only serves ids at or below the cursor (out-of-order commits)."""
        if entry_id in self.recent:
            return False
        if entry_id > self.cursor_id:
            return True
        if entry_id <= self.forgotten_max_id:
            return False  # below ids forgotten for memory's sake: taken as delivered (no duplicates)
        if entry_id > self.hole_floor():
            return True  # the id window remembers every id delivered there: this one was not
        if self.floor is not None and occurred_at < self.floor:
            return False  # before the agent was first started
        since = self.since()
        return since is None or occurred_at >= since

    def mark(self, entry_id: int, occurred_at: dt.datetime, server_now: dt.datetime | None = None) -> None:
        """Record a delivery and move the cursor. ``server_now`` (the server's clock, estimated) caps the cursor's
        time, so one row dated in the future (a turnstile clock ahead) cannot push the window past the present."""
        self.recent[entry_id] = occurred_at
        self.cursor_id = max(self.cursor_id, entry_id)
        self._advance_time(occurred_at, server_now)
        if len(self.recent) > self.max_recent * 1.25:
            self.prune()

    def _advance_time(self, t: dt.datetime, server_now: dt.datetime | None) -> None:
        if server_now is not None and t > server_now:
            t = server_now
        if self.cursor_time is None or t > self.cursor_time:
            self.cursor_time = t

    def skip_to(self, max_id: int, newest: dt.datetime, server_now: dt.datetime | None = None) -> None:
        """Move the cursor past entries reported in a summary instead of one by one."""
        self.cursor_id = max(self.cursor_id, max_id)
        self.id_floor = max(self.id_floor, max_id)  # the summarised ids are not remembered one by one
        self._advance_time(newest, server_now)

    def rebase(self, max_id: int, still_valid: set[int]) -> None:
        """The table's ids went back below the cursor (``TRUNCATE ... RESTART IDENTITY``, a restore from an older
        backup): continue from ``max_id``. Of the remembered ids only ``still_valid`` (same id *and* date in the
        table) stay delivered. No id window below ``max_id`` (what lies there was not all remembered)."""
        self.recent = {i: t for i, t in self.recent.items() if i in still_valid}
        self.cursor_id = max_id
        self.id_floor = max_id
        self.forgotten_max_id = min(self.forgotten_max_id, max_id)

    def prune(self) -> None:
        """Forget ids older than the window, then the oldest beyond ``max_recent`` (raising
        :attr:`forgotten_max_id`, below which ids count as delivered)."""
        since = self.since()
        if since is not None:
            keep_above = min(self.cursor_id, self.hole_floor())
            self.recent = {i: t for i, t in self.recent.items() if t >= since or i > keep_above}
        if len(self.recent) > self.max_recent:
            ordered = sorted(self.recent)
            dropped, kept = ordered[: -self.max_recent], ordered[-self.max_recent :]
            self.forgotten_max_id = max(self.forgotten_max_id, dropped[-1])
            self.recent = {i: self.recent[i] for i in kept}

    def without(self, pending: dict[int, dt.datetime]) -> Ledger:
        """A copy that has not delivered ``pending`` (handed over but not yet acknowledged by the consumer): the
        cursor goes back below the lowest of them, so a restart replays them; ids above it stay remembered."""
        copy = Ledger(
            lookback_s=self.lookback_s,
            max_recent=self.max_recent,
            cursor_id=self.cursor_id,
            cursor_time=self.cursor_time,
            recent={i: t for i, t in self.recent.items() if i not in pending},
            floor=self.floor,
            forgotten_max_id=self.forgotten_max_id,
            lookback_ids=self.lookback_ids,
            id_floor=self.id_floor,
        )
        if pending:
            lowest = min(pending)
            copy.cursor_id = min(copy.cursor_id, lowest - 1)
            copy.forgotten_max_id = min(copy.forgotten_max_id, lowest - 1)
        return copy

    def to_dict(self, server: str) -> dict[str, object]:
        """JSON-ready snapshot, tagged with the ``server`` identity (``host:port/db#channel``)."""
        self.prune()
        return {
            "format": FORMAT_VERSION,
            "server": server,
            "cursor_id": self.cursor_id,
            "cursor_time": self.cursor_time.isoformat() if self.cursor_time else None,
            "floor": self.floor.isoformat() if self.floor else None,
            "forgotten_max_id": self.forgotten_max_id,
            "id_floor": self.id_floor,
            "recent": [[i, t.isoformat()] for i, t in sorted(self.recent.items())],
        }

    @classmethod
    def from_dict(cls, data: object, server: str, *, lookback_s: float = 60.0) -> Ledger:
        """Rebuild from :meth:`to_dict` output. Anything unreadable, or another server's, gives a fresh ledger."""
        fresh = cls(lookback_s=lookback_s)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION or data.get("server") != server:
            return fresh
        try:
            cursor_time = data["cursor_time"]
            floor = data.get("floor")
            ledger = cls(
                lookback_s=lookback_s,
                cursor_id=int(data["cursor_id"]),
                cursor_time=dt.datetime.fromisoformat(cursor_time) if cursor_time else None,
                recent={int(i): dt.datetime.fromisoformat(t) for i, t in data["recent"]},
                floor=dt.datetime.fromisoformat(floor) if floor else None,
                forgotten_max_id=int(data.get("forgotten_max_id", 0)),
                # older files did not remember every id below the cursor: their id window starts at it
                id_floor=int(data["id_floor"] if "id_floor" in data else data["cursor_id"]),
            )
        except (KeyError, TypeError, ValueError):
            return fresh
        if ledger.cursor_time is not None and ledger.cursor_time.tzinfo is None:
            return fresh
        return ledger
