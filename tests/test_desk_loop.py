"""The desk loop with its real thread: draining, waking, and the one exception barrier (an injected exception in
event handling or in the timers is logged with its traceback to the log file, the loop goes on, repeated
failures show the error state). Also the engine slot's generations (a replaced engine's events are ignored)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from desk_rig import Engines, RecordingNotifier, Rig, make_entry

from agent import logging_setup
from agent.core.config import Settings
from agent.core.events import ConnState, Event, StateChanged
from agent.core.notify_text import NoticeKind
from agent.core.tray_model import IconState
from agent.desk import presenter
from agent.desk import state as desk_state
from agent.desk.engines import EngineSlot
from agent.desk.listeners import ListenerPump
from agent.desk.loop import TICK_S, DeskLoop, Mailbox, Tagged
from agent.desk.state import DeskState
from agent.photos.api import NoPhotos


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = logging_setup.setup_logging("INFO", console=False, path=tmp_path / "aviso.log")
    try:
        yield path
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "_aviso", False):
                logging.getLogger().removeHandler(h)
                h.close()


def log_text(path: Path) -> str:
    for h in logging.getLogger().handlers:
        h.flush()
    return path.read_text(encoding="utf-8")


class FakeTray:
    name, has_menu, backend = "fake", True, "fake"

    def __init__(self) -> None:
        self.states: list[Any] = []
        self.stopped = 0

    def run(self, ready: Any) -> None: ...

    def update(self, state: Any) -> None:
        self.states.append(state)

    def refresh_menu(self) -> None: ...

    def balloon(self, title: str, body: str) -> bool:
        return False

    def stop(self) -> None:
        self.stopped += 1


def threaded_desk(notifier: RecordingNotifier, tray: FakeTray | None = None) -> tuple[DeskLoop, Mailbox, Engines]:
    state = DeskState(Settings(), notifier_names=[notifier.name], now=time.monotonic())
    view = state.view(time.monotonic())
    mailbox = Mailbox(presenter.Snapshot(view, presenter.tray_state(view, time.monotonic())))
    engines = Engines()
    loop = DeskLoop(mailbox=mailbox, state=state, notifiers=[notifier], engines=engines, photos=NoPhotos(), tray=tray)
    return loop, mailbox, engines


def test_run_loop_drains_the_queue_wakes_on_commands_and_stops_the_tray() -> None:
    from agent.desk import messages as m

    notifier, tray = RecordingNotifier(), FakeTray()
    loop, mailbox, engines = threaded_desk(notifier, tray)
    worker = threading.Thread(target=loop.run, args=(5.0,))
    worker.start()
    mailbox.post(Tagged(1, make_entry(1, access="visitante")))
    mailbox.post(Tagged(1, make_entry(2)))
    assert [n.title for n in notifier.wait_for(1, 2.0)] == ["Socio2 Prueba"]
    t0 = time.monotonic()
    mailbox.post(m.TestNotice())  # a menu command wakes the loop at once, not at its next tick
    assert [n.kind for n in notifier.wait_for(2, 2.0)][1] is NoticeKind.TEST
    assert time.monotonic() - t0 < TICK_S / 2
    mailbox.quit_now()
    worker.join(2.0)
    assert not worker.is_alive() and tray.stopped == 1
    assert time.monotonic() - t0 < TICK_S
    assert engines.acked == [1, 2]


def test_events_of_a_replaced_engine_are_ignored() -> None:
    notifier = RecordingNotifier()
    loop, _, engines = threaded_desk(notifier)
    engines.generation = 2
    loop.process(Tagged(1, make_entry(1)))
    loop.process(Tagged(2, make_entry(2)))
    assert [n.entry_id for n in notifier.notices] == [2] and engines.acked == [2]


def test_an_exception_in_event_handling_is_logged_with_traceback_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch, log_file: Path
) -> None:
    calls: list[int] = []

    def broken(entry: Any, **_k: Any) -> Any:
        calls.append(entry.entry_id)
        raise ValueError("still bad")

    monkeypatch.setattr(desk_state, "entry_notice", broken)
    monkeypatch.setattr(desk_state, "plain_entry_notice", broken)
    notifier, tray = RecordingNotifier(), FakeTray()
    loop, mailbox, engines = threaded_desk(notifier, tray)
    for i in (3, 4, 5):
        mailbox.post(Tagged(1, make_entry(i)))
    mailbox.post(Tagged(1, StateChanged(ConnState.LISTENING, server="db:5432")))
    worker = threading.Thread(target=loop.run, args=(1.0,), name="aviso-desk")
    worker.start()
    worker.join(5.0)
    assert not worker.is_alive()
    assert calls == [3, 3, 4, 4, 5, 5]
    assert loop.state.conn.state is ConnState.LISTENING  # the event after the failing ones was applied
    assert engines.acked == []  # never acked unseen: replayed at the next start
    text = log_text(log_file)
    assert "desk: handling EntryReceived (entry 3) failed" in text
    assert "Traceback (most recent call last)" in text and "ValueError: still bad" in text
    assert tray.states[-1].icon is IconState.ERROR  # three failures within a minute: the error state
    assert "Error interno repetido: vea el registro" in tray.states[-1].tooltip


def test_an_exception_in_the_timers_is_logged_and_the_loop_keeps_running(
    monkeypatch: pytest.MonkeyPatch, log_file: Path
) -> None:
    notifier, tray = RecordingNotifier(), FakeTray()
    loop, mailbox, _ = threaded_desk(notifier, tray)
    ticks: list[float] = []

    def broken_tick(now: float, wall: Any) -> Any:
        ticks.append(now)
        raise RuntimeError("timer boom")

    monkeypatch.setattr(loop.state, "tick", broken_tick)
    worker = threading.Thread(target=loop.run, args=(30.0,), name="aviso-desk")
    worker.start()
    from agent.desk import messages as m

    for _ in range(3):
        mailbox.post(m.TestNotice())  # each wakes the loop; every pass runs the (broken) timers
        time.sleep(0.05)
    notifier.wait_for(3, 2.0)
    assert worker.is_alive()  # the loop did not end
    mailbox.post(m.TestNotice())
    assert len(notifier.wait_for(4, 2.0)) == 4  # and still serves commands
    mailbox.quit_now()
    worker.join(2.0)
    assert not worker.is_alive() and len(ticks) >= 3
    text = log_text(log_file)
    assert "desk: timers failed" in text and "RuntimeError: timer boom" in text
    assert any(s.icon is IconState.ERROR for s in tray.states)


def test_a_raising_notifier_counts_as_failed_and_the_next_one_shows_the_notice(tmp_path: Path) -> None:
    class Raising:
        name = "raising"

        def show(self, notice: Any) -> bool:
            raise OSError("daemon gone")

        def close(self) -> None: ...

    fallback = RecordingNotifier()
    rig = Rig(tmp_path, notifiers=[Raising(), fallback])
    rig.handle(make_entry(1))
    assert [n.entry_id for n in fallback.notices] == [1] and rig.engines.acked == [1]
    assert rig.look().icon is not IconState.CONNECTED


def test_entry_listeners_get_every_member_entry_and_a_failing_one_harms_nothing(tmp_path: Path) -> None:
    got: list[tuple[int, str | None]] = []

    def listener(entry: Any, notice: Any) -> None:
        got.append((entry.entry_id, notice.title if notice else None))

    def broken(entry: Any, notice: Any) -> None:
        raise RuntimeError("page down")

    rig = Rig(tmp_path, listeners=[broken, listener])
    rig.handle(make_entry(1))
    rig.handle(make_entry(2, access="empleado"))
    assert rig.loop.listeners.drain()
    assert got == [(1, "Socio1 Prueba")] and [n.entry_id for n in rig.shown] == [1]
    # the listeners' own barrier caught it; the desk's error state is for the desk (notices still work)
    assert rig.loop.listeners.failures == 1 and rig.loop.failures == 0


def test_a_listener_that_blocks_never_stalls_the_notices_and_a_full_queue_drops_for_it_only(tmp_path: Path) -> None:
    """The page hook stuck (a browser that stopped reading): the next entries are still shown and acked at
    once; the listener gets them when it wakes up, up to its queue's bound."""
    release = threading.Event()
    got: list[int] = []

    def stuck(entry: Any, notice: Any) -> None:
        release.wait(10)
        got.append(entry.entry_id)

    rig = Rig(tmp_path, listeners=[stuck])
    rig.loop.listeners = ListenerPump([stuck], maxsize=2)
    started = time.monotonic()
    for i in range(1, 6):
        rig.handle(make_entry(i))
        rig.clock.t += 60  # no flood control in the way
    assert time.monotonic() - started < 2.0
    assert [n.entry_id for n in rig.shown] == [1, 2, 3, 4, 5] and rig.engines.acked == [1, 2, 3, 4, 5]
    release.set()
    assert rig.loop.listeners.drain()
    assert got[0] == 1 and len(got) in (2, 3) and rig.loop.listeners.dropped == 5 - len(got)


class SlowEngine:
    """An engine whose stop hangs (a DNS lookup for the old host): the slot abandons it."""

    def __init__(self, events: queue.Queue[Event], hang: bool) -> None:
        self.events, self.hang = events, hang
        self.started = self.abandoned = False
        self.acked: list[int] = []

    def start(self) -> None:
        self.started = True

    def stop(self, timeout_s: float = 1.0) -> bool:
        if self.hang:
            time.sleep(timeout_s)
            return False
        return True

    def reconnect_now(self) -> None: ...

    def ack(self, entry_id: int) -> None:
        self.acked.append(entry_id)

    def abandon(self) -> None:
        self.abandoned = True


def test_reload_swaps_engines_and_a_hung_one_is_abandoned_with_its_late_events_ignored() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    made: list[SlowEngine] = []

    def factory(hang: bool) -> Any:
        def make(events: queue.Queue[Event]) -> SlowEngine:
            made.append(SlowEngine(events, hang))
            return made[-1]

        return make

    slot = EngineSlot(inbox, factory(hang=True))
    slot.start()
    t0 = time.monotonic()
    assert slot.swap(factory(hang=False), join_s=0.2) is False
    assert time.monotonic() - t0 < 1.0  # bounded
    old, new = made
    assert old.abandoned and new.started and slot.generation == 2 and slot.abandoned == [old]
    old.events.put(StateChanged(ConnState.BACKING_OFF, reason="old host"))  # a late event of the hung engine
    new.events.put(StateChanged(ConnState.LISTENING))
    late, fresh = inbox.get_nowait(), inbox.get_nowait()
    assert (late.generation, fresh.generation) == (1, 2)
    slot.ack([7])
    assert new.acked == [7] and old.acked == []
    assert slot.swap(factory(hang=False), join_s=0.2) is True and slot.generation == 3


def test_a_photo_lookup_that_raises_never_swallows_the_entry(tmp_path: Path) -> None:
    """Any bug in the photo source's lookups (found: a ``foto_url`` like ``http://[x`` made ``urlsplit`` raise
    inside ``Photos.cached`` before the photos helper fixed it) must not lose the entry: shown without a photo."""

    class BrokenPhotos(NoPhotos):
        def cached(self, member: Any) -> Any:
            raise ValueError("Invalid IPv6 URL")

    rig = Rig(tmp_path, photos=BrokenPhotos())
    rig.handle(make_entry(1, photo_url="http://[broken/x.jpg"))
    assert [n.entry_id for n in rig.shown] == [1] and rig.engines.acked == [1]
    assert rig.shown[0].photo_path is None


def test_a_sustained_stream_of_items_never_starves_the_timers_nor_quit(tmp_path: Path) -> None:
    """Items arriving as fast as they are handled (here a call that posts itself again, and moves the fake clock
    10 ms): the photo budget still runs out (the held entry is shown) and ``duration`` still ends the loop."""

    class NeverPhotos(NoPhotos):
        def needs_fetch(self, member: Any) -> bool:
            return True

    rig = Rig(tmp_path, photos=NeverPhotos())
    rig.handle(make_entry(1, photo_url="http://photos.example/1.jpg"))
    assert rig.shown == []  # held for its photo (800 ms)

    def again() -> None:
        rig.clock.t += 0.01
        rig.mailbox.call(again)

    rig.mailbox.call(again)
    worker = threading.Thread(target=rig.loop.run, args=(5.0,), daemon=True)
    worker.start()
    worker.join(10.0)
    alive = worker.is_alive()
    rig.mailbox.quit_now()
    assert not alive, "the loop never looked at its timers or its end"
    assert [n.entry_id for n in rig.shown] == [1]


def test_a_reload_asked_for_while_one_runs_is_done_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings saved while a reload runs (the keyring retry's, reading the old file): that reload read the old
    configuration, so one more must follow; several requests meanwhile make one more, not several."""
    from agent.desk import compose

    gate, reads = threading.Event(), []

    def source() -> compose.Reading:
        reads.append(time.monotonic())
        if len(reads) == 1:
            gate.wait(5)  # the first reload is slow (keyring timeout, a hung old engine)
        return compose.Reading("host=x")

    monkeypatch.setattr(compose, "_engine_factory", lambda opts, reading: lambda q: SlowEngine(q, hang=False))
    mailbox = Mailbox(presenter.Snapshot(None, None))  # type: ignore[arg-type]
    slot = EngineSlot(mailbox.inbox, lambda q: SlowEngine(q, hang=False))
    reloader = compose._Reloader(compose.AgentOptions(dsn="", reload=source), slot, mailbox)
    reloader.start()
    deadline = time.monotonic() + 5
    while not reads and time.monotonic() < deadline:
        time.sleep(0.01)
    reloader.start()  # "settings saved" while the first one runs
    reloader.start()
    gate.set()
    deadline = time.monotonic() + 5
    while (len(reads) < 2 or reloader._thread is not None) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(reads) == 2 and slot.generation == 3
