"""The desk through its tray menu, headless: the real state, presenter and loop (its thread not started), a real
pystray menu on the ``dummy`` backend whose items are activated as a click would, the recording notifier.
(Moved from the old ``test_tray_menu.py`` when the controller was split.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from desk_rig import NOW, PYSTRAY, Rig, make_entry

from agent.core.config import NotificationSettings, Settings
from agent.core.events import BacklogSummary, ConnState, StateChanged
from agent.core.model import Source
from agent.core.notify_text import Notice, NoticeKind, Urgency
from agent.core.tray_model import IconState, MenuItemSpec
from agent.desk import state as desk_state
from agent.desk.app import MenuContext
from agent.desk.conn_watch import OUTAGE_NOTICE_S
from agent.desk.loop import IDLE_TICK_S, TICK_S


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_the_dummy_backend_is_in_use() -> None:
    assert PYSTRAY.Icon.__module__ in ("pystray._dummy", "pystray._base")


def test_menu_in_spanish_with_its_items_in_order(rig: Rig) -> None:
    texts = [i.text for i in rig.tray.pystray_menu()]
    assert texts == [
        "Conectando…",
        "- - - -",
        "Pausar 15 min",
        "Pausar 1 h",
        "Pausar hasta reanudar",
        "Reanudar avisos",
        "Solo avisos importantes",
        "- - - -",
        "Últimas entradas",
        "Notificación de prueba",
        "Reconectar ahora",
        "Abrir registro",
        "- - - -",
        "Salir",
    ]
    assert not rig.find("Conectando…").enabled
    assert not rig.find("Reanudar avisos").enabled
    assert not rig.find("Solo avisos importantes").checked
    recent = rig.find("Últimas entradas").submenu
    assert [(i.text, i.enabled) for i in recent] == [("(ninguna todavía)", False)]


def test_menu_in_english(tmp_path: Path) -> None:
    specs = Rig(tmp_path, lang="en").menu_items()
    texts = [s.text for s in specs if isinstance(s.text, str) and s.text]
    assert texts == [
        "Pause 15 min",
        "Pause 1 h",
        "Pause until resumed",
        "Resume notifications",
        "Warnings only",
        "Last entries",
        "Test notification",
        "Reconnect now",
        "Open log file",
        "Quit",
    ]


def test_entry_notifies_and_updates_tooltip_and_icon(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.LISTENING, server="10.0.0.5:5432/torniquete_db"))
    rig.handle(make_entry(1))
    rig.handle(make_entry(2, access="visitante"))
    rig.handle(make_entry(3, access="empleado"))
    assert [n.title for n in rig.shown] == ["Socio1 Prueba"]
    state = rig.look()
    assert state.icon is IconState.CONNECTED
    assert state.tooltip == "Aviso de Entradas: Conectado\n1 entrada hoy\nServidor: 10.0.0.5:5432/torniquete_db"
    rig.clock.t += 1.0
    rig.tick()
    assert rig.tray.icon.title == state.tooltip
    assert rig.find("Conectado").text == "Conectado"


def test_pause_from_the_menu_holds_entries_and_resume_gives_one_summary(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.LISTENING))
    rig.click("Pausar 15 min")
    assert rig.look().icon is IconState.PAUSED
    assert "En pausa hasta las 10:15" in rig.look().tooltip
    assert rig.find("Reanudar avisos").enabled
    for i in range(4):
        rig.handle(make_entry(i, expired=(i == 2)))
    assert rig.shown == []
    rig.handle(StateChanged(ConnState.BACKING_OFF, reason="Conexión perdida", retry_in_s=2))
    rig.handle(StateChanged(ConnState.LISTENING))
    assert rig.state.paused(rig.clock()) and rig.look().icon is IconState.PAUSED
    rig.click("Reanudar avisos")
    (summary,) = rig.shown
    assert summary.title == "Avisos reanudados: 4 entradas durante la pausa"
    assert summary.body.split("\n") == [
        "Socio0 Prueba, Socio1 Prueba, Socio2 Prueba, Socio3 Prueba",
        "1 con aviso: Socio2 Prueba",
    ]
    assert summary.urgency is Urgency.CRITICAL
    assert rig.look().icon is IconState.CONNECTED


def test_timed_pause_ends_by_itself(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.LISTENING))
    rig.click("Pausar 1 h")
    rig.handle(make_entry(1))
    rig.clock.t += 3599
    rig.tick()
    assert rig.shown == []
    rig.clock.t += 1
    rig.tick()
    assert [n.title for n in rig.shown] == ["Avisos reanudados: 1 entrada durante la pausa"]


def test_pause_until_resumed(rig: Rig) -> None:
    rig.click("Pausar hasta reanudar")
    rig.clock.t += 10 * 3600
    rig.tick()
    assert "En pausa hasta reanudar" in rig.look().tooltip
    rig.click("Reanudar avisos")
    assert rig.shown[-1].title == "Avisos reanudados: ninguna entrada durante la pausa"


def test_recent_entries_keep_the_last_ten_with_colour_and_status_and_show_again(rig: Rig) -> None:
    for i in range(12):
        rig.handle(make_entry(i, expired=i == 11))
        rig.clock.t += 60  # no flood control in the way
    rig.tick()
    recent = list(rig.find("Últimas entradas").submenu)
    texts = [i.text for i in recent]
    assert len(texts) == 10
    assert texts[0] == "10:00  🔴 Socio11 Prueba — VENCIDA hace 3 días  ⚠"
    assert texts[-1] == "10:00  🟢 Socio2 Prueba — Al día (vence el 30/12/2026)"
    recent[3](rig.tray.icon)
    rig.run_posted()
    again = rig.shown[-1]
    assert again.title == "Socio8 Prueba" and again.kind is NoticeKind.REPLAY


def test_test_notification_works_while_paused(rig: Rig) -> None:
    rig.click("Pausar hasta reanudar")
    rig.click("Notificación de prueba")
    (n,) = rig.shown
    assert n.kind is NoticeKind.TEST and n.title == "Notificación de prueba"
    assert "Conectando…" in n.body


def test_reconnect_open_log_and_quit(rig: Rig) -> None:
    rig.click("Reconectar ahora")
    assert rig.engines.reconnects == 1
    rig.click("Abrir registro")
    assert rig.opened == [str(rig.log)]
    assert not rig.mailbox.stopping
    rig.click("Salir")
    assert rig.mailbox.stopping


def test_flood_control_in_the_desk(rig: Rig) -> None:
    k = NotificationSettings().flood_max_count  # the default, 4
    for i in range(9):
        rig.handle(make_entry(i))
    assert len(rig.shown) == k
    rig.clock.t += 3.1
    rig.tick()
    assert len(rig.shown) == k + 1
    assert rig.shown[-1].title == f"{9 - k} entradas más"


def test_catchup_is_one_summary_and_backlog_one_notice(rig: Rig) -> None:
    for i in range(20):
        rig.handle(make_entry(i, source=Source.CATCHUP))
    rig.handle(BacklogSummary(300, NOW - dt.timedelta(hours=5), NOW - dt.timedelta(hours=1)))
    rig.clock.t += 1.1
    rig.tick()
    assert [n.title for n in rig.shown] == ["Entradas anteriores", "20 entradas mientras no había conexión"]
    assert rig.state.today_count == 20


def test_click_without_a_menu_toggles_pause(tmp_path: Path) -> None:
    rig = Rig(tmp_path, has_menu=False)
    rig.tray.pystray_menu()(rig.tray.icon)  # what a left click on an xorg tray icon does
    rig.run_posted()
    assert rig.state.paused(rig.clock())
    rig.tray.pystray_menu()(rig.tray.icon)
    rig.run_posted()
    assert not rig.state.paused(rig.clock())
    assert rig.shown[-1].title.startswith("Avisos reanudados")


def test_menu_sections_go_above_quit_and_can_post(tmp_path: Path) -> None:
    ran: list[str] = []

    def section(ctx: MenuContext) -> list[MenuItemSpec]:
        return [MenuItemSpec(text="Configuración…", action=lambda: ctx.post(lambda: ran.append(ctx.lang)), key="x")]

    rig = Rig(tmp_path, sections=[section])
    texts = [i.text for i in rig.tray.pystray_menu()]
    assert texts[-3:] == ["Configuración…", "- - - -", "Salir"]
    rig.find("Configuración…")(rig.tray.icon)
    assert ran == []  # posted, not run on the tray's thread
    rig.run_posted()
    assert ran == ["es"]


def test_failing_section_does_not_break_the_menu(tmp_path: Path) -> None:
    def broken(ctx: MenuContext) -> list[MenuItemSpec]:
        raise RuntimeError("boom")

    assert Rig(tmp_path, sections=[broken]).menu_items()[-1].key == "quit"


def test_tooltip_fits_windows_limit_and_counts_down(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.BACKING_OFF, reason="x" * 300, retry_in_s=10, server="a" * 40))
    state = rig.look()
    assert state.icon is IconState.ERROR and len(state.tooltip) <= 127
    assert state.tooltip.split("\n") == [
        "Aviso de Entradas: Sin conexión, reintento en 10 s",
        "x" * 59 + "…",
        "0 entradas hoy",
    ]
    rig.clock.t += 4
    assert rig.look().tooltip.startswith("Aviso de Entradas: Sin conexión, reintento en 6 s")
    rig.handle(StateChanged(ConnState.AUTH_FAILED, reason="Contraseña incorrecta"))
    assert "Contraseña rechazada" in rig.look().tooltip


def test_today_count_resets_at_midnight(tmp_path: Path) -> None:
    days = [NOW]
    rig = Rig(tmp_path, wall=lambda: days[0])
    rig.handle(make_entry(1))
    rig.handle(make_entry(2))
    days[0] = NOW + dt.timedelta(days=1)
    rig.handle(make_entry(3))
    assert rig.state.today_count == 1


def test_headless_prints_connection_changes_once_not_every_retry(rig: Rig) -> None:
    for _ in range(3):
        rig.handle(StateChanged(ConnState.CONNECTING))
        rig.handle(StateChanged(ConnState.BACKING_OFF, reason="El torniquete rechazó la conexión", retry_in_s=2))
    rig.handle(StateChanged(ConnState.CONNECTING))
    rig.handle(StateChanged(ConnState.LISTENING, server="127.0.0.1:5432/torniquete_db"))
    assert rig.lines == [
        "· Sin conexión — El torniquete rechazó la conexión",
        "· Conectado — 127.0.0.1:5432/torniquete_db",
    ]


def test_reload_settings_from_a_menu_section_swaps_settings_and_keeps_the_pause(tmp_path: Path) -> None:
    from agent.desk import messages

    calls: list[str] = []
    rig = Rig(tmp_path, reload=lambda: calls.append("reloaded"))
    new = Settings(notifications=NotificationSettings(flood_max_count=1, flood_window_s=60, click_action="x"))
    rig.click("Pausar hasta reanudar")
    rig.context.reload_settings()  # what the settings window's "saved" does, from its waiting thread
    rig.run_posted()
    assert calls == ["reloaded"]
    rig.mailbox.post(messages.Reloaded(new))  # what the reload thread posts back
    rig.run_posted()
    assert rig.state.settings.notifications.click_action == "x" and rig.state.gate.flood.max_count == 1
    assert rig.state.paused(rig.clock())
    rig.click("Reanudar avisos")
    rig.handle(make_entry(1))
    rig.handle(make_entry(2))
    assert [n.title for n in rig.shown][-1] == "Socio1 Prueba"  # the second one is held (1 per 60 s)


def test_reload_without_a_handler_reconnects(rig: Rig) -> None:
    rig.context.reload_settings()
    rig.run_posted()
    assert rig.engines.reconnects == 1


def test_one_notice_per_outage_and_one_when_back(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.LISTENING))
    for _ in range(10):  # a long outage with many retries
        rig.handle(StateChanged(ConnState.CONNECTING))
        rig.handle(StateChanged(ConnState.BACKING_OFF, reason="El torniquete rechazó la conexión.", retry_in_s=5))
        rig.clock.t += 5
        rig.tick()
    rig.handle(StateChanged(ConnState.LISTENING))
    rig.tick()
    assert [(n.title, n.body) for n in rig.shown] == [
        (
            "Sin conexión con el torniquete",
            "No llegarán avisos hasta que vuelva la conexión. El torniquete rechazó la conexión.",
        ),
        (
            "Conexión restablecida",
            "Los avisos vuelven a funcionar. Las entradas de la interrupción, si las hubo, se avisan a continuación "
            "(varias juntas, en un resumen).",
        ),
    ]
    rig.handle(StateChanged(ConnState.BACKING_OFF, reason="x", retry_in_s=1))  # a short blip says nothing
    rig.clock.t += 5
    rig.tick()
    rig.handle(StateChanged(ConnState.LISTENING))
    assert len(rig.shown) == 2


def test_rejected_password_at_start_is_a_critical_notice_but_not_while_paused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.handle(StateChanged(ConnState.AUTH_FAILED, reason="Contraseña incorrecta para pos_user.", retry_in_s=60))
    rig.clock.t += OUTAGE_NOTICE_S + 1
    rig.tick()
    (n,) = rig.shown
    assert n.urgency is Urgency.CRITICAL and n.body.endswith("Contraseña incorrecta para pos_user.")
    quiet = Rig(tmp_path)
    quiet.click("Pausar hasta reanudar")
    quiet.clock.t += 30
    quiet.tick()
    assert quiet.shown == []


def test_idle_desk_sleeps_long_but_counts_down_when_needed(rig: Rig) -> None:
    def wait() -> float:
        return rig.loop._wait_s(rig.clock(), float("inf"))

    assert wait() == TICK_S  # connecting: the tooltip shows progress
    rig.handle(StateChanged(ConnState.LISTENING, server="h:5432/db"))
    assert wait() == IDLE_TICK_S  # connected and idle: fewer wakeups
    rig.click("Pausar 15 min")
    assert wait() == TICK_S  # the pause countdown is on screen
    rig.click("Reanudar avisos")
    assert wait() == IDLE_TICK_S
    rig.handle(StateChanged(ConnState.BACKING_OFF, reason="x", retry_in_s=2.0))
    assert wait() == TICK_S


def test_nan_balance_entry_is_shown_and_the_agent_goes_on(rig: Rig) -> None:
    """A member with ``saldo_pendiente = 'NaN'`` used to raise in member_status and end the tray."""
    bad = make_entry(1)
    member = bad.entry.member
    assert member is not None
    bad = dataclasses.replace(
        bad, entry=dataclasses.replace(bad.entry, member=dataclasses.replace(member, balance_due=Decimal("NaN")))
    )
    rig.handle(bad)
    rig.handle(make_entry(2))
    assert [n.title for n in rig.shown] == ["Socio1 Prueba", "Socio2 Prueba"]


def test_a_failing_entry_text_gives_a_plain_notice_and_is_logged_with_its_id(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_a: Any, **_k: Any) -> Notice:
        raise ValueError("bad row")

    monkeypatch.setattr(desk_state, "entry_notice", broken)
    with caplog.at_level(logging.ERROR, logger="agent.desk.state"):
        rig.handle(make_entry(7))
    (shown,) = rig.shown
    assert (shown.title, shown.entry_id) == ("Socio7 Prueba", 7)
    assert shown.body == "Entrada 10:00\nEstado no disponible (ver el registro)"
    assert any("entry 7" in r.getMessage() and r.exc_info for r in caplog.records)
    assert rig.engines.acked == [7]


def test_one_entry_over_the_flood_limit_is_shown_as_itself_not_as_one_more(rig: Rig) -> None:
    # k normal entries, then k warnings (shown at once: warnings have their own budget), then one more warning:
    # held, and its "summary" of one is shown as that entry's own critical notice
    k = NotificationSettings().flood_max_count
    last_id = 2 * k
    for i in range(last_id + 1):
        rig.handle(make_entry(i, expired=i >= k))
    assert len(rig.shown) == 2 * k
    rig.clock.t += 3.1
    rig.tick()
    last = rig.shown[-1]
    assert len(rig.shown) == 2 * k + 1
    assert (last.title, last.kind, last.entry_id) == (f"Socio{last_id} Prueba", NoticeKind.ENTRY, last_id)
    assert "VENCIDA hace 3 días" in last.body and last.urgency is Urgency.CRITICAL


def test_an_unreadable_keyring_is_the_reason_shown_not_a_rejected_password(rig: Rig) -> None:
    from agent.core.advice import Problem, explain
    from agent.desk import messages

    keyring = "No hay un almacén de contraseñas del sistema utilizable (no Secret Service)."
    rig.handle(messages.KeyringStatus(keyring, "sin llavero"))
    rig.handle(StateChanged(ConnState.BACKING_OFF, explain(Problem.NO_PASSWORD, "es"), 1.0, "db:5432"))
    assert rig.state.conn.reason == keyring
    assert keyring[:40] in rig.look().tooltip and rig.look().tooltip.startswith("Aviso de Entradas: Sin llavero")
    assert rig.look().icon is IconState.ERROR
    rig.handle(StateChanged(ConnState.AUTH_FAILED, explain(Problem.AUTH_FAILED, "es"), 60.0, "db:5432"))
    assert rig.state.conn.reason == keyring
    refused = explain(Problem.REFUSED, "es")
    rig.handle(StateChanged(ConnState.BACKING_OFF, refused, 2.0, "db:5432"))
    assert rig.state.conn.reason == refused  # a network problem is still said as such
    rig.handle(messages.KeyringStatus(""))
    rig.handle(StateChanged(ConnState.BACKING_OFF, explain(Problem.NO_PASSWORD, "es"), 1.0, "db:5432"))
    assert rig.state.conn.reason == explain(Problem.NO_PASSWORD, "es")


def test_a_locked_keyring_is_its_own_state_and_is_retried(rig: Rig) -> None:
    from agent.desk import messages

    rig.handle(messages.KeyringStatus("Llavero bloqueado: el almacén está bloqueado (…).", "llavero bloqueado"))
    assert rig.look().tooltip.startswith("Aviso de Entradas: Llavero bloqueado")
    assert rig.look().icon is IconState.ERROR
    rig.clock.t += desk_state.KEYRING_RETRY_S
    rig.tick()
    assert rig.engines.reconnects == 1  # no reload handler in this rig: the retry reconnects
    rig.handle(StateChanged(ConnState.LISTENING))  # connected anyway (e.g. .pgpass): no more retries
    rig.clock.t += desk_state.KEYRING_RETRY_S * 3
    rig.tick()
    assert rig.engines.reconnects == 1
    rig.handle(messages.KeyringStatus(""))
    rig.clock.t += desk_state.KEYRING_RETRY_S * 3
    rig.tick()
    assert rig.engines.reconnects == 1


def test_every_entry_handled_is_acknowledged_once_shown_or_summarised(rig: Rig) -> None:
    """Shown or folded into a summary that was shown: the engine may then count it as delivered. Held for a
    summary (flood, pause): acknowledged only when that summary is shown."""
    for i in range(7):  # beyond the flood limit: some are held for the summary
        rig.handle(make_entry(i))
    assert rig.engines.acked == [0, 1, 2, 3]
    rig.click("Pausar hasta reanudar")  # the held flood entries move into the pause
    rig.handle(make_entry(7))
    assert rig.engines.acked == [0, 1, 2, 3]
    rig.click("Reanudar avisos")
    assert sorted(rig.engines.acked) == list(range(8))


def test_warnings_only_toggle_hides_normal_entries_but_not_warnings(rig: Rig) -> None:
    rig.handle(StateChanged(ConnState.LISTENING))
    rig.click("Solo avisos importantes")
    assert rig.find("Solo avisos importantes").checked
    look = rig.look()
    assert look.icon is IconState.QUIET and "Solo avisos importantes" in look.tooltip
    rig.handle(make_entry(1))
    rig.handle(make_entry(2, expired=True))
    assert [n.title for n in rig.shown] == ["Socio2 Prueba"]
    assert rig.state.today_count == 2 and [n.title for n in rig.state.recent] == ["Socio2 Prueba", "Socio1 Prueba"]
    assert rig.engines.acked == [1, 2]  # the hidden one is acknowledged at once (deliberately not popped up)
    rig.click("Solo avisos importantes")
    assert rig.look().icon is IconState.CONNECTED
