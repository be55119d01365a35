"""The tray controller and its menu, headless: pystray's ``dummy`` backend builds the real pystray menu objects,
whose items the tests activate as a click would; notices go to the recording notifier. Also the adapters that
can run here without a desktop (single instance, logging, notifier selection and fallbacks)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import queue
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fakes import RecordingNotifier

from agent import logging_setup
from agent.adapters.notifier_api import NotifierUnavailable
from agent.adapters.notifier_balloon import BalloonNotifier
from agent.adapters.notifier_console import ConsoleNotifier, format_line
from agent.adapters.single_instance_posix import LockFileInstance
from agent.adapters.tray_pystray import PystrayTray
from agent.core.config import NotificationSettings, Settings
from agent.core.events import BacklogSummary, ConnState, EntryReceived, Event, StateChanged
from agent.core.model import Entry, Member, Source
from agent.core.notify_text import Notice, NoticeKind, Urgency
from agent.core.tray_model import IconState, MenuItemSpec
from agent.desk import app

# pystray binds its backend when first imported: import it once with the dummy backend, then restore the
# environment so that processes other tests start are not affected.
_saved_backend = os.environ.get("PYSTRAY_BACKEND")
os.environ["PYSTRAY_BACKEND"] = "dummy"
import pystray  # noqa: E402 (the backend is chosen at import)

if _saved_backend is None:
    del os.environ["PYSTRAY_BACKEND"]
else:
    os.environ["PYSTRAY_BACKEND"] = _saved_backend

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Engine:
    def __init__(self) -> None:
        self.reconnects = 0
        self.acked: list[int] = []

    def ack(self, entry_id: int) -> None:
        self.acked.append(entry_id)

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float = 1.0) -> bool:
        return True

    def reconnect_now(self) -> None:
        self.reconnects += 1


def make_entry(
    i: int, *, access: str = "miembro", expired: bool = False, source: Source = Source.LIVE
) -> EntryReceived:
    member = Member(
        member_id=100 + i,
        first_name=f"Socio{i}",
        last_name="Prueba",
        plan="Mensual",
        expires_on=NOW.date() + dt.timedelta(days=-3 if expired else 30),
        balance_due=Decimal(0),
    )
    entry = Entry(
        entry_id=i,
        member_id=member.member_id if access == "miembro" else None,
        occurred_at=NOW + dt.timedelta(seconds=i),
        access_type=access,
        member=member if access == "miembro" else None,
    )
    return EntryReceived(entry, source, 0.0)


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    class Rig:
        pass

    r = Rig()
    r.clock = Clock()
    r.notifier = RecordingNotifier()
    r.engine = Engine()
    r.opened: list[Path] = []
    r.log = tmp_path / "aviso.log"
    r.controller = app.TrayController(
        notifier=r.notifier,
        lang="es",
        engine=r.engine,
        log_file=r.log,
        clock=r.clock,
        wall=lambda: NOW,
        tz=dt.UTC,
        open_file=r.opened.append,
    )
    r.controller.keep_shown = True
    r.tray = PystrayTray("AvisoTest", "Aviso", app.icon_paths(), lambda: r.controller.menu_items(has_menu=True))
    r.controller.tray = r.tray
    return r


def items(menu: Any) -> list[Any]:
    return list(menu)


def find(menu: Any, text: str) -> Any:
    for item in menu:
        if item.text == text:
            return item
    raise AssertionError(f"no menu item {text!r} in {[i.text for i in menu]}")


def click(rig: Any, text: str) -> None:
    find(rig.tray.pystray_menu(), text)(rig.tray.icon)
    rig.controller.run_commands()


def test_the_dummy_backend_is_in_use() -> None:
    assert pystray.Icon.__module__ == "pystray._dummy" or pystray.Icon.__module__ == "pystray._base"


def test_menu_in_spanish_with_its_items_in_order(rig: Any) -> None:
    texts = [i.text for i in items(rig.tray.pystray_menu())]
    assert texts == [
        "Conectando…",
        "- - - -",
        "Pausar 15 min",
        "Pausar 1 h",
        "Pausar hasta reanudar",
        "Reanudar avisos",
        "- - - -",
        "Últimas entradas",
        "Notificación de prueba",
        "Reconectar ahora",
        "Abrir registro",
        "- - - -",
        "Salir",
    ]
    menu = rig.tray.pystray_menu()
    assert not find(menu, "Conectando…").enabled
    assert not find(menu, "Reanudar avisos").enabled
    recent = find(menu, "Últimas entradas").submenu
    assert [(i.text, i.enabled) for i in recent] == [("(ninguna todavía)", False)]


def test_menu_in_english(rig: Any) -> None:
    controller = app.TrayController(notifier=RecordingNotifier(), lang="en", clock=Clock(), wall=lambda: NOW)
    specs = controller.menu_items()
    texts = [s.text for s in specs if isinstance(s.text, str) and s.text]
    assert texts == [
        "Pause 15 min",
        "Pause 1 h",
        "Pause until resumed",
        "Resume notifications",
        "Last entries",
        "Test notification",
        "Reconnect now",
        "Open log file",
        "Quit",
    ]


def test_entry_notifies_and_updates_tooltip_and_icon(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.LISTENING, server="10.0.0.5:5432/torniquete_db"))
    c.handle(make_entry(1))
    c.handle(make_entry(2, access="visitante"))
    c.handle(make_entry(3, access="empleado"))
    assert [n.title for n in rig.notifier.notices] == ["Socio1 Prueba"]
    state = c.tray_state()
    assert state.icon is IconState.CONNECTED
    assert state.tooltip == "Aviso de Entradas: Conectado\n1 entrada hoy\nServidor: 10.0.0.5:5432/torniquete_db"
    rig.clock.t += 1.0  # entries refresh the tray at most once a second
    c.tick()
    assert rig.tray.icon.title == state.tooltip
    assert find(rig.tray.pystray_menu(), "Conectado").text == "Conectado"


def test_pause_from_the_menu_holds_entries_and_resume_gives_one_summary(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.LISTENING))
    click(rig, "Pausar 15 min")
    assert c.tray_state().icon is IconState.PAUSED
    assert "En pausa hasta las 10:15" in c.tray_state().tooltip
    assert find(rig.tray.pystray_menu(), "Reanudar avisos").enabled
    for i in range(4):
        c.handle(make_entry(i, expired=(i == 2)))
    assert rig.notifier.notices == []
    # the pause survives a reconnect
    c.handle(StateChanged(ConnState.BACKING_OFF, reason="Conexión perdida", retry_in_s=2))
    c.handle(StateChanged(ConnState.LISTENING))
    assert c.gate.paused(rig.clock()) and c.tray_state().icon is IconState.PAUSED
    click(rig, "Reanudar avisos")
    (summary,) = rig.notifier.notices
    assert summary.title == "Avisos reanudados: 4 entradas durante la pausa"
    assert summary.body.split("\n") == [
        "Socio0 Prueba, Socio1 Prueba, Socio2 Prueba, Socio3 Prueba",
        "1 con aviso: Socio2 Prueba",
    ]
    assert summary.urgency is Urgency.CRITICAL
    assert c.tray_state().icon is IconState.CONNECTED


def test_timed_pause_ends_by_itself(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.LISTENING))
    click(rig, "Pausar 1 h")
    c.handle(make_entry(1))
    rig.clock.t += 3599
    c.tick()
    assert rig.notifier.notices == []
    rig.clock.t += 1
    c.tick()
    assert [n.title for n in rig.notifier.notices] == ["Avisos reanudados: 1 entrada durante la pausa"]


def test_pause_until_resumed(rig: Any) -> None:
    click(rig, "Pausar hasta reanudar")
    rig.clock.t += 10 * 3600
    rig.controller.tick()
    assert "En pausa hasta reanudar" in rig.controller.tray_state().tooltip
    click(rig, "Reanudar avisos")
    assert rig.notifier.notices[-1].title == "Avisos reanudados: ninguna entrada durante la pausa"


def test_recent_entries_keep_the_last_ten_and_show_again(rig: Any) -> None:
    c = rig.controller
    for i in range(12):
        c.handle(make_entry(i))
        rig.clock.t += 60  # no flood control in the way
    c.tick()
    recent = find(rig.tray.pystray_menu(), "Últimas entradas").submenu
    texts = [i.text for i in recent]
    assert len(texts) == 10
    assert texts[0] == "10:00  Socio11 Prueba" and texts[-1] == "10:00  Socio2 Prueba"
    recent_items = list(recent)
    recent_items[3](rig.tray.icon)
    c.run_commands()
    again = rig.notifier.notices[-1]
    assert again.title == "Socio8 Prueba" and again.kind is NoticeKind.REPLAY


def test_test_notification_works_while_paused(rig: Any) -> None:
    click(rig, "Pausar hasta reanudar")
    click(rig, "Notificación de prueba")
    (n,) = rig.notifier.notices
    assert n.kind is NoticeKind.TEST and n.title == "Notificación de prueba"
    assert "Conectando…" in n.body


def test_reconnect_open_log_and_quit(rig: Any) -> None:
    click(rig, "Reconectar ahora")
    assert rig.engine.reconnects == 1
    click(rig, "Abrir registro")
    assert rig.opened == [rig.log]
    assert not rig.controller.stopping
    click(rig, "Salir")
    assert rig.controller.stopping


def test_flood_control_in_the_controller(rig: Any) -> None:
    c = rig.controller
    k = NotificationSettings().flood_max_count  # the default, 4
    for i in range(9):
        c.handle(make_entry(i))
    assert len(rig.notifier.notices) == k
    rig.clock.t += 3.1
    c.tick()
    assert len(rig.notifier.notices) == k + 1
    assert rig.notifier.notices[-1].title == f"{9 - k} entradas más"


def test_catchup_is_one_summary_and_backlog_one_notice(rig: Any) -> None:
    c = rig.controller
    for i in range(20):
        c.handle(make_entry(i, source=Source.CATCHUP))
    c.handle(BacklogSummary(300, NOW - dt.timedelta(hours=5), NOW - dt.timedelta(hours=1)))
    rig.clock.t += 1.1
    c.tick()
    titles = [n.title for n in rig.notifier.notices]
    assert titles == ["Entradas anteriores", "20 entradas mientras no había conexión"]
    assert c.today_count == 20


def test_click_without_a_menu_toggles_pause(rig: Any) -> None:
    c = rig.controller
    tray = PystrayTray("AvisoTest2", "Aviso", app.icon_paths(), lambda: c.menu_items(has_menu=False))
    tray.pystray_menu()(tray.icon)  # what a left click on an xorg tray icon does
    c.run_commands()
    assert c.gate.paused(rig.clock())
    tray.pystray_menu()(tray.icon)
    c.run_commands()
    assert not c.gate.paused(rig.clock())
    assert rig.notifier.notices[-1].title.startswith("Avisos reanudados")


def test_menu_extensions_go_above_quit_and_can_post(rig: Any) -> None:
    ran: list[str] = []

    def extension(ctx: app.MenuContext) -> list[MenuItemSpec]:
        return [MenuItemSpec(text="Configuración…", action=lambda: ctx.post(lambda: ran.append(ctx.lang)), key="x")]

    c = app.TrayController(notifier=rig.notifier, clock=rig.clock, wall=lambda: NOW, extensions=[extension])
    tray = PystrayTray("AvisoTest3", "Aviso", app.icon_paths(), lambda: c.menu_items())
    texts = [i.text for i in tray.pystray_menu()]
    assert texts[-3:] == ["Configuración…", "- - - -", "Salir"]
    find(tray.pystray_menu(), "Configuración…")(tray.icon)
    assert ran == []  # posted, not run on the tray's thread
    c.run_commands()
    assert ran == ["es"]


def test_failing_extension_does_not_break_the_menu(rig: Any) -> None:
    def broken(ctx: app.MenuContext) -> list[MenuItemSpec]:
        raise RuntimeError("boom")

    c = app.TrayController(notifier=rig.notifier, clock=rig.clock, wall=lambda: NOW, extensions=[broken])
    assert c.menu_items()[-1].key == "quit"


def test_tooltip_fits_windows_limit_and_counts_down(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.BACKING_OFF, reason="x" * 300, retry_in_s=10, server="a" * 40))
    state = c.tray_state()
    assert state.icon is IconState.ERROR and len(state.tooltip) <= 127
    assert state.tooltip.split("\n") == [
        "Aviso de Entradas: Sin conexión, reintento en 10 s",
        "x" * 59 + "…",
        "0 entradas hoy",
    ]
    rig.clock.t += 4
    assert c.tray_state().tooltip.startswith("Aviso de Entradas: Sin conexión, reintento en 6 s")
    c.handle(StateChanged(ConnState.AUTH_FAILED, reason="Contraseña incorrecta"))
    assert "Contraseña rechazada" in c.tray_state().tooltip


def test_today_count_resets_at_midnight() -> None:
    days = [NOW]
    c = app.TrayController(notifier=RecordingNotifier(), clock=Clock(), wall=lambda: days[0], tz=dt.UTC)
    c.handle(make_entry(1))
    c.handle(make_entry(2))
    days[0] = NOW + dt.timedelta(days=1)
    c.handle(make_entry(3))
    assert c.today_count == 1


def test_run_loop_drains_the_queue_and_stops_the_tray() -> None:
    notifier = RecordingNotifier()
    stopped: list[bool] = []

    class Tray:
        name, has_menu, backend = "fake", True, "fake"

        def run(self, ready: Any) -> None: ...
        def update(self, state: Any) -> None: ...
        def refresh_menu(self) -> None: ...
        def balloon(self, title: str, body: str) -> bool:
            return False

        def stop(self) -> None:
            stopped.append(True)

    c = app.TrayController(notifier=notifier, tray=Tray())
    events: queue.Queue[Event] = queue.Queue()
    worker = threading.Thread(target=c.run, args=(events, 5.0))
    worker.start()
    events.put(make_entry(1, access="visitante"))
    events.put(make_entry(2))
    assert [n.title for n in notifier.wait_for(1, 2.0)] == ["Socio2 Prueba"]
    t0 = time.monotonic()
    c.request_test()  # a menu command wakes the loop at once, not at its next tick
    assert [n.kind for n in notifier.wait_for(2, 2.0)][1] is NoticeKind.TEST
    assert time.monotonic() - t0 < app.TICK_S / 2
    c.request_quit_now()
    worker.join(2.0)
    assert not worker.is_alive() and stopped == [True]
    assert time.monotonic() - t0 < app.TICK_S


def test_click_action_runs_a_command_with_the_member_id(tmp_path: Path) -> None:
    out = tmp_path / "clicked.txt"
    settings = Settings(
        notifications=NotificationSettings(
            click_action=f"{sys.executable} -c \"open(r'{out}', 'w').write('{{id_miembro}}')\""
        )
    )
    c = app.TrayController(notifier=RecordingNotifier(), settings=settings)
    c.on_click(Notice("x", "y", member_id=45))
    c.run_commands()
    for _ in range(100):
        if out.exists() and out.read_text():
            break
        threading.Event().wait(0.05)
    assert out.read_text() == "45"


# -- adapters that run here -------------------------------------------------------------------------------------
def test_single_instance_lock(tmp_path: Path) -> None:
    first, second = LockFileInstance("agent", tmp_path), LockFileInstance("agent", tmp_path)
    assert first.acquire()
    assert not second.acquire()
    assert (tmp_path / "agent.lock").read_text().strip() == str(os.getpid())
    first.release()
    assert second.acquire()
    second.release()


def test_notifier_selection_and_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/aviso-bus")
    assert app.make_notifier("null", None, lambda n: None).name == "null"
    assert app.make_notifier("dbus", None, lambda n: None).name == "console"  # no session bus here
    assert app.make_notifier("balloon", None, lambda n: None).name == "console"  # no tray
    assert app.make_notifier("winrt", None, lambda n: None).name == "console"  # not Windows
    with pytest.raises(ValueError, match="AVISO_NOTIFIER"):
        app.make_notifier("growl", None, lambda n: None)


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


def test_logging_works_without_std_streams_and_redacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    path = logging_setup.setup_logging("INFO", path=tmp_path / "a.log")
    try:
        print("no crash")  # a windowed exe's print
        logging.getLogger("agent.test").info("dsn host=x password=s3cr3t user=pos_user")
        logging.getLogger("agent.test").info("url %s", "postgresql://pos_user:s3cr3t@h/db")
        for h in logging.getLogger().handlers:
            h.flush()
        text = path.read_text(encoding="utf-8")
        assert "s3cr3t" not in text
        assert "password=*** user=pos_user" in text and "postgresql://pos_user:***@h/db" in text
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "_aviso", False):
                logging.getLogger().removeHandler(h)
                h.close()


def test_headless_prints_connection_changes_once_not_every_retry() -> None:
    lines: list[str] = []
    c = app.TrayController(notifier=RecordingNotifier(), clock=Clock(), wall=lambda: NOW, on_state=lines.append)
    for _ in range(3):
        c.handle(StateChanged(ConnState.CONNECTING))
        c.handle(StateChanged(ConnState.BACKING_OFF, reason="El torniquete rechazó la conexión", retry_in_s=2))
    c.handle(StateChanged(ConnState.CONNECTING))
    c.handle(StateChanged(ConnState.LISTENING, server="127.0.0.1:5432/torniquete_db"))
    assert lines == ["· Sin conexión — El torniquete rechazó la conexión", "· Conectado — 127.0.0.1:5432/torniquete_db"]


def test_demo_headless_end_to_end(tmp_path: Path) -> None:
    """``python -m agent demo --headless``: embedded PostgreSQL, simulated turnstile, console notices."""
    import subprocess

    env = dict(os.environ, AVISO_LOG_DIR=str(tmp_path / "log"), AVISO_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("AVISO_LANG", None)
    args = ["demo", "--headless", "--duration", "20", "--interval", "0.5", "--flood-max", "100"]
    proc = subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    print(proc.stdout)  # shown when an assertion below fails
    assert any(line.startswith("· Conectado — 127.0.0.1:") for line in lines)
    turnstile = [line.removeprefix("torniquete: ") for line in lines if line.startswith("torniquete: Entrada ")]
    inserted = [line.split(": ", 1)[1] for line in turnstile]
    members_in = [text.split(" (")[0].removeprefix("miembro ") for text in inserted if text.startswith("miembro ")]
    notices = [line for line in lines if line.startswith(("[i] ", "[!] "))]
    titles = [line[4:].split(" — ")[0] for line in notices]
    assert len(members_in) >= 6 and any(t.startswith(("visitante", "empleado")) for t in inserted)
    assert titles == members_in[: len(titles)] and len(titles) >= len(members_in) - 1
    assert "[!] José Ángel Muñoz Ibáñez — Plan Trimestral · Entrada " in proc.stdout
    assert "VENCIDA hace 12 días" in proc.stdout and "ACCESO DENEGADO" in proc.stdout


def test_reload_settings_from_a_menu_extension_swaps_settings_and_keeps_the_pause(rig: Any) -> None:
    c = rig.controller
    new = Settings(notifications=NotificationSettings(flood_max_count=1, flood_window_s=60, click_action="x"))
    calls: list[str] = []

    def handler() -> Settings:
        calls.append("reloaded")
        return new

    c.reload_handler = handler
    click(rig, "Pausar hasta reanudar")
    c.menu_context.reload_settings()  # what the settings window's "saved" does, from its waiting thread
    c.run_commands()
    assert calls == ["reloaded"] and c.click_action == "x" and c.gate.flood.max_count == 1
    assert c.gate.paused(rig.clock())
    click(rig, "Reanudar avisos")
    c.handle(make_entry(1))
    c.handle(make_entry(2))
    assert [n.title for n in rig.notifier.notices][-1] == "Socio1 Prueba"  # the second one is held (1 per 60 s)


def test_reload_without_a_handler_reconnects(rig: Any) -> None:
    rig.controller.menu_context.reload_settings()
    rig.controller.run_commands()
    assert rig.engine.reconnects == 1


def test_stable_asset_copies_out_of_a_one_file_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    icon = tmp_path / "bundle" / "app.ico"
    icon.parent.mkdir()
    icon.write_bytes(b"ico-bytes")
    assert app.stable_asset(icon) == icon  # not frozen: used in place
    monkeypatch.setattr(sys, "_MEIPASS", str(icon.parent), raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    copy = app.stable_asset(icon)
    assert copy != icon and copy.read_bytes() == b"ico-bytes" and str(tmp_path / "data") in str(copy)


def test_one_notice_per_outage_and_one_when_back(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.LISTENING))
    for _ in range(10):  # a long outage with many retries
        c.handle(StateChanged(ConnState.CONNECTING))
        c.handle(StateChanged(ConnState.BACKING_OFF, reason="El torniquete rechazó la conexión.", retry_in_s=5))
        rig.clock.t += 5
        c.tick()
    c.handle(StateChanged(ConnState.LISTENING))
    c.tick()
    assert [(n.title, n.body) for n in rig.notifier.notices] == [
        (
            "Sin conexión con el torniquete",
            "No llegarán avisos hasta que vuelva la conexión. El torniquete rechazó la conexión.",
        ),
        (
            "Conexión restablecida",
            "Los avisos vuelven a funcionar. Las entradas de la interrupción se muestran en un resumen.",
        ),
    ]
    # a short blip says nothing
    c.handle(StateChanged(ConnState.BACKING_OFF, reason="x", retry_in_s=1))
    rig.clock.t += 5
    c.tick()
    c.handle(StateChanged(ConnState.LISTENING))
    assert len(rig.notifier.notices) == 2


def test_rejected_password_at_start_is_a_critical_notice_but_not_while_paused(rig: Any) -> None:
    c = rig.controller
    c.handle(StateChanged(ConnState.AUTH_FAILED, reason="Contraseña incorrecta para pos_user.", retry_in_s=60))
    rig.clock.t += 21
    c.tick()
    (n,) = rig.notifier.notices
    assert n.urgency is Urgency.CRITICAL and n.body.endswith("Contraseña incorrecta para pos_user.")
    quiet = app.TrayController(notifier=RecordingNotifier(), clock=rig.clock, wall=lambda: NOW)
    quiet.request_pause(None)
    quiet.run_commands()
    rig.clock.t += 30
    quiet.tick()
    assert quiet.notifier.notices == []  # type: ignore[attr-defined]


def test_idle_controller_sleeps_long_but_counts_down_when_needed(rig: Any) -> None:
    c = rig.controller
    now = rig.clock()
    assert c._tick_s(now) == app.TICK_S  # connecting: the tooltip shows progress
    c.handle(StateChanged(ConnState.LISTENING, server="h:5432/db"))
    assert c._tick_s(rig.clock()) == app.IDLE_TICK_S  # connected and idle: fewer wakeups
    click(rig, "Pausar 15 min")
    assert c._tick_s(rig.clock()) == app.TICK_S  # the pause countdown is on screen
    click(rig, "Reanudar avisos")
    assert c._tick_s(rig.clock()) == app.IDLE_TICK_S
    c.handle(StateChanged(ConnState.BACKING_OFF, reason="x", retry_in_s=2.0))
    assert c._tick_s(rig.clock()) == app.TICK_S


def test_nan_balance_entry_is_shown_and_the_agent_goes_on(rig: Any) -> None:
    """A member with ``saldo_pendiente = 'NaN'`` used to raise in member_status and end the tray."""
    c = rig.controller
    bad = make_entry(1)
    member = bad.entry.member
    assert member is not None
    import dataclasses

    bad = dataclasses.replace(
        bad, entry=dataclasses.replace(bad.entry, member=dataclasses.replace(member, balance_due=Decimal("NaN")))
    )
    c.handle(bad)
    c.handle(make_entry(2))
    assert [n.title for n in rig.notifier.notices] == ["Socio1 Prueba", "Socio2 Prueba"]


def test_a_failing_entry_text_gives_a_plain_notice_and_is_logged_with_its_id(
    rig: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_a: Any, **_k: Any) -> Notice:
        raise ValueError("bad row")

    monkeypatch.setattr(app, "entry_notice", broken)
    with caplog.at_level(logging.ERROR, logger="agent.desk.app"):
        rig.controller.handle(make_entry(7))
    (shown,) = rig.notifier.notices
    assert (shown.title, shown.entry_id) == ("Socio7 Prueba", 7)
    assert shown.body == "Entrada 10:00\nEstado no disponible (ver el registro)"
    assert any("entry 7" in r.getMessage() and r.exc_info for r in caplog.records)


def test_an_exception_while_handling_an_event_never_stops_the_run_loop(
    rig: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken(entry: Any, **_k: Any) -> Notice:
        calls.append(entry.entry_id)
        raise ValueError("still bad")

    monkeypatch.setattr(app, "entry_notice", broken)
    monkeypatch.setattr(app, "plain_entry_notice", broken)
    c = rig.controller
    events: queue.Queue[Event] = queue.Queue()
    events.put(make_entry(3))
    events.put(StateChanged(ConnState.LISTENING, server="db:5432"))
    real = time.monotonic
    c.clock = real
    with caplog.at_level(logging.ERROR, logger="agent.desk.app"):
        c.run(events, duration_s=0.3)
    assert calls == [3, 3]
    assert c.conn.state is ConnState.LISTENING  # the event after the failing one was applied
    assert any("entry 3" in r.getMessage() for r in caplog.records if r.message.startswith("handling"))


def test_one_entry_over_the_flood_limit_is_shown_as_itself_not_as_one_more(rig: Any) -> None:
    c = rig.controller
    k = NotificationSettings().flood_max_count
    for i in range(k + 1):
        c.handle(make_entry(i, expired=i == k))
    assert len(rig.notifier.notices) == k
    rig.clock.t += 3.1
    c.tick()
    last = rig.notifier.notices[-1]
    assert len(rig.notifier.notices) == k + 1
    assert (last.title, last.kind, last.entry_id) == (f"Socio{k} Prueba", NoticeKind.ENTRY, k)
    assert "VENCIDA hace 3 días" in last.body and last.urgency is Urgency.CRITICAL


def test_demo_pace_stays_under_the_flood_limit_and_shows_every_status_in_the_first_minute() -> None:
    """The demo's denied entry used to be folded into "1 entrada más": its pace triggered flood control."""
    from agent.cli import tray as cli_tray
    from agent.core.flood import NoticeGate, Summarize
    from agent.db import demo_data

    keys = [m.key for m in demo_data.MEMBERS]
    ids = {key: 100 + i for i, key in enumerate(keys)}
    key_of = {v: k for k, v in ids.items()}
    plan = cli_tray.demo_plan(ids)
    notif = NotificationSettings()
    gate: NoticeGate[int] = NoticeGate(notif.flood_max_count, notif.flood_window_s)
    first_minute: list[str] = []
    outputs: list[Any] = []
    for step in range(len(plan) * 3):
        now = cli_tray.DEMO_FIRST_S + step * cli_tray.DEMO_INTERVAL_S
        item = plan[step % len(plan)]
        outputs += gate.tick(now)
        if item["access_type"] != "miembro":
            continue
        label = key_of[item["member_id"]] + ("/denied" if item["result"] == "denegado" else "")
        if now <= 60.0:
            first_minute.append(label)
        outputs += gate.submit(step, now)
    outputs += gate.tick(1e9)
    assert not [o for o in outputs if isinstance(o, Summarize)]
    assert {"current", "current2/denied", "expired", "expiring", "balance", "birthday"} <= set(first_minute)


def test_an_unreadable_keyring_is_the_reason_shown_not_a_rejected_password(rig: Any) -> None:
    from agent.core.advice import Problem, explain

    c = rig.controller
    keyring = "No hay un almacén de contraseñas del sistema utilizable (no Secret Service)."
    c.credentials_problem = lambda: keyring
    c.handle(StateChanged(ConnState.BACKING_OFF, explain(Problem.NO_PASSWORD, "es"), 1.0, "db:5432"))
    assert c.conn.reason == keyring
    assert keyring[:40] in c.tray_state().tooltip
    c.handle(StateChanged(ConnState.AUTH_FAILED, explain(Problem.AUTH_FAILED, "es"), 60.0, "db:5432"))
    assert c.conn.reason == keyring
    refused = explain(Problem.REFUSED, "es")
    c.handle(StateChanged(ConnState.BACKING_OFF, refused, 2.0, "db:5432"))
    assert c.conn.reason == refused  # a network problem is still said as such
    c.credentials_problem = lambda: ""
    c.handle(StateChanged(ConnState.BACKING_OFF, explain(Problem.NO_PASSWORD, "es"), 1.0, "db:5432"))
    assert c.conn.reason == explain(Problem.NO_PASSWORD, "es")


def test_tray_headless_without_a_keyring_says_so(db: Any, tmp_path: Path) -> None:
    """``env -u DBUS_SESSION_BUS_ADDRESS python -m agent tray --headless`` (configured, no keyring) used to say
    the server rejected the password."""
    import subprocess

    config = tmp_path / "user.toml"
    port = db.server.port
    config.write_text(
        f'[connection]\nhost = "127.0.0.1"\nport = {port}\ndatabase = "{db.name}"\nuser = "pos_user"\n',
        encoding="utf-8",
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DBUS_SESSION_BUS_ADDRESS", "PGPASSWORD", "AVISO_CREDENTIALS", "PYTHON_KEYRING_BACKEND")
        and not k.startswith("AVISO_")
    }
    env.update(
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PGPASSFILE=str(tmp_path / "no-pgpass"),
        AVISO_CONFIG_FILE=str(config),
        AVISO_MACHINE_CONFIG_FILE=str(tmp_path / "machine.toml"),
        AVISO_LOG_DIR=str(tmp_path / "log"),
        AVISO_RUNTIME_DIR=str(tmp_path / "run"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "tray", "--headless", "--duration", "3"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "No hay un almacén de contraseñas del sistema utilizable" in proc.stdout
    assert "DBUS_SESSION_BUS_ADDRESS" in proc.stdout  # the keyring's own reason, as configure says it
    assert "rechazó" not in proc.stdout and "Contraseña rechazada" not in proc.stdout


def test_lock_dir_without_xdg_runtime_dir_prints_no_warning(tmp_path: Path) -> None:
    """Every headless run printed platformdirs' ``RuntimeDirWarning: XDG_RUNTIME_DIR is not set``."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "AVISO_RUNTIME_DIR")}
    env.update(TMPDIR=str(tmp_path), PYTHONWARNINGS="default")
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')\n"
        "from agent.adapters.single_instance_posix import default_lock_dir, LockFileInstance\n"
        "d = default_lock_dir('AvisoLockTest'); print('DIR', d)\n"
        "assert LockFileInstance('x', d).acquire()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeDirWarning" not in proc.stderr and proc.stderr == ""
    assert f"DIR {tmp_path}/runtime-{os.getuid()}/AvisoLockTest" in proc.stdout
    assert "XDG_RUNTIME_DIR is not set" in proc.stdout  # logged, not lost


def test_demo_at_its_default_pace_shows_the_denied_entry_itself_and_prints_no_warning(tmp_path: Path) -> None:
    """Default interval and flood limit: the second simulated entry (a denied passage, 9 s in) is its own
    critical notice, not "1 entrada más"; no platformdirs warning without ``XDG_RUNTIME_DIR``."""
    import shutil
    import subprocess
    import tempfile

    # platformdirs' fallback is $TMPDIR/runtime-<uid>: a private TMPDIR keeps the demo's lock away from a demo
    # someone runs on this machine; it must be reachable by the postgres user (initdb runs as that user).
    tmpdir = tempfile.mkdtemp(prefix="aviso-demo-test-")
    os.chmod(tmpdir, 0o755)  # noqa: S103 (a test directory the postgres user must enter)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "AVISO_RUNTIME_DIR", "AVISO_LANG")}
    env.update(AVISO_LOG_DIR=str(tmp_path / "log"), TMPDIR=tmpdir)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "demo", "--headless", "--duration", "12"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeDirWarning" not in proc.stderr and "XDG_RUNTIME_DIR" not in proc.stderr
    lines = proc.stdout.splitlines()
    turnstile = [line for line in lines if line.startswith("torniquete: Entrada ")]
    assert len(turnstile) >= 2 and "(denegado)" in turnstile[1]
    assert any(line.startswith("[!] Lucía Fernández Guzmán — ") and "ACCESO DENEGADO" in line for line in lines), (
        "the denied passage must be its own notice"
    )
    assert not any("entrada más" in line or "entradas más" in line for line in lines)


def test_every_entry_handled_is_acknowledged_to_the_engine(rig: Any) -> None:
    """Shown, held for a summary, or paused: the engine may then count it as delivered in its saved cursor."""
    c = rig.controller
    for i in range(7):  # beyond the flood limit: some are held for the summary
        c.handle(make_entry(i))
    click(rig, "Pausar hasta reanudar")
    c.handle(make_entry(7))
    assert rig.engine.acked == list(range(8))
