"""Windows autostart: a value in ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` (per user, no admin).

Source: Microsoft Learn, "Run and RunOnce Registry Keys": each value's data is a command line run at user logon;
data longer than 260 characters may not run. The value name is :data:`agent.APP_ID` (``AvisoEntradas``).
Startup entries the user disabled in Task Manager are recorded elsewhere (``...\\Explorer\\StartupApproved\\Run``);
this module reports only the Run value. Which thread: any, one call at a time.
"""

from __future__ import annotations

import subprocess
import sys

from agent import APP_ID
from agent.adapters.autostart_api import AutostartStatus

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = APP_ID
MAX_COMMAND_CHARS = 260

if sys.platform == "win32":
    import winreg

    class RegistryAutostart:
        """:class:`agent.adapters.autostart_api.Autostart` on the current user's Run key."""

        location = "HKCU\\" + RUN_KEY + "\\" + VALUE_NAME

        def status(self) -> AutostartStatus:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_QUERY_VALUE) as key:
                    value, _kind = winreg.QueryValueEx(key, VALUE_NAME)
            except FileNotFoundError:
                return AutostartStatus(False, None, self.location)
            return AutostartStatus(True, str(value), self.location)

        def enable(self, command: list[str]) -> AutostartStatus:
            line = subprocess.list2cmdline(command)
            if len(line) > MAX_COMMAND_CHARS:
                raise OSError(f"autostart command is {len(line)} characters; Windows runs at most {MAX_COMMAND_CHARS}")
            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.SetValueEx(key, VALUE_NAME, 0, winreg.REG_SZ, line)
            return self.status()

        def disable(self) -> AutostartStatus:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                    winreg.DeleteValue(key, VALUE_NAME)
            except FileNotFoundError:
                pass
            return self.status()
