"""The desk's composition: builds the pure state, the mailbox, the tray, the notifier chain, the engine slot and
the loop — each fully constructed, in dependency order, nothing assigned afterwards — and runs them.

Order: state (pure) → mailbox (queue + snapshot) → tray (its menu reads the mailbox's snapshot and posts to it)
→ notifiers (balloons need the tray; clicks post to the mailbox) → engine slot (posts tagged events to the
mailbox) → loop. Menu sections are explicit imports passed in (:data:`DEFAULT_SECTIONS`).

Threads: **main** runs the tray icon's loop (pystray's rule) or, headless, the desk loop itself;
**aviso-desk** runs :meth:`agent.desk.loop.DeskLoop.run`; **aviso-listener** is the engine's worker;
**aviso-reload** runs one settings reload at a time (keyring read with a timeout, engine swap); notifier threads
(``aviso-dbus``, WinRT's) and the photo pool only post to the mailbox. See docs/architecture.md "The desk".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent import logging_setup
from agent.adapters.notifier_api import Notifier
from agent.core.config import Settings
from agent.core.events import Event
from agent.core.i18n import tr
from agent.core.model import Entry
from agent.core.notify_text import Notice
from agent.desk import menu_deploy, messages, presenter, wiring
from agent.desk.app import MenuContext, MenuSection
from agent.desk.click import run_click_action
from agent.desk.engines import Engine, EngineSlot
from agent.desk.loop import DeskLoop, EntryListener, Mailbox
from agent.desk.state import DeskState
from agent.photos.api import NoPhotos, PhotoSource

log = logging.getLogger("agent.desk.compose")

DEFAULT_SECTIONS: tuple[MenuSection, ...] = (menu_deploy.menu_items,)
"""The menu sections of the product (settings, autostart): explicit imports, placed above "Quit"."""


@dataclass(frozen=True)
class Reading:
    """What a reload read: connection target, password (never logged or in ``repr``), settings, and why the
    keyring gave no password ('' when it did) with its few words for the tray (``keyring_state``)."""

    dsn: str
    password: str | None = field(default=None, repr=False)
    settings: Settings = field(default_factory=Settings)
    keyring_problem: str = ""
    keyring_state: str = ""
    sslmode: str = ""
    """libpq ``sslmode`` ('' = the DSN's / libpq's); ``sslrootcert`` already resolved
    (:func:`agent.deploy.connection.resolve`)."""
    sslrootcert: str = ""


@dataclass(frozen=True)
class AgentOptions:
    """How to run the agent. ``dsn`` holds no password; ``password`` is never logged or shown in ``repr``;
    ``sslmode``/``sslrootcert`` as :class:`Reading`'s."""

    dsn: str
    password: str | None = field(default=None, repr=False)
    settings: Settings = field(default_factory=Settings)
    sslmode: str = ""
    sslrootcert: str = ""
    lang: str = "es"
    headless: bool = False
    duration_s: float | None = None
    cursor_path: Path | None = None
    log_file: Path | None = None
    notifier: str | None = None
    """Override of ``AVISO_NOTIFIER``."""
    tray: str | None = None
    """Override of ``AVISO_TRAY``."""
    engine_overrides: dict[str, Any] = field(default_factory=dict)
    """More :class:`agent.db.engine.EngineConfig` fields (tests, demo)."""
    reload: Callable[[], Reading] | None = field(default=None, repr=False)
    """Re-reads settings and password for "reload settings" and the keyring retry (None: reconnect only). Runs on
    the reload thread; may take up to the keyring timeout."""
    keyring_problem: str = ""
    """Why the keyring gave no password at start ('' when it did)."""
    keyring_state: str = ""
    """The same in a few words for the tray ("llavero bloqueado")."""


def _print_line(text: str) -> None:
    """One ``write`` per line: notices and connection lines come from several threads."""
    if sys.stdout is not None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _engine_factory(opts: AgentOptions, reading: Reading) -> Any:
    from agent.db.engine import EngineConfig, ListenerEngine

    # channel, mode (notify/poll), poll interval, connect timeout and the photo column come from the settings
    config = EngineConfig.from_settings(
        reading.settings,
        dsn=reading.dsn,
        password=reading.password,
        sslmode=reading.sslmode,
        sslrootcert=reading.sslrootcert,
        cursor_path=opts.cursor_path,
        require_ack=True,
        **opts.engine_overrides,
    )

    def make(events: queue.Queue[Event]) -> Engine:
        return ListenerEngine(config, events, lang=opts.lang)

    return make


def _local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _new_state(opts: AgentOptions, names: Sequence[str], now: float, wall: dt.datetime) -> DeskState:
    state = DeskState(opts.settings, lang=opts.lang, notifier_names=names, now=now, today=wall.date())
    if opts.keyring_problem:
        state.handle(messages.KeyringStatus(opts.keyring_problem, opts.keyring_state), now, wall)
    return state


def _snapshot(state: DeskState, now: float) -> presenter.Snapshot:
    view = state.view(now)
    return presenter.Snapshot(view, presenter.tray_state(view, now))


def run_agent(
    opts: AgentOptions,
    *,
    out: Callable[[str], None] = _print_line,
    notifiers: Sequence[Notifier] | None = None,
    photos: PhotoSource | None = None,
    entry_listeners: Sequence[EntryListener] = (),
    sections: Sequence[MenuSection] = DEFAULT_SECTIONS,
    local_page: PageFactory | None = None,
) -> int:
    """Run the tray agent until quit (or ``opts.duration_s`` seconds). Main thread only; the caller holds the
    single-instance lock and has started logging. ``notifiers``: the ordered chain, primary first (None: chosen
    here from ``opts.notifier``/``AVISO_NOTIFIER``); ``photos``: the member photo source (None: no photos);
    ``entry_listeners`` are called on their own thread (**aviso-listeners**, :mod:`agent.desk.listeners`) for
    every member entry handled. ``local_page(reload_settings, photos)`` starts the agent's local page
    (:func:`agent.web.desk_page.start_for_desk`) or returns None; its ``publish`` becomes one more entry listener,
    its URL reaches the menu sections (``MenuContext.page_url``) and it is closed at exit. Returns 0 on a normal
    exit, 1 when the engine cannot be loaded."""
    try:
        first = Reading(opts.dsn, opts.password, opts.settings, sslmode=opts.sslmode, sslrootcert=opts.sslrootcert)
        first_engine = _engine_factory(opts, first)
    except ImportError as exc:
        out(tr("app.no_engine", opts.lang) + f" ({exc})")
        return 1
    headless = opts.headless
    tray_choice = "none" if headless else (opts.tray or os.environ.get("AVISO_TRAY") or "pystray")
    if tray_choice != "none" and not wiring.has_display():
        log.info("no display: running without a tray icon")
        tray_choice = "none"
    notifier_choice = opts.notifier or os.environ.get("AVISO_NOTIFIER") or ("console" if headless else "auto")
    clock, wall = time.monotonic, _local_now
    photo_source = photos or NoPhotos()

    # 1. the mailbox (its first snapshot from a preview of the state), 2. the tray, 3. the notifier chain
    mailbox = Mailbox(_snapshot(_new_state(opts, ("-",), clock(), wall()), clock()))

    def reload_settings() -> None:
        mailbox.post(messages.ReloadSettings())

    page = _start_page(local_page, reload_settings, photo_source)
    if page is not None:
        entry_listeners = (*entry_listeners, page.publish)
    context = MenuContext(
        lang=opts.lang,
        settings=opts.settings,
        post=mailbox.call,
        reconnect_now=lambda: mailbox.post(messages.ReconnectNow()),
        show=lambda title, body: mailbox.post(messages.ShowText(title, body)),
        reload_settings=reload_settings,
        page_url=page.url if page is not None else "",
    )

    def menu(has_menu: bool) -> list[Any]:
        return presenter.menu_items(
            mailbox.snapshot,
            mailbox.post,
            quit_now=mailbox.quit_now,
            sections=sections,
            context=context,
            has_log=opts.log_file is not None,
            has_menu=has_menu,
        )

    tray = wiring.make_tray(tray_choice, menu=menu)
    if tray is None and notifier_choice == "auto":
        notifier_choice = "dbus" if sys.platform != "win32" and wiring.has_display() else "console"
    chain = (
        list(notifiers)
        if notifiers is not None
        else wiring.visible_only(
            wiring.make_notifiers(
                notifier_choice,
                tray=tray,
                on_click=lambda notice: mailbox.post(messages.Clicked(notice)),
                icon_for=wiring.tone_icon,
            ),
            logging_setup.windowed(),
            getattr(tray, "backend", ""),
        )
    )
    # 4. the pure state, 5. the engine slot, 6. the loop
    state = _new_state(opts, [n.name for n in chain], clock(), wall())
    slot = EngineSlot(mailbox.inbox, first_engine)
    reloader = _Reloader(opts, slot, mailbox)
    log_file = opts.log_file
    loop = DeskLoop(
        mailbox=mailbox,
        state=state,
        notifiers=chain,
        engines=slot,
        photos=photo_source,
        tray=tray,
        entry_listeners=entry_listeners,
        reload=reloader.start if opts.reload is not None else None,
        open_log=(lambda: _open_log(log_file)) if log_file is not None else None,
        run_click=run_click_action,
        out=out if tray is None else None,
        clock=clock,
        wall=wall,
    )
    previous = _install_signal_handlers(mailbox)
    if sys.platform != "win32" and os.environ.get("AVISO_DEBUG_STACKS") and sys.stderr is not None:
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack
    log.info(
        "agent starting: notifiers %s, tray %s, flood %s per %s s",
        " → ".join(n.name for n in chain),
        getattr(tray, "backend", "none"),
        opts.settings.notifications.flood_max_count,
        opts.settings.notifications.flood_window_s,
    )
    slot.start()
    try:
        if tray is None:
            out(tr("app.headless_start", opts.lang))
            try:
                loop.run(opts.duration_s)
            except KeyboardInterrupt:
                mailbox.request_quit()
        else:
            worker = threading.Thread(target=loop.run, args=(opts.duration_s,), name="aviso-desk", daemon=True)
            tray.run(worker.start)
            mailbox.request_quit()
            worker.join(timeout=2.0)
    finally:
        slot.stop(timeout_s=1.0)
        for notifier in chain:
            with contextlib.suppress(Exception):
                notifier.close()
        photo_source.close()
        if page is not None:
            with contextlib.suppress(Exception):
                page.close()
        _restore_signal_handlers(previous)
        log.info("agent stopped (%s failures caught by the desk's barrier)", loop.failures)
    return 0


class LocalPage(Protocol):
    """What the composition needs of the agent's local page (:class:`agent.web.page.TodayPage`)."""

    url: str

    def publish(self, entry: Entry, notice: Notice | None) -> None: ...

    def close(self) -> None: ...


PageFactory = Callable[[Callable[[], None], PhotoSource], LocalPage | None]
"""``factory(reload_settings, photos)``: starts the local page, or None when it cannot be served."""


def _start_page(
    factory: PageFactory | None, reload_settings: Callable[[], None], photos: PhotoSource
) -> LocalPage | None:
    if factory is None:
        return None
    try:
        return factory(reload_settings, photos)
    except Exception:  # the page is a convenience: the notifications must start without it
        log.exception("the local page could not be started")
        return None


class _Reloader:
    """Runs one reload at a time on the **aviso-reload** thread: read (settings, keyring with its timeout), swap
    the engine (bounded join), post the results to the desk. Requests while one runs are coalesced into **one
    more** reload after it (it may have read the configuration before the change that asked for it: settings
    saved during the keyring retry's reload were never applied)."""

    def __init__(self, opts: AgentOptions, slot: EngineSlot, mailbox: Mailbox) -> None:
        self._opts, self._slot, self._mailbox = opts, slot, mailbox
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._again = False

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                log.info("a reload is already running: one more follows it")
                self._again = True
                return
            self._thread = threading.Thread(target=self._loop, name="aviso-reload", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._run()
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again = False

    def _run(self) -> None:
        source = self._opts.reload
        if source is None:
            return
        try:
            reading = source()
            self._slot.swap(_engine_factory(self._opts, reading))
            self._mailbox.post(messages.KeyringStatus(reading.keyring_problem, reading.keyring_state))
            self._mailbox.post(messages.Reloaded(reading.settings))
            log.info("engine restarted with reloaded settings")
        except Exception:  # this thread's own barrier: logged, the old engine (or none) keeps the tray honest
            log.exception("reloading the settings failed")


def _open_log(path: Path) -> None:
    from agent.logging_setup import open_in_viewer

    open_in_viewer(path)


def _install_signal_handlers(mailbox: Mailbox) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s: quitting", signum)
        mailbox.request_quit()

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
