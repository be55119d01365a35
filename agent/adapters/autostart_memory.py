"""In-process autostart twin for tests (``AVISO_AUTOSTART=memory``). Nothing leaves the process."""

from __future__ import annotations

import subprocess

from agent.adapters.autostart_api import AutostartStatus


class MemoryAutostart:
    """:class:`agent.adapters.autostart_api.Autostart` that remembers the command in memory."""

    location = "memory"

    def __init__(self) -> None:
        self._command: str | None = None

    def status(self) -> AutostartStatus:
        return AutostartStatus(self._command is not None, self._command, self.location)

    def enable(self, command: list[str]) -> AutostartStatus:
        self._command = subprocess.list2cmdline(command)
        return self.status()

    def disable(self) -> AutostartStatus:
        self._command = None
        return self.status()
