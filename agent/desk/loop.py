"""The desk loop: the one thread that owns the desk state, drains its queue, runs its timers, carries out the
state's effects (notifiers, acknowledgements, photos, the tray; entry listeners are handed over to their own
thread, :mod:`agent.desk.listeners`) — all behind **one exception
barrier** (:meth:`DeskLoop._guard`).

Threads and what crosses between them (docs/architecture.md "The desk"):

* **aviso-desk** (or the main thread when headless) runs :meth:`DeskLoop.run`; it alone touches
  :class:`~agent.desk.state.DeskState`, calls the notifiers and pushes icon/tooltip to the tray.
* Everyone else only puts immutable values into the :class:`Mailbox`: the engine's worker its events (wrapped as
  :class:`Tagged` with the engine's generation by :mod:`agent.desk.engines`), menu actions on the tray's thread
  their commands, notifier threads ``Clicked``, the photo pool ``PhotoReady``, the reload thread ``Reloaded``.
* The tray's thread reads :meth:`Mailbox.snapshot` (an immutable :class:`~agent.desk.presenter.Snapshot`) to
  build the menu.

The barrier: any exception while handling one item, carrying out one effect or running the timers is logged
with its traceback (``agent.desk.loop`` → the log file) and the loop goes on with the next; the state counts it
(:mod:`agent.desk.faults`) and repeated failures show the error state. The loop never ends because one callback
raised; it ends on quit, on ``duration_s``, or with the process.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.adapters.notifier_api import Notifier
from agent.core.events import EntryReceived, Event, PhotoReady
from agent.core.tray_model import TrayState, TrayView
from agent.desk import messages as m
from agent.desk import presenter
from agent.desk.listeners import EntryListener, ListenerPump
from agent.desk.state import DeskState
from agent.photos.api import PhotoSource

log = logging.getLogger("agent.desk.loop")

TICK_S = 0.5
"""Longest wait for an item while something on screen counts down (paused, reconnecting, outage notice pending),
seconds. Items wake the loop at once."""
IDLE_TICK_S = 2.0
"""The same when connected and not paused: only the state's own deadlines (waited for exactly) and the day's
entry count need the timers then (~0.5 wakeups/s idle); a quit requested from a signal handler, which may only
set an Event, still ends within 2 s."""
DRAIN_MAX = 200
"""At most this many queued items are handled before the timers run again: a sustained stream (a catch-up
burst, a misbehaving thread) must not starve the photo budgets, the due summaries, quit or ``duration``."""
TRAY_REFRESH_S = 1.0
"""Entries refresh the tooltip and menu at most this often; icon and status changes at once."""

__all__ = ["DeskLoop", "EngineHandle", "EntryListener", "Mailbox", "Tagged"]


@dataclass(frozen=True)
class Tagged:
    """An engine event with the generation of the engine that posted it (events of a replaced engine are
    ignored)."""

    generation: int
    event: Event


class EngineHandle(Protocol):
    """What the loop needs from the engine slot (:class:`agent.desk.engines.EngineSlot`)."""

    @property
    def generation(self) -> int: ...

    def ack(self, entry_ids: Sequence[int]) -> None: ...

    def reconnect_now(self) -> None: ...


class Mailbox:
    """The desk's queue, its published snapshot and its stop flag. Any thread may call every method;
    :meth:`request_quit` is also safe from a signal handler (it only sets an Event)."""

    def __init__(self, snapshot: presenter.Snapshot) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self._snapshot = snapshot
        self._stop = threading.Event()

    def post(self, item: object) -> None:
        """Queue a command, an event or a ``PhotoReady`` for the desk thread."""
        self.inbox.put(item)

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the desk thread, inside its barrier."""
        self.inbox.put(m.Call(fn))

    def snapshot(self) -> presenter.Snapshot:
        """The latest view and tray look."""
        return self._snapshot

    def publish(self, snapshot: presenter.Snapshot) -> None:
        """Replace the snapshot (desk thread)."""
        self._snapshot = snapshot

    def request_quit(self) -> None:
        """Stop within :data:`IDLE_TICK_S` (signal handlers)."""
        self._stop.set()

    def quit_now(self) -> None:
        """Stop at once (the menu's "Quit")."""
        self._stop.set()
        self.inbox.put(m.Call(lambda: None))

    @property
    def stopping(self) -> bool:
        """True once quit was requested."""
        return self._stop.is_set()


class DeskLoop:
    """See the module docstring. ``reload`` starts the composition's reload off this thread (None: reconnect);
    ``out`` gets the headless console lines; ``clock`` is monotonic seconds and ``wall`` local wall time."""

    def __init__(
        self,
        *,
        mailbox: Mailbox,
        state: DeskState,
        notifiers: Sequence[Notifier],
        engines: EngineHandle,
        photos: PhotoSource,
        tray: TrayView | None = None,
        entry_listeners: Sequence[EntryListener] = (),
        reload: Callable[[], None] | None = None,
        open_log: Callable[[], None] | None = None,
        run_click: Callable[[str, int | str], None] | None = None,
        out: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
    ) -> None:
        if not notifiers:
            raise ValueError("the desk needs at least one notifier")
        self.mailbox = mailbox
        self.state = state
        self.notifiers = tuple(notifiers)
        self.engines = engines
        self.photos = photos
        self.tray = tray
        self.listeners = ListenerPump(entry_listeners)
        """The entry listeners run on their own thread (:mod:`agent.desk.listeners`): a stuck page hook never
        stalls the notices."""
        self._reload = reload
        self._open_log = open_log
        self._run_click = run_click
        self._out = out
        self.clock = clock
        self.wall = wall
        self._last_tray: TrayState | None = None
        self._last_menu: tuple[Any, ...] = ()
        self._last_push = -math.inf
        self.failures = 0
        """Exceptions the barrier caught (tests, the log)."""

    # -- the barrier ----------------------------------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``; an exception is logged with its traceback and counted, never raised."""
        try:
            return fn(*args)
        except Exception:
            self.failures += 1
            log.exception("desk: %s failed", what)
            try:
                self.state.failure(self.clock())
            except Exception:  # pragma: no cover (a broken fault counter must not end the loop either)
                log.exception("desk: counting a failure failed")
            return None

    # -- items and timers (desk thread) -----------------------------------------------------------------------
    def process(self, item: object) -> None:
        """Handle one queued item (an event, a tagged event, a command, ``PhotoReady``)."""
        self._guard(_describe(item), self._process, item)

    def _process(self, item: object) -> None:
        if isinstance(item, Tagged):
            if item.generation != self.engines.generation:
                log.info("event of a replaced engine ignored: %s", type(item.event).__name__)
                return
            item = item.event
        if isinstance(item, m.Call):
            item.fn()
            return
        now, wall = self.clock(), self.wall()
        if isinstance(item, EntryReceived):
            photo, fetch = self._photo_facts(item)
            effects = self.state.entry(item, now, wall, photo=photo, fetch=fetch)
            log.debug(
                "entry %s handled %.1f ms after receipt",
                item.entry.entry_id,
                (time.monotonic() - item.received_monotonic) * 1e3,
            )
        else:
            effects = self.state.handle(item, now, wall)  # type: ignore[arg-type]
        self.carry_out(effects)

    def _photo_facts(self, item: EntryReceived) -> tuple[Path | None, bool]:
        """The member's cached photo and whether it must be fetched. A photo source that raises (a malformed
        ``foto_url`` such as ``http://[x``, a broken cache) means no photo: the entry is shown all the same."""
        member = item.entry.member
        if member is None:
            return None, False
        try:
            photo = self.photos.cached(member)
            return photo, photo is None and self.photos.needs_fetch(member)
        except Exception:
            log.exception("entry %s: photo lookup failed; shown without a photo", item.entry.entry_id)
            return None, False

    def tick(self) -> None:
        """Run the state's timers and refresh the tray."""
        effects = self._guard("timers", lambda: self.state.tick(self.clock(), self.wall()))
        if effects:
            self.carry_out(effects)
        self._guard("tray refresh", self.refresh)

    def carry_out(self, effects: Sequence[m.Effect]) -> None:
        """Carry out ``effects`` in order, each inside the barrier."""
        for effect in effects:
            self._guard(type(effect).__name__, self._effect, effect)

    def _effect(self, effect: m.Effect) -> None:
        if isinstance(effect, m.ShowNotice):
            self._show(effect)
        elif isinstance(effect, m.Ack):
            self.engines.ack(effect.entry_ids)
        elif isinstance(effect, m.Publish):
            self.listeners.publish(effect.entry, effect.notice)
        elif isinstance(effect, m.FetchPhoto):
            entry_id, post = effect.entry_id, self.mailbox.post
            self.photos.fetch(effect.member, lambda path: post(_photo_ready(entry_id, path)))
        elif isinstance(effect, m.SayLine):
            if self._out is not None:
                self._out(effect.text)
        elif isinstance(effect, m.DoReconnect):
            self.engines.reconnect_now()
        elif isinstance(effect, m.DoReload):
            (self._reload or self.engines.reconnect_now)()
        elif isinstance(effect, m.DoOpenLog):
            if self._open_log is not None:
                self._open_log()
        elif isinstance(effect, m.RunClick) and self._run_click is not None:
            self._run_click(effect.template, effect.member_id)

    def _show(self, show: m.ShowNotice) -> None:
        notice = show.notice
        now = self.clock()
        tried: list[int] = []
        accepted: int | None = None
        for index in self.state.order(show, now):
            tried.append(index)
            notifier = self.notifiers[index]
            try:
                ok = bool(notifier.show(notice))
            except Exception:  # a notifier must not raise; if one does, that notifier failed this notice
                log.exception("notifier %s raised", notifier.name)
                ok = False
            if ok:
                accepted = index
                break
            log.warning("notifier %s did not show %s", notifier.name, notice.tag or notice.title)
        log.info(
            "notification (%s, %s) via %s: %s",
            notice.kind.value,
            notice.urgency.value,
            self.notifiers[accepted].name if accepted is not None else "none",
            notice.tag or notice.title,
        )
        self.carry_out(self.state.shown(show, tried, accepted, self.clock()))

    def refresh(self, force: bool = False) -> None:
        """Publish the snapshot; push icon/tooltip/menu to the tray when they changed (icon and status line at
        once, the rest at most every :data:`TRAY_REFRESH_S`)."""
        now = self.clock()
        view = self.state.view(now)
        look = presenter.tray_state(view, now)
        self.mailbox.publish(presenter.Snapshot(view, look))
        menu_key = (view.recent, view.only_warnings, view.paused)
        last = self._last_tray
        urgent = force or last is None or (look.icon, look.status_line) != (last.icon, last.status_line)
        if not urgent and now - self._last_push < TRAY_REFRESH_S:
            return
        if look == last and menu_key == self._last_menu:
            return
        if last is None or look.icon is not last.icon:
            log.info("tray icon: %s", look.icon.value)
        self._last_push, self._last_tray = now, look
        menu_changed, self._last_menu = menu_key != self._last_menu, menu_key
        if self.tray is not None:
            self.tray.update(look)
            if menu_changed or urgent:
                self.tray.refresh_menu()

    # -- the loop --------------------------------------------------------------------------------------------------
    def run(self, duration_s: float | None = None) -> None:
        """Drain the mailbox and run the timers until quit (or ``duration_s`` seconds); then stop the tray."""
        end = self.clock() + duration_s if duration_s is not None else math.inf
        inbox = self.mailbox.inbox
        self._guard("tray refresh", self.refresh, True)
        try:
            while not self.mailbox.stopping:
                now = self.clock()
                if now >= end:
                    break
                wait = self._guard("wait", self._wait_s, now, end)
                try:
                    item = inbox.get(timeout=wait if wait is not None else TICK_S)
                except queue.Empty:
                    pass
                else:
                    self.process(item)
                    for _ in range(DRAIN_MAX):  # what is already queued, before the timers (bounded: see DRAIN_MAX)
                        try:
                            self.process(inbox.get_nowait())
                        except queue.Empty:
                            break
                self.tick()
        finally:
            self.mailbox.request_quit()
            self._guard("listeners stop", self.listeners.stop)
            if self.tray is not None:
                self._guard("tray stop", self.tray.stop)

    def _wait_s(self, now: float, end: float) -> float:
        wait = min(TICK_S if self.state.counting_down(now) else IDLE_TICK_S, end - now)
        deadline = self.state.next_deadline()
        if deadline is not None:
            wait = min(wait, deadline - now)
        return max(0.0, wait)


def _photo_ready(entry_id: int, path: Path | None) -> PhotoReady:
    return PhotoReady(entry_id, path)


def _describe(item: object) -> str:
    event = item.event if isinstance(item, Tagged) else item
    if isinstance(event, EntryReceived):
        return f"handling EntryReceived (entry {event.entry.entry_id})"
    return f"handling {type(event).__name__}"
