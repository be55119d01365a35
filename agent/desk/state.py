"""The desk's state: engine events and commands in, effects out. Pure: no threads, no clock reads, no I/O.

Every input method takes ``now`` (monotonic seconds) and, where the calendar matters, ``wall`` (the front desk's
local wall-clock time) and returns the :mod:`agent.desk.messages` effects to carry out, in order. The loop
(:mod:`agent.desk.loop`) is the only caller, on its one thread; the presenter reads :meth:`DeskState.view`.

What happens to a member entry (``EntryReceived``):

1. counted for today, added to the recent list, published to the entry listeners (the page);
2. held for its photo when the photo source must fetch it (``FetchPhoto``), until ``PhotoReady`` or
   ``photos.budget_ms`` — then it goes on with or without the photo;
3. in warnings-only mode a non-warning entry is **not popped up** and is acknowledged at once (the person chose
   not to see it; it is counted, listed and published);
4. otherwise it goes through flood control / pause / catch-up (:mod:`agent.core.flood`): shown alone or held for
   one summary. **Held entries are acknowledged when the summary that names them is accepted by a notifier**
   (a pause held until quit is therefore replayed at the next start, as a catch-up summary);
5. a ``ShowNotice`` is acknowledged only once some notifier accepted it (:mod:`agent.desk.display`).

Visitor and employee entries show nothing and are acknowledged at once. An entry delivered again (a reloaded
engine replays what the desk still held) is shown once (:mod:`agent.desk.seen`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.core import names
from agent.core.config import Settings
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, PhotoReady, StateChanged
from agent.core.flood import NoticeGate, Show, Summarize, SummaryReason
from agent.core.model import Source
from agent.core.notify_summary import backlog_notice, summary_notice, trial_notice
from agent.core.notify_text import Notice, NoticeKind, entry_notice, plain_entry_notice
from agent.desk import messages as m
from agent.desk.conn_watch import ConnWatch
from agent.desk.display import DisplayHealth
from agent.desk.faults import FaultCounter
from agent.desk.seen import Arrival, SeenEntries

log = logging.getLogger("agent.desk.state")

RECENT_MAX = 10
KEYRING_RETRY_S = 30.0
"""While the keyring gives no password (locked, unreachable) and there is no connection, the desk asks the
composition to read it again this often (a reload: settings, password, a fresh engine)."""


@dataclass(frozen=True)
class _Held:
    notice: Notice
    catchup: bool
    deadline: float


@dataclass(frozen=True)
class DeskView:
    """What the presenter needs, as one immutable value (read on any thread)."""

    lang: str
    conn: StateChanged
    conn_at: float
    paused: bool
    paused_until: float | None
    pause_until_text: str
    today_count: int
    recent: tuple[Notice, ...]
    only_warnings: bool
    degraded: str
    """The failing primary notifier's name while the display path is degraded, else ''."""
    missed: int
    faulted: bool
    keyring_problem: str
    keyring_state: str
    settings: Settings


class DeskState:
    """See the module docstring. ``notifier_names`` are the display chain's names, primary first."""

    def __init__(
        self,
        settings: Settings,
        *,
        lang: str = "es",
        tz: dt.tzinfo | None = None,
        notifier_names: Sequence[str] = ("primary",),
        now: float = 0.0,
        today: dt.date = dt.date(2000, 1, 1),
    ) -> None:
        self.lang = lang
        self.tz = tz
        self.settings = settings
        notif = settings.notifications
        self.gate: NoticeGate[Notice] = NoticeGate(notif.flood_max_count, notif.flood_window_s)
        self.only_warnings = notif.only_warnings
        self.display = DisplayHealth(notifier_names, self._missed_summary)
        self.faults = FaultCounter()
        self.watch = ConnWatch(lang, now)
        self.today, self.today_count = today, 0
        self.recent: deque[Notice] = deque(maxlen=RECENT_MAX)
        self.keyring_problem = ""
        self.keyring_state = ""
        self._keyring_retry_at: float | None = None
        self._pause_until_text = ""
        self._held: dict[int, _Held] = {}
        self._seq = 0
        self.seen = SeenEntries()
        self._server = ""

    # -- the one entry point for events and commands --------------------------------------------------------------
    def handle(self, msg: Event | PhotoReady | m.Command, now: float, wall: dt.datetime) -> list[m.Effect]:
        """Apply one engine event or command. Entries go through :meth:`entry` (the loop adds photo facts)."""
        return self.seen.track(self._handle(msg, now, wall))

    def _handle(self, msg: Event | PhotoReady | m.Command, now: float, wall: dt.datetime) -> list[m.Effect]:
        if isinstance(msg, EntryReceived):
            return self.entry(msg, now, wall)
        if isinstance(msg, StateChanged):
            if msg.server and msg.server != self._server:
                if self._server:
                    log.info("now reading %s (was %s): its entry ids are its own", msg.server, self._server)
                    self.seen.new_server()
                self._server = msg.server
            return self.watch.changed(msg, now, paused=self.paused(now), keyring_problem=self.keyring_problem)
        if isinstance(msg, BacklogSummary):
            log.info("backlog: %s older entries reported as one summary", msg.count)
            if self.gate.submit_backlog(msg.count, now):
                return []
            return [m.ShowNotice(backlog_notice(msg.count, msg.oldest, msg.newest, self.lang, self.tz))]
        if isinstance(msg, PhotoReady):
            held = self._held.pop(msg.entry_id, None)
            if held is None:  # too late: the notice already went without it
                return []
            return self._admit(dataclasses.replace(held.notice, photo_path=msg.path), held.catchup, now)
        return self._command(msg, now, wall)

    def entry(
        self, event: EntryReceived, now: float, wall: dt.datetime, *, photo: Path | None = None, fetch: bool = False
    ) -> list[m.Effect]:
        """One engine entry. ``photo``: a cached thumbnail of the member; ``fetch``: the photo source must fetch
        it first (the notice waits up to ``photos.budget_ms``)."""
        entry = event.entry
        arrival = self.seen.arrived(entry.entry_id)
        if arrival is not Arrival.NEW:
            log.info("entry %s delivered again (%s by the desk): not shown twice", entry.entry_id, arrival.value)
            return [m.Ack((entry.entry_id,))] if arrival is Arrival.DONE else []
        return self.seen.track(self._entry(event, now, wall, photo, fetch))

    def _entry(
        self, event: EntryReceived, now: float, wall: dt.datetime, photo: Path | None, fetch: bool
    ) -> list[m.Effect]:
        entry = event.entry
        if entry.access_type != names.MEMBER_ACCESS:
            log.info("entry %s is a %s entry: no notification", entry.entry_id, entry.access_type)
            return [m.Ack((entry.entry_id,))]
        if wall.date() != self.today:
            self.today, self.today_count = wall.date(), 0
        self.today_count += 1
        notif = self.settings.notifications
        notice: Notice | None
        try:
            notice = entry_notice(
                entry,
                lang=self.lang,
                expiry_warning_days=notif.expiry_warning_days,
                tz=self.tz,
                repeat_window_min=notif.repeat_entry_warning_min,
                photo_path=photo,
            )
        except Exception:  # bad data in one row must not hide the entry nor stop the agent
            log.exception("entry %s: notification text failed; showing a plain notice", entry.entry_id)
            notice = plain_entry_notice(entry, lang=self.lang, tz=self.tz)
        if notice is None:
            return [m.Ack((entry.entry_id,))]
        self.recent.appendleft(notice)
        out: list[m.Effect] = [m.Publish(entry, notice)]
        catchup = event.source is Source.CATCHUP
        if fetch and photo is None and entry.member is not None:
            budget = max(0.0, self.settings.photos.budget_ms / 1000.0)
            self._held[entry.entry_id] = _Held(notice, catchup, now + budget)
            return [*out, m.FetchPhoto(entry.entry_id, entry.member)]
        return out + self._admit(notice, catchup, now)

    def tick(self, now: float, wall: dt.datetime) -> list[m.Effect]:
        """Timers: photo budgets, due summaries, the end of a timed pause, the outage notice, the display probe,
        the keyring retry."""
        return self.seen.track(self._tick(now, wall))

    def _tick(self, now: float, wall: dt.datetime) -> list[m.Effect]:
        out: list[m.Effect] = []
        for entry_id, held in list(self._held.items()):
            if now >= held.deadline:
                del self._held[entry_id]
                log.info("entry %s: photo not ready within the budget, shown without it", entry_id)
                out += self._admit(held.notice, held.catchup, now)
        out += self._render(self.gate.tick(now))
        probe = self.display.due(now)
        if probe is not None:
            out.append(probe)
        out += self.watch.tick(now, paused=self.paused(now), keyring_problem=bool(self.keyring_problem))
        if self._keyring_retry_at is not None and now >= self._keyring_retry_at:
            self._keyring_retry_at = now + KEYRING_RETRY_S
            if self.watch.conn.state is not ConnState.LISTENING:  # connected anyway (.pgpass): leave it be
                out.append(m.DoReload())
        return out

    def shown(self, show: m.ShowNotice, tried: Sequence[int], accepted: int | None, now: float) -> list[m.Effect]:
        """What the notifiers did with ``show`` (see :meth:`DisplayHealth.outcome`)."""
        if accepted is None:
            log.warning("notice %s reached no notifier", show.notice.tag or show.notice.title)
        return self.seen.track(self.display.outcome(show, tried, accepted, now))

    def order(self, show: m.ShowNotice, now: float) -> list[int]:
        """Which notifiers (indexes, primary first) to offer ``show`` to (:meth:`DisplayHealth.order`)."""
        return self.display.order(show, now)

    def failure(self, now: float) -> None:
        """The loop's barrier caught an exception (counted for the error state)."""
        self.faults.record(now)

    # -- queries --------------------------------------------------------------------------------------------------
    def paused(self, now: float) -> bool:
        """True while a pause is in force."""
        return self.gate.paused(now)

    def next_deadline(self) -> float | None:
        """The earliest ``now`` at which :meth:`tick` has something to do (beyond the presenter's countdowns)."""
        candidates = [h.deadline for h in self._held.values()]
        for deadline in (self.gate.next_deadline(), self.display.next_deadline(), self._keyring_retry_at):
            if deadline is not None:
                candidates.append(deadline)
        return min(candidates) if candidates else None

    def counting_down(self, now: float) -> bool:
        """True while the tooltip shows something that changes by itself (connecting, retry countdown, pause,
        pending outage notice)."""
        return self.watch.counting_down or self.paused(now)

    @property
    def conn(self) -> StateChanged:
        """The connection's latest state (reason possibly replaced by the keyring's)."""
        return self.watch.conn

    def view(self, now: float) -> DeskView:
        """An immutable snapshot for the presenter."""
        return DeskView(
            lang=self.lang,
            conn=self.watch.conn,
            conn_at=self.watch.conn_at,
            paused=self.paused(now),
            paused_until=self.gate.paused_until,
            pause_until_text=self._pause_until_text,
            today_count=self.today_count,
            recent=tuple(self.recent),
            only_warnings=self.only_warnings,
            degraded=self.display.failed_name if self.display.degraded else "",
            missed=self.display.missed_count,
            faulted=self.faults.faulted(now),
            keyring_problem=self.keyring_problem,
            keyring_state=self.keyring_state,
            settings=self.settings,
        )

    # -- internals ------------------------------------------------------------------------------------------------
    def _command(self, cmd: m.Command, now: float, wall: dt.datetime) -> list[m.Effect]:
        if isinstance(cmd, m.Pause):
            minutes = cmd.minutes
            self.gate.pause(now, None if minutes is None else minutes * 60.0)
            self._pause_until_text = "" if minutes is None else (wall + dt.timedelta(minutes=minutes)).strftime("%H:%M")
            log.info("paused %s", "until resumed" if minutes is None else f"for {minutes:g} min")
            return []
        if isinstance(cmd, m.Resume):
            return self._render(self.gate.resume(now))
        if isinstance(cmd, m.TogglePause):
            return self._command(m.Resume() if self.paused(now) else m.Pause(None), now, wall)
        if isinstance(cmd, m.ToggleWarningsOnly):
            self.only_warnings = not self.only_warnings
            log.info("warnings-only mode %s", "on" if self.only_warnings else "off")
            return []
        if isinstance(cmd, m.Reloaded):
            self.apply_settings(cmd.settings)
            return []
        if isinstance(cmd, m.KeyringStatus):
            self.keyring_problem, self.keyring_state = cmd.problem, cmd.state if cmd.problem else ""
            log.info("keyring: %s", cmd.problem or "password read")
            self._keyring_retry_at = now + KEYRING_RETRY_S if cmd.problem else None
            return []
        return _stateless(cmd, self.settings, self.lang, self.watch.state_word)

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings from now on; held entries and the pause are kept; warnings-only follows the setting
        when the setting changed (a reload with the same value — the keyring retry every 30 s — keeps the menu's
        choice)."""
        notif = settings.notifications
        if notif.only_warnings != self.settings.notifications.only_warnings:
            self.only_warnings = notif.only_warnings
        self.settings = settings
        self.gate.flood.max_count = max(1, notif.flood_max_count)
        self.gate.flood.window_s = max(0.001, notif.flood_window_s)
        log.info("settings applied: flood %s per %s s", notif.flood_max_count, notif.flood_window_s)

    def _admit(self, notice: Notice, catchup: bool, now: float) -> list[m.Effect]:
        """Warnings-only, then the gate."""
        if self.only_warnings and not notice.warning and notice.entry_id is not None:
            log.info("entry %s: warnings-only mode, not popped up", notice.entry_id)
            return [m.Ack((notice.entry_id,))]
        outputs = self.gate.submit(notice, now, catchup=catchup, urgent=notice.warning)
        if not outputs:
            source = (Source.CATCHUP if catchup else Source.LIVE).value
            log.info("entry %s (%s): %s", notice.entry_id, source, "paused" if self.paused(now) else "batched")
        return self._render(outputs)

    def _render(self, outputs: Sequence[Show[Notice] | Summarize[Notice]]) -> list[m.Effect]:
        out: list[m.Effect] = []
        for o in outputs:
            item = o.item if isinstance(o, Show) else o.single
            if item is not None:
                out.append(m.ShowNotice(item, _ids([item])))
                continue
            assert isinstance(o, Summarize)
            self._seq += 1
            summary = summary_notice(o.reason, o.items, self.lang, extra=o.extra, seq=self._seq)
            out.append(m.ShowNotice(summary, _ids(o.items), items=o.items))
        return out

    def _missed_summary(self, notices: Sequence[Notice]) -> Notice:
        self._seq += 1
        entries = [n for n in notices if n.entry_id is not None]
        return summary_notice(
            SummaryReason.MISSED, entries, self.lang, extra=len(notices) - len(entries), seq=self._seq
        )


def _stateless(cmd: m.Command, settings: Settings, lang: str, state_word: Callable[[], str]) -> list[m.Effect]:
    """The commands that only map to effects (no state changes)."""
    if isinstance(cmd, m.TestNotice):
        return [m.ShowNotice(trial_notice(state_word(), lang))]
    if isinstance(cmd, m.Replay):
        return [m.ShowNotice(dataclasses.replace(cmd.notice, kind=NoticeKind.REPLAY))]
    if isinstance(cmd, m.ShowText):
        return [m.ShowNotice(Notice(title=cmd.title, body=cmd.body, kind=NoticeKind.TEST))]
    if isinstance(cmd, m.ReconnectNow):
        log.info("reconnect requested from the tray")
        return [m.DoReconnect()]
    if isinstance(cmd, m.ReloadSettings):
        return [m.DoReload()]
    if isinstance(cmd, m.OpenLogFile):
        return [m.DoOpenLog()]
    if isinstance(cmd, m.Clicked):
        template, member_id = settings.notifications.click_action, cmd.notice.member_id
        return [m.RunClick(template, member_id)] if template and member_id is not None else []
    return []  # m.Call is run by the loop itself


def _ids(notices: Sequence[Notice]) -> tuple[int, ...]:
    return tuple(n.entry_id for n in notices if n.entry_id is not None)
