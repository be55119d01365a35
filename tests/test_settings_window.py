"""The Tkinter settings window on a private Xvfb display, against a real PostgreSQL; and its tray menu items."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Database
from deploy_support import xvfb_display

from agent.adapters.autostart_memory import MemoryAutostart
from agent.adapters.credentials_memory import MemoryStore
from agent.core import config
from agent.core.config import Settings
from agent.deploy import config_files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb_display("AVISO_REQUIRE_DEPLOY_TOOLS") as name:
        yield name


class Harness:
    def __init__(self, display: str, tmp_path: Path) -> None:
        import tkinter as tk

        from agent.desk.settings_window import SettingsWindow

        self.env = {config_files.ENV_USER_FILE: str(tmp_path / "config.toml")}
        self.store = MemoryStore()
        self.autostart = MemoryAutostart()
        self.closed: list[bool] = []
        self.root = tk.Tk(screenName=display)
        self.window = SettingsWindow(
            self.root,
            "en",
            Settings(),
            self.store,
            self.autostart,
            on_close=self.closed.append,
            save_settings=lambda s: config_files.save_user(s, self.env),
        )

    def fill(self, **values: str) -> None:
        for name, value in values.items():
            self.window.vars[name].set(value)

    def wait(self, timeout_s: float = 20.0) -> None:
        """Run the Tk loop until the worker's outcome is shown."""
        deadline = time.monotonic() + timeout_s
        self.root.update()
        while self.window.busy:
            assert time.monotonic() < deadline, "no outcome"
            self.root.update()
            time.sleep(0.01)


@pytest.fixture
def harness(display: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(display, tmp_path)
    yield h
    import tkinter as tk

    with contextlib.suppress(tk.TclError):  # already destroyed by a successful save
        h.root.destroy()


def server_fields(db: Database) -> dict[str, str]:
    return {"host": db.server.host, "port": str(db.server.port), "database": db.name}


def test_save_checks_then_stores_password_settings_and_autostart(harness: Harness, db: Database) -> None:
    harness.fill(**server_fields(db))
    harness.window.password.set(db.pos_password)
    harness.window.autostart_on.set(True)
    harness.window.save_button.invoke()
    harness.wait()
    last = harness.window.last
    assert last is not None and last.ok and last.saved, last
    assert any("trigger: installed" in line for line in last.lines)
    assert "Saved. The agent reconnects" in harness.window.status.get()
    account = config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
    )
    assert harness.store.get(account) == db.pos_password
    saved = tomllib.loads(Path(harness.env[config_files.ENV_USER_FILE]).read_text())
    assert saved["connection"]["database"] == db.name
    assert db.pos_password not in Path(harness.env[config_files.ENV_USER_FILE]).read_text()
    assert harness.autostart.status().enabled
    deadline = time.monotonic() + 5
    while not harness.closed and time.monotonic() < deadline:
        harness.root.update()
        time.sleep(0.02)
    assert harness.closed == [True]


def test_wrong_password_saves_nothing(harness: Harness, db: Database) -> None:
    harness.fill(**server_fields(db))
    harness.window.password.set("nope")
    harness.window.save_button.invoke()
    harness.wait()
    assert harness.window.last is not None and not harness.window.last.ok
    assert "password authentication failed" in harness.window.status.get()
    assert not Path(harness.env[config_files.ENV_USER_FILE]).exists()
    assert harness.store.get(config.credential_account(Settings().connection)) is None
    assert harness.closed == []


def test_test_button_uses_the_stored_password(harness: Harness, db: Database) -> None:
    harness.fill(**server_fields(db))
    account = config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
    )
    harness.store.set(account, db.pos_password)
    harness.window.test_button.invoke()
    harness.wait()
    assert harness.window.last is not None and harness.window.last.ok
    assert not harness.window.last.saved
    assert not Path(harness.env[config_files.ENV_USER_FILE]).exists()


def test_invalid_port_is_shown_not_checked(harness: Harness) -> None:
    harness.fill(port="70000")
    harness.window.save_button.invoke()
    assert harness.window.busy is False
    assert "must be between 1 and 65535" in harness.window.status.get()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows always has a display for Tk")
def test_settings_command_without_display_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(
        [sys.executable, "-m", "agent", "--lang", "en", "settings"], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 1
    assert "The settings window needs Tkinter, which is not available" in out.stderr
    assert "python -m agent configure" in out.stderr


def test_tray_menu_items(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.desk.app import MenuContext
    from agent.desk.menu_deploy import menu_items, settings_command

    monkeypatch.setenv("AVISO_AUTOSTART", "memory")
    shown: list[tuple[str, str]] = []
    ctx = MenuContext(
        lang="es",
        settings=Settings(),
        post=lambda fn: fn(),
        reconnect_now=lambda: None,
        show=lambda title, body: shown.append((title, body)),
    )
    items = {item.key: item for item in menu_items(ctx)}
    assert items["settings"].text == "Configuración…"
    toggle = items["autostart"]
    assert toggle.checked is not None and toggle.checked() is False
    assert toggle.action is not None
    toggle.action()
    assert toggle.checked() is True
    toggle.action()
    assert toggle.checked() is False
    if sys.platform != "win32":  # Windows runs pythonw.exe (no console window)
        assert settings_command() == [sys.executable, "-m", "agent", "settings"]


@pytest.mark.parametrize(("exit_code", "expected"), [(0, "Guardado"), (1, "necesita Tkinter")])
def test_settings_item_runs_the_window_process_and_reacts_to_its_exit(
    monkeypatch: pytest.MonkeyPatch, exit_code: int, expected: str
) -> None:
    """A real child process stands in for the window; exit 0 reloads the settings, exit 1 explains no Tk."""
    import threading

    from agent.desk import menu_deploy as tray_menu_deploy
    from agent.desk.app import MenuContext

    monkeypatch.setenv("AVISO_AUTOSTART", "memory")
    monkeypatch.setattr(
        tray_menu_deploy, "settings_command", lambda: [sys.executable, "-c", f"raise SystemExit({exit_code})"]
    )
    done = threading.Event()
    reloads: list[bool] = []
    shown: list[str] = []

    def show(title: str, body: str) -> None:
        shown.append(body)
        done.set()

    ctx = MenuContext(
        lang="es",
        settings=Settings(),
        post=lambda fn: fn(),
        reconnect_now=lambda: None,
        show=show,
        reload_settings=lambda: reloads.append(True),
    )
    item = next(i for i in tray_menu_deploy.menu_items(ctx) if i.key == "settings")
    assert item.action is not None
    item.action()
    assert done.wait(30), "no notice after the settings process ended"
    assert expected in shown[0]
    assert reloads == ([True] if exit_code == 0 else [])
