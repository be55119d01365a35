"""The tray agent: composes the listener engine, a notifier and a tray icon, and runs the tray controller.

Threads:

* **main** — creates the tray icon and runs its loop (pystray's rule); in ``--headless`` mode it runs the
  controller loop itself.
* **aviso-listener** — the engine's worker (:mod:`agent.db.engine`); it only posts events to a queue.
* **aviso-tray-controller** — :meth:`TrayController.run`: drains the event queue, applies flood control and
  pause (:mod:`agent.core.flood`), shows notices, updates the icon, tooltip and menu. It owns all controller
  state; menu callbacks (on the tray's thread) and notification clicks only *post* closures to it.
* notifier threads (``aviso-dbus``, WinRT's) — only deliver clicks, which are posted too.

Adapters are chosen once at start-up (:func:`make_notifier`, :func:`make_tray`), each with an environment
override: ``AVISO_NOTIFIER=dbus|winrt|balloon|console|null`` and ``AVISO_TRAY=pystray|none``. ``--headless``
means the console notifier and no tray. Notifier fallback order: Windows ``winrt → balloon → console``; elsewhere
``dbus → balloon → console``.

Menu extensions (settings, autostart — the deployment area): a module listed in :data:`MENU_EXTENSION_MODULES`
that exists and defines ``menu_items(ctx: MenuContext) -> Sequence[MenuItemSpec]`` gets its items placed above
"Quit". Their actions run on the tray's thread: open a window or post work with ``ctx.post``, never block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import logging
import math
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent import APP_ID, APP_NAME, resources
from agent.adapters.notifier_api import Notifier, NotifierUnavailable
from agent.core import names
from agent.core.advice import Problem, explain
from agent.core.config import NotificationSettings, PauseSettings, Settings
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.core.flood import NoticeGate, Show, Summarize
from agent.core.i18n import tr
from agent.core.model import Source
from agent.core.notify_text import (
    Notice,
    NoticeKind,
    Sound,
    Urgency,
    backlog_notice,
    entry_notice,
    plain_entry_notice,
    plural,
    summary_notice,
    trial_notice,
)
from agent.core.tray_model import (
    SEPARATOR,
    TOOLTIP_MAX,
    IconState,
    MenuItemSpec,
    TrayState,
    TrayView,
)

log = logging.getLogger("agent.desk.app")

RECENT_MAX = 10
OUTAGE_NOTICE_S = 20.0
"""Without a working connection for this many seconds (at start or after a loss), one notice says so; when the
connection is back after that notice, one more says so. Not while paused."""
REASON_MAX = 60
"""The connection problem's sentence is cut to this many characters in the tooltip (Windows keeps 127)."""
TICK_S = 0.5
"""Longest wait for an event before the controller looks at its timers while a countdown is on screen (paused,
reconnecting, outage notice pending), seconds. Commands and events wake it at once."""
IDLE_TICK_S = 2.0
"""The same when connected and not paused: only the flood gate's own deadlines (waited for exactly) and the day's
entry count need the timers then. 2 s keeps an idle agent at ~0.5 wakeups/s (bench/README "Benchmarks": 2/s with
a 0.5 s tick) while a quit requested from a signal handler, which may only set an Event, still ends within 2 s."""
MENU_EXTENSION_MODULES: tuple[str, ...] = ("agent.desk.menu_deploy",)
"""Modules that may add menu items (see the module docstring). Missing modules are skipped."""


class EngineControl(Protocol):
    """What the controller needs from the listener engine (:class:`agent.db.engine.ListenerEngine`)."""

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 1.0) -> Any: ...

    def reconnect_now(self) -> None: ...

    def ack(self, entry_id: int) -> None: ...


@dataclass(frozen=True)
class MenuContext:
    """Given to menu extensions. ``post(fn)`` runs ``fn`` on the controller thread; any thread may call it."""

    lang: str
    settings: Settings
    post: Callable[[Callable[[], None]], None]
    reconnect_now: Callable[[], None]
    show: Callable[[str, str], None]
    """``show(title, body)``: a plain notice (e.g. "settings saved")."""
    reload_settings: Callable[[], None] = lambda: None
    """Re-read the settings and the keyring password and reconnect with them (a new engine), keeping the pause.
    Where the agent runs on a ``--dsn`` given on the command line, this only reconnects."""


MenuExtension = Callable[[MenuContext], Sequence[MenuItemSpec]]


@dataclass(frozen=True)
class _Snapshot:
    """What menu callbacks read (immutable; replaced whole by the controller thread)."""

    status_line: str = ""
    paused: bool = False
    recent: tuple[Notice, ...] = ()


def run_click_action(template: str, member_id: int | str | None) -> None:
    """Run the configured click action for ``member_id``: a URL (``scheme://...``) opens in the browser, anything
    else is a command line run without a shell. ``{id_miembro}`` (or ``{member_id}``) is replaced by the id.
    Raises ``OSError``/``ValueError`` when the command cannot start."""
    if not template or member_id is None:
        return
    text = template.replace("{id_miembro}", str(member_id)).replace("{member_id}", str(member_id))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        webbrowser.open(text)
        return
    argv = shlex.split(text, posix=sys.platform != "win32")
    if argv:
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TrayController:
    """The tray side of the agent (see the module docstring for threads).

    ``clock`` is monotonic seconds (flood control, pause); ``wall`` the local wall-clock time (today's count,
    "paused until HH:MM"). Public ``request_*`` methods may be called from any thread.
    """

    def __init__(
        self,
        *,
        notifier: Notifier,
        lang: str = "es",
        settings: Settings | None = None,
        engine: EngineControl | None = None,
        tray: TrayView | None = None,
        log_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
        tz: dt.tzinfo | None = None,
        extensions: Sequence[MenuExtension] = (),
        open_file: Callable[[Path], None] | None = None,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        notif: NotificationSettings = self.settings.notifications
        self.pause_settings: PauseSettings = self.settings.pause
        self.notifier = notifier
        self.lang = lang
        self.engine = engine
        self.tray = tray
        self.log_file = log_file
        self.clock = clock
        self.wall = wall
        self.tz = tz
        self.expiry_warning_days = notif.expiry_warning_days
        self.click_action = notif.click_action
        self.gate: NoticeGate[Notice] = NoticeGate(notif.flood_max_count, notif.flood_window_s)
        self.conn = StateChanged(ConnState.CONNECTING)
        self._conn_at = clock()
        self.today_count = 0
        self._today = wall().date()
        self.recent: deque[Notice] = deque(maxlen=RECENT_MAX)
        self.shown: list[Notice] = []
        """Every notice shown, in order (kept only with ``keep_shown``, for tests)."""
        self.keep_shown = False
        self._pause_until_text = ""
        self._seq = 0
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._inbox: queue.Queue[Any] | None = None
        """The event queue once :meth:`run` drains it: commands go there too, so they wake the loop at once."""
        self._stop = threading.Event()
        self._open_file = open_file
        self._snapshot = _Snapshot()
        self._last_tray: TrayState | None = None
        self._last_tray_at = -math.inf
        self._menu_dirty = False
        self._extensions = list(extensions)
        self.on_state = on_state
        """Headless mode: called with one line per connection change (not for every retry)."""
        self._last_said: tuple[ConnState, str] | None = None
        self._down_since: float | None = self._conn_at
        self._outage_noticed = False
        self.menu_context = MenuContext(
            lang=lang,
            settings=self.settings,
            post=self.post,
            reconnect_now=self.request_reconnect,
            show=lambda title, body: self.post(
                lambda: self._show(Notice(title=title, body=body, kind=NoticeKind.TEST))
            ),
            reload_settings=self.request_reload,
        )
        self.credentials_problem: Callable[[], str] = lambda: ""
        """Why the keyring could not give the password ('' when it could). When set, a connection failure for
        want of a password (:attr:`~agent.core.advice.Problem.NO_PASSWORD`, or a rejected fallback password:
        ``AUTH_FAILED``) is shown with this reason instead: the fix is the keyring, not the server."""
        self.reload_handler: Callable[[], Settings | None] | None = None
        """Set by :func:`run_agent`: swaps the engine for one built from freshly read settings and returns them
        (None: nothing to reload). Runs on the controller thread."""
        self._publish()

    # -- any thread --------------------------------------------------------------------------------------------
    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the controller thread, in order with the events. Not from signal handlers."""
        inbox = self._inbox
        (inbox if inbox is not None else self._commands).put(fn)

    def request_pause(self, minutes: float | None) -> None:
        """Pause for ``minutes`` (None: until resumed)."""
        self.post(lambda: self._pause(minutes))

    def request_resume(self) -> None:
        """Resume now (one summary of what came in)."""
        self.post(self._resume)

    def request_toggle_pause(self) -> None:
        """Pause until resumed, or resume when paused."""
        self.post(lambda: self._resume() if self.gate.paused(self.clock()) else self._pause(None))

    def request_test(self) -> None:
        """Show the test notification (bypasses pause and flood control)."""
        self.post(lambda: self._show(trial_notice(self._state_text(), self.lang)))

    def request_replay(self, notice: Notice) -> None:
        """Show a recent entry again (bypasses pause and flood control)."""
        self.post(lambda: self._show(_replay(notice)))

    def request_reconnect(self) -> None:
        """Ask the engine to reconnect at once (resets its backoff). The pause is kept."""
        self.post(self._reconnect)

    def request_reload(self) -> None:
        """Re-read settings and password and reconnect with them (see :attr:`MenuContext.reload_settings`)."""
        self.post(self._reload)

    def request_open_log(self) -> None:
        """Open the log file in the desktop's viewer."""
        self.post(self._open_log)

    def request_quit(self) -> None:
        """Stop the controller loop (and with it the tray) within :data:`IDLE_TICK_S` s. Safe from signal
        handlers."""
        self._stop.set()

    def request_quit_now(self) -> None:
        """Stop at once (the menu's "Quit"; not from signal handlers: it puts to a queue)."""
        self._stop.set()
        self.post(lambda: None)

    def on_click(self, notice: Notice) -> None:
        """A notification was clicked (notifier thread): run the click action on the controller thread."""
        if notice.member_id is not None and self.click_action:
            template, member_id = self.click_action, notice.member_id
            self.post(lambda: _safe(run_click_action, template, member_id))

    @property
    def stopping(self) -> bool:
        """True once quit was requested."""
        return self._stop.is_set()

    # -- controller thread -------------------------------------------------------------------------------------
    def run(self, events: queue.Queue[Event], duration_s: float | None = None) -> None:
        """Drain ``events`` and commands until :meth:`request_quit` (or ``duration_s`` seconds); then stop the
        tray. Runs on the controller thread (or the main thread when headless)."""
        end = self.clock() + duration_s if duration_s is not None else math.inf
        inbox: queue.Queue[Any] = events
        self._inbox = inbox
        self.run_commands()  # posted before the loop existed
        try:
            while not self._stop.is_set():
                now = self.clock()
                if now >= end:
                    break
                wait = min(self._tick_s(now), end - now)
                deadline = self.gate.next_deadline()
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - now))
                try:
                    item = inbox.get(timeout=wait)
                except queue.Empty:
                    pass
                else:
                    self._dispatch(item)
                    while True:  # everything already queued, before looking at timers
                        try:
                            self._dispatch(inbox.get_nowait())
                        except queue.Empty:
                            break
                self.tick()
        finally:
            self._inbox = None
            self._stop.set()
            if self.tray is not None:
                self.tray.stop()

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, EntryReceived | BacklogSummary | StateChanged):
            self.handle(item)
            return
        try:
            item()
        except Exception:
            log.exception("tray command failed")

    def run_commands(self) -> None:
        """Run every posted closure now (controller thread)."""
        while True:
            try:
                fn = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except Exception:
                log.exception("tray command failed")

    def handle(self, event: Event) -> None:
        """Apply one engine event (controller thread). Never raises: a failure is logged (with the entry id) and
        the agent goes on with the next event."""
        try:
            self._handle(event)
        except Exception:
            entry_id = event.entry.entry_id if isinstance(event, EntryReceived) else None
            log.exception("handling %s (entry %s) failed", type(event).__name__, entry_id)
        finally:
            # Shown, held for a summary or logged: either way the agent is done with it. Entries still in the queue
            # when the agent quits are not acknowledged, so the engine's saved cursor replays them next start.
            if isinstance(event, EntryReceived) and self.engine is not None:
                self.engine.ack(event.entry.entry_id)

    def _handle(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, EntryReceived):
            self._entry(event, now)
        elif isinstance(event, BacklogSummary):
            log.info("backlog: %s older entries reported as one summary", event.count)
            if not self.gate.submit_backlog(event.count, now):
                self._show(backlog_notice(event.count, event.oldest, event.newest, self.lang, self.tz))
        elif isinstance(event, StateChanged):
            event = self._with_credentials_reason(event)
            self.conn = event
            self._conn_at = now
            log.info("connection state: %s %s", event.state.value, event.reason)
            self._say_state(event)
            self._track_outage(event, now)
        self._refresh(force=isinstance(event, StateChanged))

    def _with_credentials_reason(self, event: StateChanged) -> StateChanged:
        """``event`` with the keyring's reason when the keyring could not be read and the failure is about the
        password (the engine's reason is :func:`agent.core.advice.explain` of its Problem)."""
        if event.state not in (ConnState.BACKING_OFF, ConnState.AUTH_FAILED) or not event.reason:
            return event
        problem = self.credentials_problem()
        password_reasons = {explain(p, self.lang) for p in (Problem.NO_PASSWORD, Problem.AUTH_FAILED)}
        if problem and event.reason in password_reasons:
            return dataclasses.replace(event, reason=problem)
        return event

    def _say_state(self, event: StateChanged) -> None:
        if self.on_state is None or event.state is ConnState.CONNECTING:
            return
        key = (event.state, event.reason)
        if key == self._last_said:
            return
        self._last_said = key
        text = self._state_text().split(",")[0] if event.state is ConnState.BACKING_OFF else self._state_text()
        detail = event.server if event.state is ConnState.LISTENING else event.reason
        _safe(self.on_state, f"· {text}" + (f" — {detail}" if detail else ""))

    def _tick_s(self, now: float) -> float:
        """:data:`TICK_S` while something on screen counts down, else :data:`IDLE_TICK_S`."""
        if self.conn.state is not ConnState.LISTENING or self._down_since is not None or self.gate.paused(now):
            return TICK_S
        return IDLE_TICK_S

    def tick(self) -> None:
        """Summaries that fell due, the end of a timed pause, the outage notice, the tooltip's countdowns
        (controller thread)."""
        now = self.clock()
        self._render(self.gate.tick(now))
        down = self._down_since
        outage = down is not None and now - down >= OUTAGE_NOTICE_S
        if outage and not self._outage_noticed and not self.gate.paused(now):
            self._outage_noticed = True
            warning = self.conn.state is ConnState.AUTH_FAILED
            self._show(
                Notice(
                    title=tr("conn.lost_title", self.lang),
                    body=tr("conn.lost_body", self.lang, reason=self.conn.reason).strip(),
                    urgency=Urgency.CRITICAL if warning else Urgency.NORMAL,
                    sound=Sound.WARNING if warning else Sound.DEFAULT,
                    kind=NoticeKind.SUMMARY,
                    tag="connection",
                )
            )
        self._refresh()

    def _track_outage(self, event: StateChanged, now: float) -> None:
        if event.state is ConnState.LISTENING:
            if self._outage_noticed and not self.gate.paused(now):
                self._show(
                    Notice(
                        title=tr("conn.restored_title", self.lang),
                        body=tr("conn.restored_body", self.lang),
                        urgency=Urgency.LOW,
                        sound=Sound.NONE,
                        kind=NoticeKind.SUMMARY,
                        tag="connection",
                    )
                )
            self._down_since, self._outage_noticed = None, False
        elif self._down_since is None:
            self._down_since = now

    # -- internals ---------------------------------------------------------------------------------------------
    def _entry(self, event: EntryReceived, now: float) -> None:
        entry = event.entry
        if entry.access_type != names.MEMBER_ACCESS:
            log.info("entry %s is a %s entry: no notification", entry.entry_id, entry.access_type)
            return
        self._count_today()
        notice: Notice | None
        try:
            notice = entry_notice(
                entry, lang=self.lang, expiry_warning_days=self.expiry_warning_days, tz=self.tz, kind=NoticeKind.ENTRY
            )
        except Exception:  # bad data in one row must not hide the entry nor stop the agent
            log.exception("entry %s: notification text failed; showing a plain notice", entry.entry_id)
            notice = plain_entry_notice(entry, lang=self.lang, tz=self.tz)
        if notice is None:
            return
        self.recent.appendleft(notice)
        self._menu_dirty = True
        outputs = self.gate.submit(notice, now, catchup=event.source is Source.CATCHUP)
        if not outputs:
            why = "paused" if self.gate.paused(now) else "batched"
            log.info("entry %s (%s): %s", entry.entry_id, event.source.value, why)
        self._render(outputs)
        log.debug(
            "entry %s handled %.1f ms after receipt", entry.entry_id, (self.clock() - event.received_monotonic) * 1e3
        )

    def _count_today(self) -> None:
        today = self.wall().date()
        if today != self._today:
            self._today, self.today_count = today, 0
        self.today_count += 1

    def _render(self, outputs: Sequence[Show[Notice] | Summarize[Notice]]) -> None:
        for out in outputs:
            if isinstance(out, Show):
                self._show(out.item)
            elif out.single is not None:  # a flood "summary" of one entry: that entry's own notice
                self._show(out.single)
            else:
                self._seq += 1
                notice = summary_notice(out.reason, out.items, self.lang, extra=out.extra, seq=self._seq)
                self._show(notice)

    def _show(self, notice: Notice) -> None:
        log.info("notification (%s, %s): %s", notice.kind.value, notice.urgency.value, notice.tag or notice.title)
        if self.keep_shown:
            self.shown.append(notice)
        try:
            self.notifier.show(notice)
        except Exception:  # a notifier must not raise; if one does, the agent keeps running
            log.exception("notifier %s failed", self.notifier.name)

    def _pause(self, minutes: float | None) -> None:
        now = self.clock()
        self.gate.pause(now, None if minutes is None else minutes * 60.0)
        if minutes is None:
            self._pause_until_text = ""
        else:
            self._pause_until_text = (self.wall() + dt.timedelta(minutes=minutes)).strftime("%H:%M")
        log.info("paused %s", "until resumed" if minutes is None else f"for {minutes:g} min")
        self._refresh(force=True)

    def _resume(self) -> None:
        outputs = self.gate.resume(self.clock())
        if outputs:
            log.info("resumed")
        self._render(outputs)
        self._refresh(force=True)

    def _reconnect(self) -> None:
        log.info("reconnect requested from the tray")
        if self.engine is not None:
            self.engine.reconnect_now()

    def _reload(self) -> None:
        if self.reload_handler is None:
            self._reconnect()
            return
        settings = self.reload_handler()
        if settings is not None:
            self.apply_settings(settings)
        self._refresh(force=True)

    def apply_settings(self, settings: Settings) -> None:
        """Use new notification and pause settings from now on (controller thread). Held entries stay held."""
        notif = settings.notifications
        self.settings = settings
        self.pause_settings = settings.pause
        self.expiry_warning_days = notif.expiry_warning_days
        self.click_action = notif.click_action
        self.gate.flood.max_count = max(1, notif.flood_max_count)
        self.gate.flood.window_s = max(0.001, notif.flood_window_s)
        log.info("settings applied: flood %s per %s s", notif.flood_max_count, notif.flood_window_s)

    def _open_log(self) -> None:
        if self.log_file is None:
            return
        opener = self._open_file
        if opener is None:
            from agent.logging_setup import open_in_viewer

            opener = open_in_viewer
        _safe(opener, self.log_file)

    def _state_text(self) -> str:
        c = self.conn
        if c.state is ConnState.LISTENING:
            return tr("state.listening", self.lang)
        if c.state is ConnState.CONNECTING:
            return tr("state.connecting", self.lang)
        if c.state is ConnState.AUTH_FAILED:
            return tr("state.auth_failed", self.lang)
        if c.state is ConnState.STOPPED:
            return tr("state.stopped", self.lang)
        if c.retry_in_s is not None:
            left = max(0, math.ceil(c.retry_in_s - (self.clock() - self._conn_at)))
            return tr("state.backing_off", self.lang, seconds=left)
        return tr("state.backing_off_plain", self.lang)

    def _pause_text(self) -> str:
        if self.gate.paused_until == math.inf:
            return tr("state.paused_indefinitely", self.lang)
        return tr("state.paused_until", self.lang, time=self._pause_until_text)

    def tray_state(self) -> TrayState:
        """Icon and tooltip for the current state (controller thread)."""
        paused = self.gate.paused(self.clock())
        if paused:
            icon = IconState.PAUSED
        elif self.conn.state is ConnState.LISTENING:
            icon = IconState.CONNECTED
        elif self.conn.state is ConnState.CONNECTING:
            icon = IconState.CONNECTING
        else:
            icon = IconState.ERROR
        status = self._state_text()
        lines = [f"{APP_NAME}: {status}"]
        if paused:
            lines.append(self._pause_text())
        if self.conn.reason and self.conn.state is not ConnState.LISTENING:
            reason = self.conn.reason
            lines.append(reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…")
        lines.append(plural("tooltip.today", self.today_count, self.lang))
        server = tr("tooltip.server", self.lang, server=self.conn.server) if self.conn.server else ""
        if server and len("\n".join([*lines, server])) <= TOOLTIP_MAX:
            lines.append(server)
        status_line = status + (f" · {self._pause_text()}" if paused else "")
        return TrayState(icon=icon, tooltip="\n".join(lines)[:TOOLTIP_MAX], status_line=status_line)

    def _refresh(self, force: bool = False) -> None:
        """Push icon, tooltip and menu to the tray when they changed: at once for state changes and pause,
        at most once a second for entries (today's count, last entries)."""
        now = self.clock()
        if not force and now - self._last_tray_at < 1.0:
            return
        self._last_tray_at = now
        state = self.tray_state()
        changed = state != self._last_tray or self._menu_dirty
        self._last_tray, self._menu_dirty = state, False
        self._publish(state)
        if self.tray is not None and changed:
            try:
                self.tray.update(state)
                self.tray.refresh_menu()
            except Exception:
                log.exception("tray update failed")

    def _publish(self, state: TrayState | None = None) -> None:
        state = state or self.tray_state()
        self._snapshot = _Snapshot(
            status_line=state.status_line, paused=self.gate.paused(self.clock()), recent=tuple(self.recent)
        )

    # -- menu (built on the tray's thread from the snapshot) -----------------------------------------------------
    def menu_items(self, *, has_menu: bool = True) -> list[MenuItemSpec]:
        """The tray menu. ``has_menu=False`` (xorg backend: clicks only) makes "pause/resume" the click action."""
        lang = self.lang
        short, long_ = self.pause_settings.short_pause_min, self.pause_settings.long_pause_min
        long_text = (
            tr("menu.pause_long", lang, hours=f"{long_ / 60:g}")
            if long_ % 60 == 0
            else tr("menu.pause_short", lang, minutes=long_)
        )
        items = [
            MenuItemSpec(text=lambda: self._snapshot.status_line, enabled=False, key="status"),
            SEPARATOR,
            MenuItemSpec(
                text=tr("menu.pause_short", lang, minutes=short),
                action=lambda: self.request_pause(short),
                key="pause_short",
            ),
            MenuItemSpec(text=long_text, action=lambda: self.request_pause(long_), key="pause_long"),
            MenuItemSpec(
                text=tr("menu.pause_indefinite", lang), action=lambda: self.request_pause(None), key="pause_indefinite"
            ),
            MenuItemSpec(
                text=tr("menu.resume", lang),
                action=self.request_resume,
                enabled=lambda: self._snapshot.paused,
                key="resume",
            ),
        ]
        if not has_menu:
            items.append(
                MenuItemSpec(
                    text=tr("menu.toggle_pause", lang), action=self.request_toggle_pause, default=True, key="toggle"
                )
            )
        items += [
            SEPARATOR,
            MenuItemSpec(text=tr("menu.recent", lang), submenu=self._recent_items, key="recent"),
            MenuItemSpec(text=tr("menu.test", lang), action=self.request_test, key="test"),
            MenuItemSpec(text=tr("menu.reconnect", lang), action=self.request_reconnect, key="reconnect"),
            MenuItemSpec(
                text=tr("menu.open_log", lang),
                action=self.request_open_log,
                enabled=self.log_file is not None,
                key="open_log",
            ),
        ]
        for extension in self._extensions:
            try:
                items += list(extension(self.menu_context))
            except Exception:
                log.exception("menu extension failed")
        items += [SEPARATOR, MenuItemSpec(text=tr("menu.quit", lang), action=self.request_quit_now, key="quit")]
        return items

    def _recent_items(self) -> list[MenuItemSpec]:
        recent = self._snapshot.recent
        if not recent:
            return [MenuItemSpec(text=tr("menu.recent_empty", self.lang), enabled=False, key="recent_empty")]
        out = []
        for i, notice in enumerate(recent):
            first_line = notice.body.split("\n", 1)[0]
            time_text = first_line.rsplit(" ", 1)[-1]
            out.append(
                MenuItemSpec(
                    text=f"{time_text}  {notice.title}" + ("  ⚠" if notice.warning else ""),
                    action=(lambda n: lambda: self.request_replay(n))(notice),
                    key=f"recent_{i}",
                )
            )
        return out


def _replay(notice: Notice) -> Notice:
    from dataclasses import replace

    return replace(notice, kind=NoticeKind.REPLAY)


def _safe(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("%s failed", getattr(fn, "__name__", "action"))


# -- composition -------------------------------------------------------------------------------------------------
def has_display() -> bool:
    """True where a desktop session can show a tray and notifications (always on Windows and macOS)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def icon_paths() -> dict[IconState, Path]:
    """The state icons in ``assets/``: ``.ico`` on Windows (crisp at every DPI), ``.png`` elsewhere."""
    ext = "ico" if sys.platform == "win32" else "png"
    return {state: resources.asset(f"tray-{state.value}.{ext}") for state in IconState}


def make_tray(choice: str, controller: TrayController) -> TrayView | None:
    """The tray for ``choice`` (``pystray``/``none``); None when it cannot load here (logged)."""
    if choice == "none":
        return None
    if choice != "pystray":
        raise ValueError(f"unknown AVISO_TRAY {choice!r}: use pystray or none")
    try:
        from agent.adapters.tray_pystray import PystrayTray

        holder: dict[str, bool] = {"has_menu": True}
        tray = PystrayTray(APP_ID, APP_NAME, icon_paths(), lambda: controller.menu_items(has_menu=holder["has_menu"]))
        holder["has_menu"] = tray.has_menu
        return tray
    except RuntimeError as exc:
        log.warning("no tray icon: %s", exc)
        return None


def make_notifier(choice: str, tray: TrayView | None, on_click: Callable[[Notice], None]) -> Notifier:
    """The notifier for ``choice`` (``auto``, ``dbus``, ``winrt``, ``balloon``, ``console``, ``null``). ``auto``
    and an unavailable explicit choice fall back in the order given in the module docstring."""
    if choice == "auto":
        order = ["winrt", "balloon", "console"] if sys.platform == "win32" else ["dbus", "balloon", "console"]
    elif choice in ("dbus", "winrt", "balloon"):
        order = [choice, "console"]
    elif choice in ("console", "null"):
        order = [choice]
    else:
        raise ValueError(f"unknown AVISO_NOTIFIER {choice!r}: use dbus, winrt, balloon, console or null")
    for name in order:
        try:
            notifier = _notifier(name, tray, on_click)
        except NotifierUnavailable as exc:
            log.warning("notifier %s unavailable: %s", name, exc)
            continue
        log.info("notifier: %s", notifier.name)
        return notifier
    raise AssertionError("console is always available")  # pragma: no cover


def _notifier(name: str, tray: TrayView | None, on_click: Callable[[Notice], None]) -> Notifier:
    app_png, app_ico = resources.asset("app.png"), resources.asset("app.ico")
    if name == "dbus":
        from agent.adapters.notifier_linux import DbusNotifier

        return DbusNotifier(APP_NAME, app_png, on_click)
    if name == "winrt":
        from agent.adapters.notifier_windows import WinRtNotifier

        return WinRtNotifier(APP_ID, APP_NAME, stable_asset(app_ico), on_click)
    if name == "balloon":
        if tray is None:
            raise NotifierUnavailable("no tray icon to show balloons on")
        from agent.adapters.notifier_balloon import BalloonNotifier

        return BalloonNotifier(tray.balloon)
    if name == "console":
        from agent.adapters.notifier_console import ConsoleNotifier

        return ConsoleNotifier()
    from agent.adapters.notifier_null import NullNotifier

    return NullNotifier()


def stable_asset(path: Path) -> Path:
    """``path``, or in a one-file PyInstaller build a copy in the user data folder: the bundle is unpacked to a
    temporary folder deleted at exit, and Windows keeps the AUMID's ``IconUri`` for the Action Center."""
    if not getattr(sys, "_MEIPASS", None):
        return path
    import platformdirs

    target = Path(platformdirs.user_data_dir(APP_ID, appauthor=False)) / path.name
    try:
        data = path.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return target
    except OSError as exc:
        log.warning("could not copy %s to %s: %s", path.name, target, exc)
        return path


def make_single_instance(name: str) -> Any:
    """The single-instance guard for this platform (named mutex on Windows, lock file elsewhere)."""
    if sys.platform == "win32":
        from agent.adapters.single_instance_windows import NamedMutexInstance

        return NamedMutexInstance(f"{APP_ID}-{name}")
    from agent.adapters.single_instance_posix import LockFileInstance, default_lock_dir

    directory = Path(os.environ["AVISO_RUNTIME_DIR"]) if os.environ.get("AVISO_RUNTIME_DIR") else None
    return LockFileInstance(name, directory or default_lock_dir(APP_ID))


def load_menu_extensions() -> list[MenuExtension]:
    """``menu_items`` of every module in :data:`MENU_EXTENSION_MODULES` that exists."""
    found: list[MenuExtension] = []
    for module_name in MENU_EXTENSION_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                log.exception("menu extension %s failed to import", module_name)
            continue
        fn = getattr(module, "menu_items", None)
        if callable(fn):
            found.append(fn)
    return found


@dataclass(frozen=True)
class AgentOptions:
    """How to run the agent. ``dsn`` holds no password; ``password`` is never logged or shown in ``repr``."""

    dsn: str
    password: str | None = field(default=None, repr=False)
    settings: Settings = field(default_factory=Settings)
    lang: str = "es"
    headless: bool = False
    duration_s: float | None = None
    instance_name: str = "agent"
    cursor_path: Path | None = None
    log_file: Path | None = None
    notifier: str | None = None
    """Override of ``AVISO_NOTIFIER``."""
    tray: str | None = None
    """Override of ``AVISO_TRAY``."""
    engine_overrides: dict[str, Any] = field(default_factory=dict)
    """More :class:`agent.db.engine.EngineConfig` fields (tests, demo)."""
    reload: Callable[[], tuple[str, str | None, Settings]] | None = field(default=None, repr=False)
    """Re-reads ``(dsn, password, settings)`` for the tray's "reload settings" (None: reconnect only)."""
    credentials_problem: Callable[[], str] = field(default=lambda: "", repr=False)
    """Why the password could not be read from the keyring at the last (re)read, as a translated sentence with
    the fix, or ''. See :attr:`TrayController.credentials_problem`."""


EXIT_ALREADY_RUNNING = 3


def _print_line(text: str) -> None:
    """One ``write`` per line: notices and connection lines come from several threads."""
    if sys.stdout is not None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def run_agent(opts: AgentOptions, *, out: Callable[[str], None] = _print_line) -> int:
    """Run the tray agent until quit (or ``opts.duration_s`` seconds). Main thread only. Returns the exit code:
    0 normal exit, 1 start-up failure, 3 another instance is running for this user (it says so)."""
    instance = make_single_instance(opts.instance_name)
    try:
        acquired = instance.acquire()
    except OSError as exc:
        log.warning("single-instance check failed (%s): continuing", exc)
        acquired = True
    if not acquired:
        out(tr("app.already_running", opts.lang))
        if sys.platform == "win32":
            from agent.adapters.single_instance_windows import tell_user

            _safe(tell_user, tr("app.already_running", opts.lang), APP_NAME)
        log.info("another instance is running: exiting")
        return EXIT_ALREADY_RUNNING
    try:
        return _run_locked(opts, out)
    finally:
        instance.release()


def _run_locked(opts: AgentOptions, out: Callable[[str], None]) -> int:
    try:
        from agent.db.engine import EngineConfig, ListenerEngine
    except ImportError as exc:
        out(tr("app.no_engine", opts.lang) + f" ({exc})")
        return 1
    events: queue.Queue[Event] = queue.Queue()
    conn = opts.settings.connection
    engine_config = EngineConfig(
        dsn=opts.dsn,
        password=opts.password,
        channel=conn.channel,
        cursor_path=opts.cursor_path,
        connect_timeout_s=float(conn.connect_timeout_s),
        require_ack=True,
        **opts.engine_overrides,
    )
    engine = ListenerEngine(engine_config, events, lang=opts.lang)
    headless = opts.headless
    tray_choice = "none" if headless else (opts.tray or os.environ.get("AVISO_TRAY") or "pystray")
    if tray_choice != "none" and not has_display():
        log.info("no display: running without a tray icon")
        tray_choice = "none"
    notifier_choice = opts.notifier or os.environ.get("AVISO_NOTIFIER") or ("console" if headless else "auto")

    controller = TrayController(
        notifier=_Deferred(),
        lang=opts.lang,
        settings=opts.settings,
        engine=engine,
        log_file=opts.log_file,
        extensions=load_menu_extensions(),
    )
    controller.credentials_problem = opts.credentials_problem
    tray = make_tray(tray_choice, controller)
    if tray is None and notifier_choice == "auto":
        notifier_choice = "dbus" if sys.platform != "win32" and has_display() else "console"
    if tray is None and notifier_choice == "auto":  # pragma: no cover (Windows without a tray)
        notifier_choice = "console"
    controller.tray = tray
    controller.notifier = make_notifier(notifier_choice, tray, controller.on_click)
    reload_source = opts.reload
    if reload_source is not None:

        def reload_engine() -> Settings:
            dsn, password, settings = reload_source()
            config = dataclasses.replace(
                engine_config,
                dsn=dsn,
                password=password,
                channel=settings.connection.channel,
                connect_timeout_s=float(settings.connection.connect_timeout_s),
            )
            old = controller.engine
            if old is not None:
                old.stop(timeout_s=1.0)
            fresh = ListenerEngine(config, events, lang=opts.lang)
            controller.engine = fresh
            fresh.start()
            log.info("engine restarted with reloaded settings")
            return settings

        controller.reload_handler = reload_engine
    previous = _install_signal_handlers(controller)
    if sys.platform != "win32" and os.environ.get("AVISO_DEBUG_STACKS") and sys.stderr is not None:
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack
    log.info(
        "agent starting: notifier %s, tray %s, flood %s per %s s",
        controller.notifier.name,
        getattr(tray, "backend", "none"),
        opts.settings.notifications.flood_max_count,
        opts.settings.notifications.flood_window_s,
    )
    engine.start()
    try:
        if tray is None:
            out(tr("app.headless_start", opts.lang))
            controller.on_state = out
            try:
                controller.run(events, opts.duration_s)
            except KeyboardInterrupt:
                controller.request_quit()
        else:
            worker = threading.Thread(
                target=controller.run, args=(events, opts.duration_s), name="aviso-tray-controller", daemon=True
            )
            tray.run(worker.start)
            controller.request_quit()
            worker.join(timeout=2.0)
    finally:
        if controller.engine is not None:
            controller.engine.stop(timeout_s=1.0)
        controller.notifier.close()
        _restore_signal_handlers(previous)
        log.info("agent stopped")
    return 0


class _Deferred:
    """Placeholder notifier until the real one is chosen (the tray must exist first, for balloons)."""

    name = "deferred"

    def show(self, notice: Notice) -> bool:
        log.info("notice before a notifier was chosen: %s", notice.title)
        return False

    def close(self) -> None:
        pass


def _install_signal_handlers(controller: TrayController) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s: quitting", signum)
        controller.request_quit()

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, old)
