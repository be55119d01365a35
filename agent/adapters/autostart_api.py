"""Autostart port: start the agent when the user logs in. Protocol, status shape, and the start-up choice.

Implementations, one per OS: :mod:`agent.adapters.autostart_windows` (``HKCU\\Software\\Microsoft\\Windows\\
CurrentVersion\\Run``, per user, no admin rights) and :mod:`agent.adapters.autostart_xdg` (XDG Autostart spec:
``$XDG_CONFIG_HOME/autostart/aviso-entradas.desktop``), plus :mod:`agent.adapters.autostart_memory` for tests.
``AVISO_AUTOSTART=windows|xdg|memory`` overrides the choice. Which thread: any (the tray calls it from its menu
callback), one call at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ENV_CHOICE = "AVISO_AUTOSTART"


@dataclass(frozen=True)
class AutostartStatus:
    """``enabled``: an entry exists; ``command``: what it runs (None when disabled); ``location``: where it is."""

    enabled: bool
    command: str | None
    location: str


class Autostart(Protocol):
    """Turn login start-up on or off for the current user."""

    def status(self) -> AutostartStatus:
        """Whether the entry exists and what it runs. Raises ``OSError`` when it cannot be read."""
        ...

    def enable(self, command: list[str]) -> AutostartStatus:
        """Create or replace the entry so that ``command`` (argv) runs at login. Raises ``OSError``."""
        ...

    def disable(self) -> AutostartStatus:
        """Remove the entry (no error when there is none). Raises ``OSError``."""
        ...


def launch_command() -> list[str]:
    """The argv that starts this installation of the agent (tray mode).

    Frozen build: the executable itself. From source: the interpreter with ``-m agent`` (``pythonw.exe`` on
    Windows when present, so no console window opens).
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    exe = Path(sys.executable)
    if sys.platform == "win32":
        windowless = exe.with_name("pythonw.exe")
        if windowless.exists():
            exe = windowless
    return [str(exe), "-m", "agent"]


def source_dir() -> str | None:
    """The checkout holding the ``agent`` package when running from source (working directory for ``-m agent``)."""
    if getattr(sys, "frozen", False):
        return None
    return str(Path(__file__).resolve().parent.parent.parent)


def open_autostart(env: Mapping[str, str] | None = None) -> Autostart:
    """The implementation for this OS, or the one ``$AVISO_AUTOSTART`` names. Raises ``ValueError`` if unknown."""
    env = os.environ if env is None else env
    choice = env.get(ENV_CHOICE, "").strip().lower() or ("windows" if sys.platform == "win32" else "xdg")
    if choice == "memory":
        from agent.adapters.autostart_memory import MemoryAutostart

        return MemoryAutostart()
    if choice == "xdg":
        from agent.adapters.autostart_xdg import XdgAutostart

        return XdgAutostart.for_environment(env)
    if choice == "windows":
        if sys.platform == "win32":
            from agent.adapters.autostart_windows import RegistryAutostart

            return RegistryAutostart()
        raise ValueError(f"{ENV_CHOICE}=windows needs Windows")
    raise ValueError(f"{ENV_CHOICE}={choice!r} is not one of: windows, xdg, memory")
