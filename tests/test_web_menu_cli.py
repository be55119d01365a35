"""The page's tray menu items and the ``settings`` command (which now serves the settings form on the local page):
exit 0 after a save through the page, 3 when closed without saving or timed out; the password never on its output.
Also the menu's fallback without a running page (the settings process, reload on exit 0), moved here from the
retired Tk window's tests."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from conftest import Database

from agent.core.config import Settings
from agent.desk import menu_deploy
from agent.desk.app import MenuContext
from agent.web import browser

ROOT = Path(__file__).resolve().parent.parent


class FakePage:
    url = "http://127.0.0.1:1/tok/"


def context(shown: list[tuple[str, str]], reloads: list[bool], done: threading.Event | None = None) -> MenuContext:
    def show(title: str, body: str) -> None:
        shown.append((title, body))
        if done is not None:
            done.set()

    return MenuContext(
        lang="es",
        settings=Settings(),
        post=lambda fn: fn(),
        reconnect_now=lambda: None,
        show=show,
        reload_settings=lambda: reloads.append(True),
    )


def test_menu_items_with_a_page_open_it_in_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVISO_AUTOSTART", "memory")
    opened: list[str] = []
    event = threading.Event()

    def fake_open(url: str) -> bool:  # the OS boundary: the default browser, given a private redirect file
        assert url.startswith("file://") and "tok" not in url
        path = Path(urllib.parse.urlsplit(url).path)
        if sys.platform != "win32":
            assert path.stat().st_mode & 0o077 == 0  # readable by this user only
        target = re.search(r'url=([^"]+)"', path.read_text(encoding="utf-8"))
        assert target is not None
        opened.append(html.unescape(target.group(1)))
        event.set()
        return True

    monkeypatch.setattr(browser.webbrowser, "open", fake_open)
    items = {i.key: i for i in menu_deploy.menu_items(context([], []), page=FakePage())}
    assert items["today"].text == "Entradas de hoy"
    assert items["today"].default and not items["settings"].default  # a click on the icon opens the page
    assert items["settings"].text == "Configuración…"
    for key, want in (("today", FakePage.url), ("settings", FakePage.url + "#settings")):
        event.clear()
        action = items[key].action
        assert action is not None
        action()
        assert event.wait(5)
        assert opened[-1] == want
    toggle = items["autostart"]
    assert toggle.checked is not None and toggle.checked() is False and toggle.action is not None
    toggle.action()
    assert toggle.checked() is True
    toggle.action()
    assert toggle.checked() is False
    if sys.platform != "win32":  # Windows runs pythonw.exe (no console window)
        assert menu_deploy.settings_command() == [sys.executable, "-m", "agent", "settings"]


def test_no_browser_says_where_the_page_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser.webbrowser, "open", lambda url: False)
    shown: list[tuple[str, str]] = []
    done = threading.Event()
    item = next(i for i in menu_deploy.menu_items(context(shown, [], done), page=FakePage()) if i.key == "today")
    assert item.action is not None
    item.action()
    assert done.wait(5)
    assert FakePage.url in shown[0][1] and "navegador" in shown[0][1]


@pytest.mark.parametrize("exit_code", [0, 3])
def test_without_a_page_settings_runs_the_settings_process(monkeypatch: pytest.MonkeyPatch, exit_code: int) -> None:
    """A real child process stands in for ``settings``; exit 0 (saved) reloads the settings and says so."""
    monkeypatch.setenv("AVISO_AUTOSTART", "memory")
    code = f"raise SystemExit({exit_code})"
    monkeypatch.setattr(menu_deploy, "settings_command", lambda: [sys.executable, "-c", code])
    shown: list[tuple[str, str]] = []
    reloads: list[bool] = []
    done = threading.Event()
    items = {i.key: i for i in menu_deploy.menu_items(context(shown, reloads, done))}
    assert "today" not in items
    action = items["settings"].action
    assert action is not None
    action()
    if exit_code == 0:
        assert done.wait(30), "no notice after the settings process ended"
        assert "Guardado" in shown[0][1] and reloads == [True]
    else:
        time.sleep(2)
        assert shown == [] and reloads == []


def start_settings(
    tmp_path: Path, *extra: str, keyring_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ)
    env.update(
        AVISO_CONFIG_FILE=str(tmp_path / "config.toml"),
        AVISO_MACHINE_CONFIG_FILE=str(tmp_path / "machine.toml"),
        AVISO_CREDENTIALS="memory",
        AVISO_AUTOSTART="memory",
        PYTHONUNBUFFERED="1",
    )
    if keyring_env is not None:  # the OS keyring: a real Secret Service
        env.update(keyring_env)
        env.pop("AVISO_CREDENTIALS")
        env.pop("PYTHON_KEYRING_BACKEND", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--lang", "en", "settings", "--no-browser", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/[\w-]+/)#settings", line)
    assert match, line
    return proc, match.group(1)


def post(url: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url + path)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Content-Type": "application/json", "Origin": f"http://{parts.netloc}"}
    conn.request("POST", parts.path, body=json.dumps(data).encode(), headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.status
    out = dict(json.loads(response.read()))
    conn.close()
    return out


def test_settings_command_saves_through_the_page_and_exits_0(tmp_path: Path, db: Database) -> None:
    proc, url = start_settings(tmp_path)
    try:
        body = {
            "action": "save",
            "connection": {
                "host": db.server.host,
                "port": str(db.server.port),
                "database": db.name,
                "sslmode": "prefer",
            },
            "password": db.pos_password,
        }
        out = post(url, "api/settings", body)
        assert out["saved"], out
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Settings saved." in stdout
    assert db.pos_password not in stdout + stderr
    assert tomllib.loads((tmp_path / "config.toml").read_text())["connection"]["database"] == db.name


def test_settings_command_closed_or_timed_out_exits_3(tmp_path: Path) -> None:
    proc, url = start_settings(tmp_path)
    try:
        assert post(url, "api/close", {}) == {"ok": True}
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "closed without saving" in stdout
    assert not (tmp_path / "config.toml").exists()
    proc, _ = start_settings(tmp_path, "--timeout", "1")
    assert proc.wait(timeout=30) == 3


def test_settings_command_stores_the_password_in_a_real_secret_service(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same save, with the OS keyring: gnome-keyring's Secret Service on a private D-Bus session."""
    from deploy_support import secret_service

    from agent.adapters import choose
    from agent.core import config

    with secret_service(tmp_path / "keyring") as keyring_env:
        proc, url = start_settings(tmp_path, keyring_env=keyring_env)
        try:
            conn = {"host": db.server.host, "port": str(db.server.port), "database": db.name, "sslmode": "prefer"}
            out = post(url, "api/settings", {"action": "save", "connection": conn, "password": db.pos_password})
            assert out["saved"], out
            assert any("Secret Service" in line or "SecretService" in line for line in out["lines"]), out
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, stderr
        for key, value in keyring_env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        monkeypatch.delenv(choose.ENV_CREDENTIALS, raising=False)
        account = config.credential_account(
            config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
        )
        assert choose.credential_store().get(account) == db.pos_password
    assert db.pos_password not in stdout + stderr
