"""Single instance per user on Windows: a named mutex in the session namespace. Thin adapter.

``CreateMutexW`` with the name ``Local\\<name>-<user name>``: ``Local\\`` is per logon session
(Microsoft docs, "Kernel Object Namespaces"), so two users on one PC (fast user switching) each get their agent.
``GetLastError() == ERROR_ALREADY_EXISTS`` (183) after the call means another instance holds it. Windows closes
the handle when the process ends, even after a crash.
"""

from __future__ import annotations

import os
import sys

ERROR_ALREADY_EXISTS = 183


class NamedMutexInstance:
    """``acquire()`` → True when this is the only instance named ``name`` in this logon session."""

    def __init__(self, name: str) -> None:
        user = os.environ.get("USERNAME", "user")
        self.mutex_name = f"Local\\{name}-{user}"
        self._handle: int | None = None

    def acquire(self) -> bool:
        """Create or open the mutex; False when it already existed. Raises ``OSError`` when it cannot be made."""
        if sys.platform != "win32":
            raise OSError("named mutexes are a Windows feature; use the lock file elsewhere")
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateMutexW.argtypes = [wintypes.LPVOID, wintypes.BOOL, wintypes.LPCWSTR]
        kernel32.CreateMutexW.restype = wintypes.HANDLE
        kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
        ctypes.set_last_error(0)
        handle = kernel32.CreateMutexW(None, False, self.mutex_name)
        if not handle:
            raise ctypes.WinError(ctypes.get_last_error())
        if ctypes.get_last_error() == ERROR_ALREADY_EXISTS:
            kernel32.CloseHandle(handle)
            return False
        self._handle = int(handle)
        return True

    def release(self) -> None:
        """Close the handle (Windows also closes it at exit). Idempotent."""
        if self._handle is None or sys.platform != "win32":
            return
        import ctypes

        ctypes.WinDLL("kernel32").CloseHandle(self._handle)
        self._handle = None


def tell_user(text: str, title: str) -> None:
    """Say ``text`` in a message box when the process has no console (the windowed exe), so a second start
    double-clicked by staff is not silent. Does nothing off Windows or with a console."""
    if sys.platform != "win32":
        return
    import ctypes

    if ctypes.windll.kernel32.GetConsoleWindow():
        return
    mb_iconinformation, mb_setforeground = 0x40, 0x10000
    ctypes.windll.user32.MessageBoxW(None, text, title, mb_iconinformation | mb_setforeground)
