"""Balloon notifier: the tray icon's own notification (Windows' notification-area balloon through pystray).

The fallback when desktop notifications fail (old Windows, a stripped build, Wine, a D-Bus daemon that went
away): it needs no AUMID and creates no second icon, unlike win10toast. Thin: it is given a
``show(title, body) -> bool`` callable (the tray view's ``balloon``) and does not import the tray. A balloon has
no urgency, sound choice or image; warnings are marked in the title. ``show`` is True when the tray call
succeeded (a backend without balloons, such as pystray's xorg, returns False).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.adapters.notifier_api import NotifierBase, plain_text
from agent.core.notify_text import Notice

log = logging.getLogger("agent.notify")

BALLOON_TITLE_MAX = 63
"""``NOTIFYICONDATAW.szInfoTitle`` holds 64 UTF-16 units, NUL included."""
BALLOON_TEXT_MAX = 255
"""``NOTIFYICONDATAW.szInfo`` holds 256 UTF-16 units, NUL included."""


def fit_utf16(text: str, units: int) -> str:
    """The longest prefix of ``text`` that fits in ``units`` UTF-16 code units, cut before a whole character
    (an emoji takes two units and is never split in half)."""
    if len(text.encode("utf-16-le")) <= units * 2:
        return text
    out, used = [], 0
    for ch in text:
        need = 2 if ord(ch) > 0xFFFF else 1
        if used + need > units:
            break
        out.append(ch)
        used += need
    return "".join(out)


class BalloonNotifier(NotifierBase):
    """Shows notices through ``show(title, body)``; a False return (no balloon support) is logged once."""

    name = "balloon"

    def __init__(self, show: Callable[[str, str], bool]) -> None:
        self._show_balloon = show
        self._warned = False

    def _show(self, notice: Notice) -> bool:
        """One balloon; a newer balloon replaces the previous one (the platform keeps only one)."""
        title = ("⚠ " if notice.warning else "") + plain_text(notice.title)
        ok = self._show_balloon(
            fit_utf16(title, BALLOON_TITLE_MAX), fit_utf16(plain_text(notice.body), BALLOON_TEXT_MAX)
        )
        if not ok and not self._warned:
            self._warned = True
            log.warning("the tray backend has no balloon notifications")
        return ok is True
