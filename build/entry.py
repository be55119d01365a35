"""PyInstaller entry point of ``agent.spec``: the CLI of :mod:`agent.cli`, made safe for a windowed executable.

A windowed (GUI-subsystem) Windows executable starts with no console, so ``sys.stdout``/``sys.stderr`` are None
when nothing was redirected (PyInstaller docs, "Using PyInstaller": ``--windowed``; Python docs, ``sys.__stdout__``
"may be None ... in Windows GUI apps"). For the command-line subcommands IT runs from ``cmd``/PowerShell
(``configure``, ``autostart``, ``listen``, ``--version``) we attach to the parent console (Win32
``AttachConsole(ATTACH_PARENT_PROCESS)``) and reopen the standard streams on it; redirected streams (pipes, files)
are used as they are; with neither (double-click, autostart) the streams go to ``os.devnull`` so stray writes
cannot crash the tray agent.

What this module cannot catch: a standard handle that is present but that CPython fails to open. CPython opens the
three streams in ``init_sys_streams`` (``Python/pylifecycle.c``) inside ``Py_InitializeFromConfig``, before
PyInstaller's bootstrap and before this module runs, and a failure there is a fatal error. Seen under Wine 8 when a
stream is a regular Unix file ("[WinError 6] Invalid handle"; the plain embeddable ``python.exe`` fails the same
way); pipes and ``NUL`` work. docs/troubleshooting.md "The exe under Wine" has the workaround (``build/wine.sh
run``).
"""

from __future__ import annotations

import os
import sys


def _attach_parent_console() -> bool:
    """Windows only: attach to the console of the process that started us; False when there is none."""
    if sys.platform != "win32":
        return False
    import ctypes

    attach_parent_process = -1
    return bool(ctypes.windll.kernel32.AttachConsole(attach_parent_process))


def _fix_stdio() -> None:
    missing = [name for name in ("stdin", "stdout", "stderr") if getattr(sys, name) is None]
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        # Redirected output on Windows uses the ANSI code page (cp1252), which cannot encode e.g. "✅" and would
        # raise UnicodeEncodeError in the middle of `listen > file`: write UTF-8 there instead.
        if stream is not None and sys.platform == "win32" and not stream.isatty():
            stream.reconfigure(encoding="utf-8", errors="replace")
    # Piped input (PowerShell 7 pipes UTF-8) is read as UTF-8 too, so a non-ASCII password survives.
    if sys.stdin is not None and sys.platform == "win32" and not sys.stdin.isatty():
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    if not missing:
        return
    attached = _attach_parent_console()
    for name in missing:
        if attached:
            path, mode = ("CONIN$", "r") if name == "stdin" else ("CONOUT$", "w")
        else:
            path, mode = os.devnull, ("r" if name == "stdin" else "w")
        try:
            stream = open(path, mode, encoding="utf-8", errors="replace")  # noqa: SIM115 - lives as long as the process
        except OSError:
            stream = open(os.devnull, mode, encoding="utf-8")  # noqa: SIM115
        if name != "stdin":
            stream.reconfigure(line_buffering=True)
        setattr(sys, name, stream)


if __name__ == "__main__":
    _fix_stdio()
    from agent.cli import main

    sys.exit(main())
