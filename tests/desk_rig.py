"""Test helpers for the desk (not product code): a fake clock and engine slot, entries, and a :class:`Rig` that
builds the real state, presenter, mailbox and loop — without starting its thread — plus a real pystray menu on
the ``dummy`` backend whose items the tests activate as a click would."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.adapters.notifier_api import Notifier
from agent.core.config import Settings
from agent.core.events import EntryReceived
from agent.core.model import Entry, Member, Source
from agent.core.notify_text import Notice
from agent.desk import presenter
from agent.desk.app import MenuSection
from agent.desk.compose import _new_state, _snapshot
from agent.desk.loop import DeskLoop, EntryListener, Mailbox
from agent.desk.state import DeskState
from agent.photos.api import NoPhotos, PhotoSource

# pystray binds its backend when first imported: import it once with the dummy backend, then restore the
# environment so that processes other tests start are not affected.
_saved_backend = os.environ.get("PYSTRAY_BACKEND")
os.environ["PYSTRAY_BACKEND"] = "dummy"
import pystray  # noqa: E402 (the backend is chosen at import)

from agent.adapters.tray_pystray import PystrayTray  # noqa: E402
from agent.desk import wiring  # noqa: E402

if _saved_backend is None:
    del os.environ["PYSTRAY_BACKEND"]
else:
    os.environ["PYSTRAY_BACKEND"] = _saved_backend

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
PYSTRAY = pystray


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Engines:
    """The loop's engine handle: records acks and reconnects."""

    def __init__(self) -> None:
        self.reconnects = 0
        self.acked: list[int] = []
        self.generation = 1

    def ack(self, entry_ids: Sequence[int]) -> None:
        self.acked.extend(entry_ids)

    def reconnect_now(self) -> None:
        self.reconnects += 1


class RecordingNotifier:
    """Keeps every notice shown, in order; thread-safe; ``wait_for`` blocks until ``count`` were shown."""

    name = "recording"

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.closed = False
        self._cond = threading.Condition()

    def show(self, notice: Notice) -> bool:
        with self._cond:
            self.notices.append(notice)
            self._cond.notify_all()
        return True

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Notice]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.notices) >= count, timeout=timeout_s)
            return list(self.notices)

    def close(self) -> None:
        self.closed = True


class FailingNotifier:
    """A notifier whose display path is down while ``down`` is True (``show`` returns False)."""

    def __init__(self, name: str = "dbus") -> None:
        self.name = name
        self.down = False
        self.notices: list[Notice] = []
        self.attempts = 0

    def show(self, notice: Notice) -> bool:
        self.attempts += 1
        if self.down:
            return False
        self.notices.append(notice)
        return True

    def close(self) -> None:
        pass


def make_entry(
    i: int,
    *,
    access: str = "miembro",
    expired: bool = False,
    source: Source = Source.LIVE,
    member_id: int | str | None = None,
    previous: dt.datetime | None = None,
    first_visit: bool = False,
    photo_url: str | None = None,
) -> EntryReceived:
    member = Member(
        member_id=member_id if member_id is not None else 100 + i,
        first_name=f"Socio{i}",
        last_name="Prueba",
        plan="Mensual",
        expires_on=NOW.date() + dt.timedelta(days=-3 if expired else 30),
        balance_due=Decimal(0),
        photo_url=photo_url,
    )
    entry = Entry(
        entry_id=i,
        member_id=member.member_id if access == "miembro" else None,
        occurred_at=NOW + dt.timedelta(seconds=i),
        access_type=access,
        member=member if access == "miembro" else None,
        previous_entry_at=previous,
        first_visit=first_visit,
    )
    return EntryReceived(entry, source, 0.0)


class Rig:
    """The desk, synchronously: ``handle``/``tick`` run on the test's thread; ``click(text)`` activates a menu
    item of a real pystray (dummy) menu and runs what it posted."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        lang: str = "es",
        settings: Settings | None = None,
        notifiers: Sequence[Notifier] | None = None,
        sections: Sequence[MenuSection] = (),
        photos: PhotoSource | None = None,
        listeners: Sequence[EntryListener] = (),
        wall: Callable[[], dt.datetime] = lambda: NOW,
        has_menu: bool = True,
        reload: Callable[[], None] | None = None,
        run_click: Callable[[str, int | str], None] | None = None,
    ) -> None:
        from agent.desk import messages
        from agent.desk.app import MenuContext
        from agent.desk.compose import AgentOptions

        self.clock = Clock()
        self.wall = wall
        self.engines = Engines()
        self.notifier = RecordingNotifier()
        self.notifiers: list[Any] = list(notifiers) if notifiers is not None else [self.notifier]
        self.opened: list[str] = []
        self.clicks: list[tuple[str, int | str]] = []
        self.lines: list[str] = []
        self.log = tmp_path / "aviso.log"
        opts = AgentOptions(dsn="", settings=settings or Settings(), lang=lang)
        self.state: DeskState = _new_state(opts, [n.name for n in self.notifiers], self.clock(), wall())
        self.mailbox = Mailbox(_snapshot(self.state, self.clock()))
        mailbox = self.mailbox
        self.context = MenuContext(
            lang=lang,
            settings=opts.settings,
            post=mailbox.call,
            reconnect_now=lambda: mailbox.post(messages.ReconnectNow()),
            show=lambda title, body: mailbox.post(messages.ShowText(title, body)),
            reload_settings=lambda: mailbox.post(messages.ReloadSettings()),
        )
        self.sections = list(sections)
        self.tray = PystrayTray(
            f"AvisoTest{id(self)}", "Aviso", wiring.icon_paths(), lambda: self.menu_items(has_menu=has_menu)
        )
        self.loop = DeskLoop(
            mailbox=mailbox,
            state=self.state,
            notifiers=self.notifiers,
            engines=self.engines,
            photos=photos or NoPhotos(),
            tray=self.tray,
            entry_listeners=listeners,
            reload=reload,
            open_log=lambda: self.opened.append(str(self.log)),
            run_click=run_click or (lambda template, member_id: self.clicks.append((template, member_id))),
            out=self.lines.append,
            clock=self.clock,
            wall=wall,
        )

    def menu_items(self, has_menu: bool = True) -> list[Any]:
        return presenter.menu_items(
            self.mailbox.snapshot,
            self.mailbox.post,
            quit_now=self.mailbox.quit_now,
            sections=self.sections,
            context=self.context,
            has_log=True,
            has_menu=has_menu,
        )

    # -- driving ------------------------------------------------------------------------------------------------
    def handle(self, item: object) -> None:
        self.loop.process(item)
        self.loop.refresh(force=True)

    def tick(self) -> None:
        self.loop.tick()

    def run_posted(self) -> None:
        while not self.mailbox.inbox.empty():
            self.loop.process(self.mailbox.inbox.get_nowait())
        self.loop.refresh(force=True)

    def find(self, text: str) -> Any:
        for item in self.tray.pystray_menu():
            if item.text == text:
                return item
        raise AssertionError(f"no menu item {text!r} in {[i.text for i in self.tray.pystray_menu()]}")

    def click(self, text: str) -> None:
        self.find(text)(self.tray.icon)
        self.run_posted()

    @property
    def shown(self) -> list[Notice]:
        return self.notifier.notices

    def look(self) -> Any:
        return presenter.tray_state(self.state.view(self.clock()), self.clock())
