"""The desk's adapters that can run here without a desktop: single instance, the notifier chain and its
fallbacks, balloon and console notifiers, logging (no std streams, redaction, excepthooks), the state and tone
icons. (The bounded keyring read is the conn helper's ``agent.deploy.keyring_access``, tested there and
through the tray in ``test_desk_cli.py``.) (Copying assets out of a one-file bundle moved with the choosers:
``tests/test_choose.py``.) (Moved from the old ``test_tray_menu.py`` and extended.)"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from pathlib import Path

import pytest
from desk_rig import PYSTRAY  # noqa: F401 (pystray on the dummy backend before anything imports it)

from agent import logging_setup
from agent.adapters.notifier_api import NotifierUnavailable
from agent.adapters.notifier_balloon import BalloonNotifier
from agent.adapters.notifier_console import ConsoleNotifier, format_line
from agent.adapters.single_instance_posix import LockFileInstance
from agent.core.notify_text import Notice, Urgency
from agent.desk import wiring


def test_single_instance_lock(tmp_path: Path) -> None:
    first, second = LockFileInstance("agent", tmp_path), LockFileInstance("agent", tmp_path)
    assert first.acquire()
    assert not second.acquire()
    assert (tmp_path / "agent.lock").read_text().strip() == str(os.getpid())
    first.release()
    assert second.acquire()
    second.release()


def test_notifier_chain_selection_and_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/aviso-bus")

    def names(choice: str) -> list[str]:
        return [n.name for n in wiring.make_notifiers(choice, tray=None, on_click=lambda n: None)]

    assert names("null") == ["null"]
    assert names("dbus") == ["console"]  # no session bus here
    assert names("balloon") == ["console"]  # no tray
    assert names("winrt") == ["console"]  # not Windows
    assert names("auto") == ["console"]
    assert wiring.notifier_order("auto") == ["dbus", "balloon", "console"]
    with pytest.raises(ValueError, match="AVISO_NOTIFIER"):
        wiring.make_notifiers("growl", tray=None, on_click=lambda n: None)


def test_windows_notifier_says_why_it_is_unavailable() -> None:
    from agent.adapters.notifier_windows import WinRtNotifier

    with pytest.raises(NotifierUnavailable, match="only on Windows"):
        WinRtNotifier("AvisoEntradas", "Aviso de Entradas")


def test_balloon_and_console_notifiers() -> None:
    shown: list[tuple[str, str]] = []
    balloon = BalloonNotifier(lambda t, b: shown.append((t, b)) is None)
    balloon.show(Notice("Ana López", "Plan Mensual\nVENCIDA hace 2 días", urgency=Urgency.CRITICAL))
    assert shown == [("⚠ Ana López", "Plan Mensual\nVENCIDA hace 2 días")]
    buf = io.StringIO()
    ConsoleNotifier(buf).show(Notice("Ana López", "Plan Mensual\nAl día"))
    assert buf.getvalue() == "[i] Ana López — Plan Mensual | Al día\n"
    assert format_line(Notice("T", "", urgency=Urgency.CRITICAL)) == "[!] T"


def _drop_our_handlers() -> None:
    for h in list(logging.getLogger().handlers):
        if getattr(h, "_aviso", False):
            logging.getLogger().removeHandler(h)
            h.close()


def test_logging_works_without_std_streams_and_redacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(logging_setup, "_WINDOWED", [])  # this process is not really windowed afterwards
    path = logging_setup.setup_logging("INFO", path=tmp_path / "a.log")
    try:
        assert logging_setup.windowed()
        print("no crash")  # a windowed exe's print
        logging.getLogger("agent.test").info("dsn host=x password=s3cr3t user=pos_user")
        logging.getLogger("agent.test").info("url %s", "postgresql://pos_user:s3cr3t@h/db")
        for h in logging.getLogger().handlers:
            h.flush()
        text = path.read_text(encoding="utf-8")
        assert "s3cr3t" not in text
        assert "password=*** user=pos_user" in text and "postgresql://pos_user:***@h/db" in text
    finally:
        _drop_our_handlers()


def test_uncaught_exceptions_of_any_thread_reach_the_log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    path = logging_setup.setup_logging("INFO", console=False, path=tmp_path / "a.log")
    logging_setup.install_excepthooks()
    try:

        def boom() -> None:
            raise LookupError("thread went wrong")

        t = threading.Thread(target=boom, name="aviso-test-thread")
        t.start()
        t.join()
        try:
            raise KeyError("main went wrong")
        except KeyError:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
        for h in logging.getLogger().handlers:
            h.flush()
        text = path.read_text(encoding="utf-8")
        assert "uncaught exception in thread aviso-test-thread" in text and "LookupError: thread went wrong" in text
        assert "uncaught exception: the agent stops" in text and "KeyError: 'main went wrong'" in text
    finally:
        _drop_our_handlers()


def test_every_icon_state_has_its_asset() -> None:
    for state, path in wiring.icon_paths().items():
        assert path.is_file(), state
        assert path.with_suffix(".ico").is_file(), state


def test_tone_icons_exist_for_every_member_tone() -> None:
    from agent.core.notify_text import Notice, Tone

    for tone in Tone:
        icon = wiring.tone_icon(Notice("x", "", tone=tone))
        assert (icon is None) == (tone is Tone.NEUTRAL)
        assert icon is None or icon.is_file()


def test_a_fatal_start_up_error_is_a_message_box_in_a_windowed_windows_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows' ``MessageBoxW`` cannot run here: a fake ``ctypes.windll`` (the OS boundary) records the call."""
    import ctypes

    from agent.desk import fatal

    calls: list[tuple[object, ...]] = []

    class User32:
        def MessageBoxW(self, *args: object) -> int:
            calls.append(args)
            return 1

    class WinDLL:
        user32 = User32()

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "windll", WinDLL(), raising=False)
    fatal.tell("La configuración no es válida", windowed=True, title="Aviso de Entradas no pudo iniciar")
    assert calls == [(None, "La configuración no es válida", "Aviso de Entradas no pudo iniciar", 0x10)]
    assert "La configuración no es válida" in capsys.readouterr().err
    fatal.tell("otra", windowed=False)  # a console build: stderr only
    assert len(calls) == 1


def test_a_windowed_build_leaves_the_console_out_of_the_chain() -> None:
    """Its stdout is a null writer: a printed notice would be "shown" to nobody and acknowledged."""
    chain = [BalloonNotifier(lambda t, b: True), ConsoleNotifier(io.StringIO())]
    assert [n.name for n in wiring.visible_only(chain, windowed=False)] == ["balloon", "console"]
    assert [n.name for n in wiring.visible_only(chain, windowed=True)] == ["balloon"]
    (nowhere,) = wiring.visible_only([ConsoleNotifier(io.StringIO())], windowed=True)
    assert nowhere.show(Notice("x", "")) is False  # never acknowledged unseen


def test_a_balloon_that_cannot_fail_is_left_out_of_the_chain() -> None:
    """pystray's gtk/appindicator balloons are scheduled with ``idle_add`` through the same daemon, their errors
    swallowed: with the daemon down the balloon "accepted" every entry (acked unseen). Kept on win32 and when the
    backend is unknown; the console still follows."""
    chain = [BalloonNotifier(lambda t, b: True), ConsoleNotifier(io.StringIO())]
    for backend in ("gtk", "appindicator"):
        assert [n.name for n in wiring.visible_only(chain, windowed=False, tray_backend=backend)] == ["console"]
        (nowhere,) = wiring.visible_only(chain, windowed=True, tray_backend=backend)
        assert nowhere.show(Notice("x", "")) is False
    assert [n.name for n in wiring.visible_only(chain, windowed=True, tray_backend="win32")] == ["balloon"]
