"""Autostart port: start the agent when the user logs in. Protocol, status shape and the command it runs.

Implementations, one per OS: :mod:`agent.adapters.autostart_windows` (``HKCU\\Software\\Microsoft\\Windows\\
CurrentVersion\\Run``, per user, no admin rights) and :mod:`agent.adapters.autostart_xdg` (XDG Autostart spec:
``$XDG_CONFIG_HOME/autostart/aviso-entradas.desktop``), plus :mod:`agent.adapters.autostart_memory` for tests,
picked by :func:`agent.adapters.choose.autostart` (``AVISO_AUTOSTART=windows|xdg|memory`` overrides the choice).
This module holds the protocol, the status value and what the entry runs (:func:`launch_command`,
:func:`source_dir`). Which thread: any (the tray calls it from its menu callback), one call at a time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


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
