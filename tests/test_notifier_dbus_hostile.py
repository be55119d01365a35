"""The D-Bus notifier when the notification server misbehaves or is replaced, against real servers on a private
bus: dunst (tests/notify_session.py) and a minimal server that broadcasts its signals the way GNOME Shell does
(tests/broadcast_notify_server.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_session import NotifySession, notify_session, wait_until

from agent.adapters.notifier_linux import BODY_MAX, TITLE_MAX, DbusNotifier
from agent.core.notify_text import Notice

HERE = Path(__file__).resolve().parent


@pytest.fixture
def session(tmp_path: Path) -> Iterator[NotifySession]:
    with notify_session(tmp_path) as s:
        yield s


def _other_app_notifies(session: NotifySession, summary: str) -> None:
    """``notify-send``-like: another application's notification through the same server."""
    subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.Notifications",
         "/org/freedesktop/Notifications", "org.freedesktop.Notifications.Notify", "string:otra-app", "uint32:0",
         "string:", f"string:{summary}", "string:", "array:string:", "dict:string:string:", "int32:-1"],
        env=session.env, check=True, capture_output=True, timeout=10,
    )  # fmt: skip


@pytest.mark.desktop
def test_after_the_server_is_replaced_a_click_on_another_apps_notification_is_not_ours(
    session: NotifySession,
) -> None:
    session.start_dunst("full")
    clicked: list[Notice] = []
    n = DbusNotifier("Aviso de Entradas", on_click=clicked.append, bus_address=session.address)
    server = None
    try:
        assert n.show(Notice("Ana", "Plan", member_id="A-17")) is True  # still on screen: not closed
        session.stop_dunst()  # the desktop's daemon restarts as another server that numbers from 1 again
        server = subprocess.Popen(
            [sys.executable, str(HERE / "broadcast_notify_server.py"), session.address],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        # Other apps' notifications get the ids our old notice may have had (dunst numbered it 1 or 2); the person
        # clicks them; this server broadcasts each click to every client.
        for other_id in range(1, 6):
            _other_app_notifies(session, f"click {other_id}")
        time.sleep(0.5)
        assert clicked == []  # before the fix: the click action ran for member A-17
        # Clicks on our notices shown by the new server still arrive (ids 1-5 were the other app's, ours is 6).
        luis = Notice("Luis", "Plan", member_id="L-3")
        assert n.show(luis) is True
        _other_app_notifies(session, "click 6")
        wait_until(lambda: clicked, 5, "the click on our notice")
        assert clicked == [luis]
    finally:
        n.close()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


@pytest.mark.desktop
def test_a_huge_text_from_the_database_does_not_make_the_next_notice_time_out(session: NotifySession) -> None:
    session.start_dunst("full")
    n = DbusNotifier("Aviso de Entradas", bus_address=session.address)
    try:
        huge = "Plan " + "x" * 1_000_000  # a document pasted into miembros.plan
        assert n.show(Notice("N" * 100_000, huge)) is True
        started = time.monotonic()
        assert n.show(Notice("Ana", "Al día")) is True  # before the fix: False after 1 s (dunst busy laying out)
        assert time.monotonic() - started < 0.5
        big, ana = session.received()
        assert big["summary"] == "N" * (TITLE_MAX - 1) + "…"
        assert big["body"] == huge[: BODY_MAX - 1] + "…"
        assert (ana["summary"], ana["body"]) == ("Ana", "Al día")
    finally:
        n.close()


@pytest.mark.desktop
def test_a_failing_per_status_icon_does_not_cost_the_notice(session: NotifySession) -> None:
    session.start_dunst("full")

    def broken_icon(notice: Notice) -> Path | None:
        raise KeyError("a status the icon table does not know")

    n = DbusNotifier("Aviso de Entradas", bus_address=session.address, icon_for=broken_icon)
    try:
        assert n.show(Notice("Ana", "Vencido")) is True  # before: False (the notice went to the fallback)
        ((row),) = session.received()
        assert (row["summary"], row["body"]) == ("Ana", "Vencido")
    finally:
        n.close()


@pytest.mark.desktop
def test_a_photo_path_that_cannot_be_looked_at_does_not_cost_the_notice(session: NotifySession, tmp_path: Path) -> None:
    session.start_dunst("full")
    n = DbusNotifier("Aviso de Entradas", bus_address=session.address)
    try:
        too_long = tmp_path / ("x" * 300 + ".png")  # stat() fails with ENAMETOOLONG, which is_file() re-raises
        assert n.show(Notice("Ana", "Al día", photo_path=too_long)) is True  # before: False
        ((row),) = session.received()
        assert row["summary"] == "Ana"
    finally:
        n.close()
