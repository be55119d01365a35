"""Telling the person that the agent could not start (issue 11 item 5): the reason goes to the log file first
(the caller logs it), then to stderr when there is one, and in a windowed build (no console: started by autostart)
to a native message box — ``MessageBoxW`` through ctypes on Windows — so the icon never just fails to appear.
Thin adapter; main thread; never raises.
"""

from __future__ import annotations

import contextlib
import logging
import sys

from agent import APP_NAME

log = logging.getLogger("agent.desk.fatal")

MB_OK_ICONERROR = 0x00000010


def tell(text: str, *, windowed: bool, title: str = APP_NAME) -> None:
    """Show ``text``: stderr, and a message box when ``windowed`` on Windows."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(text, file=sys.stderr, flush=True)
    if windowed and sys.platform == "win32":
        try:
            import ctypes

            ctypes.windll.user32.MessageBoxW(None, text, title, MB_OK_ICONERROR)
        except Exception:  # no GUI session: the log keeps the reason
            log.exception("could not show the message box")
