"""Autostart: the XDG ``.desktop`` file (real files in a temporary XDG_CONFIG_HOME) and ``autostart on|off|status``.

The Windows Run-key adapter is exercised under Wine by tests/test_wine.py.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.adapters.autostart_api import launch_command
from agent.adapters.autostart_xdg import FILE_NAME, XdgAutostart, exec_line
from agent.adapters.choose import autostart as open_autostart

ROOT = Path(__file__).resolve().parent.parent


def _desktop(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def _unescape_exec(value: str) -> list[str]:
    """Undo the string-value escapes, then split by the Desktop Entry spec's Exec quoting rules."""
    text = value.replace("\\\\", "\\")
    args: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        arg = ""
        if text[i] == '"':
            i += 1
            while text[i] != '"':
                if text[i] == "\\" and text[i + 1] in '"`$\\':
                    i += 1
                arg += text[i]
                i += 1
            i += 1
        else:
            while i < len(text) and text[i] != " ":
                arg += text[i]
                i += 1
        args.append(arg.replace("%%", "%"))
    return args


def test_enable_status_disable(tmp_path: Path) -> None:
    port = XdgAutostart.for_environment({"XDG_CONFIG_HOME": str(tmp_path)})
    assert port.status().enabled is False
    status = port.enable(["/opt/aviso/aviso-entradas"])
    path = tmp_path / "autostart" / FILE_NAME
    assert status.enabled and status.location == str(path)
    entry = _desktop(path)
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/opt/aviso/aviso-entradas"
    assert entry["Terminal"] == "false"
    assert entry["Name"] == "Aviso de Entradas"
    assert port.status().command == "/opt/aviso/aviso-entradas"
    assert port.disable().enabled is False
    assert not path.exists()
    assert port.disable().enabled is False  # idempotent


def test_hidden_entry_counts_as_disabled(tmp_path: Path) -> None:
    port = XdgAutostart(tmp_path)
    port.enable(["x"])
    port.path.write_text(port.path.read_text() + "Hidden=true\n")
    assert port.status().enabled is False


@pytest.mark.parametrize(
    "argv",
    [
        ["/home/ana/Mis programas/aviso", "--lang", "es"],
        ['/opt/a"b', "100%", "$HOME", "back\\slash", "tick`"],
    ],
)
def test_exec_quoting_round_trips(argv: list[str], tmp_path: Path) -> None:
    port = XdgAutostart(tmp_path)
    port.enable(argv)
    assert _unescape_exec(_desktop(port.path)["Exec"]) == argv
    assert exec_line(argv) == _desktop(port.path)["Exec"]


def test_desktop_file_validates(tmp_path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        if os.environ.get("AVISO_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail("desktop-file-validate missing (apt desktop-file-utils; build/dev.sh installs it)")
        pytest.skip("desktop-file-validate not installed")
    port = XdgAutostart(tmp_path, icon=ROOT / "assets" / "app.png")
    port.enable([sys.executable, "-m", "agent"])
    out = subprocess.run(["desktop-file-validate", str(port.path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _desktop(port.path)["Path"] == str(ROOT)


@pytest.mark.skipif(sys.platform == "win32", reason="pythonw.exe on Windows")
def test_launch_command_from_source_runs_the_agent() -> None:
    argv = launch_command()
    assert argv == [sys.executable, "-m", "agent"]
    out = subprocess.run([*argv, "--version"], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.startswith("Aviso de Entradas ")


def test_open_autostart_choices(tmp_path: Path) -> None:
    assert isinstance(open_autostart({"XDG_CONFIG_HOME": str(tmp_path)}), XdgAutostart)
    mem = open_autostart({"AVISO_AUTOSTART": "memory"})
    assert mem.enable(["a b", "c"]).command == '"a b" c'
    assert mem.disable().enabled is False
    if sys.platform != "win32":
        with pytest.raises(ValueError, match="needs Windows"):
            open_autostart({"AVISO_AUTOSTART": "windows"})
    with pytest.raises(ValueError, match="not one of"):
        open_autostart({"AVISO_AUTOSTART": "launchd"})


@pytest.mark.skipif(sys.platform == "win32", reason="XDG autostart (Linux)")
def test_cli_on_status_off(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "AVISO_LANG": "en"}
    env.pop("AVISO_AUTOSTART", None)

    def run(action: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "agent", "autostart", action], capture_output=True, text=True, cwd=ROOT, env=env
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert run("status").startswith("autostart: off")
    on = run("on")
    assert on.startswith("autostart: on") and "-m agent" in on
    assert (tmp_path / "autostart" / FILE_NAME).exists()
    assert run("status").startswith("autostart: on")
    assert run("off").startswith("autostart: off")
    assert not (tmp_path / "autostart" / FILE_NAME).exists()


@pytest.mark.skipif(sys.platform != "win32", reason="HKCU Run key (release workflow; under Wine: test_wine.py)")
def test_windows_run_key_round_trip() -> None:
    import winreg

    from agent.adapters.autostart_windows import RUN_KEY, VALUE_NAME

    port = open_autostart({})
    if port.status().enabled:
        pytest.skip("autostart is already on for this Windows user; not touching it")
    try:
        status = port.enable([r"C:\Program Files\Aviso\AvisoEntradas.exe"])
        assert status.enabled and status.command == r'"C:\Program Files\Aviso\AvisoEntradas.exe"'
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            assert winreg.QueryValueEx(key, VALUE_NAME)[0] == status.command
    finally:
        assert port.disable().enabled is False
