"""Linux autostart: a ``.desktop`` file in ``$XDG_CONFIG_HOME/autostart`` (default ``~/.config/autostart``).

Sources: freedesktop.org "Desktop Application Autostart Specification" (the folder, ``Hidden=true`` disables) and
"Desktop Entry Specification" 1.5 ("The Exec key": quoting rules; "Possible value types": string escapes).
Which thread: any, one call at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from agent import APP_NAME
from agent.adapters.autostart_api import AutostartStatus, source_dir

FILE_NAME = "aviso-entradas.desktop"
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def exec_quote(arg: str) -> str:
    """One argument quoted for ``Exec=`` (Desktop Entry spec, "The Exec key"), string escapes applied."""
    arg = arg.replace("%", "%%")
    if arg and not (set(arg) & _RESERVED):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    # Exec is a "string" value: each backslash is written as "\\" in the file.
    return '"' + inner.replace("\\", "\\\\") + '"'


def exec_line(command: list[str]) -> str:
    """The ``Exec=`` value for ``command`` (argv)."""
    return " ".join(exec_quote(a) for a in command)


class XdgAutostart:
    """:class:`agent.adapters.autostart_api.Autostart` writing ``<autostart_dir>/aviso-entradas.desktop``."""

    def __init__(self, autostart_dir: Path, icon: Path | None = None) -> None:
        self.path = autostart_dir / FILE_NAME
        self.icon = icon
        self.location = str(self.path)

    @classmethod
    def for_environment(cls, env: Mapping[str, str], icon: Path | None = None) -> XdgAutostart:
        """``$XDG_CONFIG_HOME/autostart`` or ``$HOME/.config/autostart``; ``icon`` is written when it exists."""
        base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or str(Path.home()), ".config")
        return cls(Path(base) / "autostart", icon if icon is not None and icon.exists() else None)

    def status(self) -> AutostartStatus:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AutostartStatus(False, None, self.location)
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
        enabled = (
            fields.get("Hidden", "false").strip() != "true"
            and fields.get("X-GNOME-Autostart-enabled", "true").strip() != "false"
        )
        return AutostartStatus(enabled, fields.get("Exec") if enabled else None, self.location)

    def enable(self, command: list[str]) -> AutostartStatus:
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            f"Name={APP_NAME}",
            "Comment=Avisos de entrada de miembros del torniquete",
            f"Exec={exec_line(command)}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
        ]
        workdir = source_dir()
        if workdir and len(command) > 1 and command[1:3] == ["-m", "agent"]:
            lines.append(f"Path={workdir}")
        if self.icon is not None:
            lines.append(f"Icon={self.icon}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        return self.status()

    def disable(self) -> AutostartStatus:
        self.path.unlink(missing_ok=True)
        return self.status()
