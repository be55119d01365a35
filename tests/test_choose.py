"""The adapter choosers (:mod:`agent.adapters.choose`): fallback order, environment overrides, twins, and one
log line with the reasons a choice was left out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes import FakeTray

from agent.adapters import choose
from agent.adapters.credentials_api import CredentialsUnavailable
from agent.core.notify_text import Notice

NO_BUS = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/aviso-test-bus"}


def test_notifier_order_per_platform_and_choice() -> None:
    assert choose.notifier_order("auto", "linux") == ["dbus", "balloon", "console"]
    assert choose.notifier_order("auto", "win32") == ["winrt", "balloon", "console"]
    assert choose.notifier_order("dbus") == ["dbus", "console"]
    assert choose.notifier_order("balloon") == ["balloon", "console"]
    assert choose.notifier_order("null") == ["null"]
    with pytest.raises(ValueError, match="growl"):
        choose.notifier_order("growl")


def test_notifiers_skip_what_cannot_work_and_say_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", NO_BUS["DBUS_SESSION_BUS_ADDRESS"])
    caplog.set_level(logging.INFO, logger="agent.adapters")
    chain = choose.notifiers("auto")
    assert [n.name for n in chain] == ["console"]  # no bus, no tray
    (line,) = [r.getMessage() for r in caplog.records if r.name == "agent.adapters"]
    assert line.startswith("notifiers: console (unavailable: dbus: ")
    assert "balloon: no tray icon" in line
    for n in chain:
        n.close()


def test_the_balloon_uses_the_tray_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", NO_BUS["DBUS_SESSION_BUS_ADDRESS"])
    tray = FakeTray()
    chain = choose.notifiers(None, tray=tray, env={choose.ENV_NOTIFIER: "balloon"})
    assert [n.name for n in chain] == ["balloon", "console"]
    assert chain[0].show(Notice("Ana", "Plan")) is True
    assert tray.balloons == [("Ana", "Plan")]


def test_winrt_off_windows_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.adapters")
    assert [n.name for n in choose.notifiers("winrt")] == ["console"]
    assert "winrt: WinRT toasts exist only on Windows" in caplog.text


def test_the_environment_names_the_notifier() -> None:
    assert [n.name for n in choose.notifiers(env={choose.ENV_NOTIFIER: "null"})] == ["null"]
    assert [n.name for n in choose.notifiers("console", env={choose.ENV_NOTIFIER: "null"})] == ["console"]
    assert [n.name for n in choose.notifiers(env={**NO_BUS, choose.ENV_NOTIFIER: "winrt"})] == ["console"]
    with pytest.raises(ValueError, match="unknown AVISO_NOTIFIER"):
        choose.notifiers(env={choose.ENV_NOTIFIER: "growl"})


def test_tray_none_no_display_and_unknown() -> None:
    assert choose.tray("none", menu=lambda has_menu: []) is None
    assert choose.tray(None, menu=lambda has_menu: [], env={choose.ENV_TRAY: "none"}) is None
    assert choose.tray("pystray", menu=lambda has_menu: [], env={}) is None  # no DISPLAY here
    with pytest.raises(ValueError, match="unknown AVISO_TRAY"):
        choose.tray("qt", menu=lambda has_menu: [])


def test_credentials_choice() -> None:
    assert choose.credential_store({choose.ENV_CREDENTIALS: "memory"}).backend_name.startswith("memory")
    with pytest.raises(CredentialsUnavailable, match="not one of"):
        choose.credential_store({choose.ENV_CREDENTIALS: "vault"})


def test_autostart_choice(tmp_path: Path) -> None:
    assert choose.autostart({choose.ENV_AUTOSTART: "memory"}).status().location == "memory"
    with pytest.raises(ValueError, match="not one of"):
        choose.autostart({choose.ENV_AUTOSTART: "launchd"})


def test_single_instance_choice(tmp_path: Path) -> None:
    guard = choose.single_instance("x", {choose.ENV_RUNTIME_DIR: str(tmp_path), choose.ENV_SINGLE_INSTANCE: "posix"})
    assert guard.acquire() and (tmp_path / "x.lock").exists()
    guard.release()
    with pytest.raises(ValueError, match="not one of"):
        choose.single_instance("x", {choose.ENV_SINGLE_INSTANCE: "flock"})


def test_stable_asset_copies_out_of_a_one_file_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    icon = tmp_path / "bundle" / "app.ico"
    icon.parent.mkdir()
    icon.write_bytes(b"ico")
    assert choose.stable_asset(icon) == icon  # not frozen: used in place
    monkeypatch.setattr("sys._MEIPASS", str(icon.parent), raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    copy = choose.stable_asset(icon)
    assert copy != icon and copy.read_bytes() == b"ico"
